"""The rig's own pieces (edgevoice/rig) that the whole-loop tests and the demo stand on:

- every child it starts is stopped with its whole process group, by `stop_process`, by the
  exit hook, and (when the rig is killed outright) by the parent-death signal;
- its notify socket reads what the product's own notifier sends (READY=1, STATUS=, STOPPING=1);
- the demo reads the daemon's log lines as the daemon's own formatter writes them;
- a missing tool is one line naming the fix; a deep $TMPDIR does not break the demo's sockets.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from edgevoice.adapters.systemd_notify import SystemdNotifier
from edgevoice.app.log_setup import HumanFormatter
from edgevoice.rig import processes
from edgevoice.rig.demo import SOCKET_PATH_LIMIT, SOCKET_SUFFIX, make_workdir
from edgevoice.rig.demo_screen import DaemonLines, Screen, parse_daemon_line
from edgevoice.rig.host import INSTALL_HINT, ToolsMissing
from edgevoice.rig.notify import NotifyListener


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pids: list[int], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in pids if alive(p)] == []


def test_stop_process_stops_the_whole_group() -> None:
    process = processes.spawn(["sh", "-c", "sleep 60 & echo $!; wait"], stdout=subprocess.PIPE)
    assert process.stdout is not None
    grandchild = int(process.stdout.readline())
    assert alive(grandchild) and process.pid in processes.running_children()
    processes.stop_process(process)
    process.stdout.close()
    wait_gone([process.pid, grandchild])
    assert process.pid not in processes.running_children()


def test_stop_all_stops_every_child_still_registered() -> None:
    """In a process of its own: here it would stop the session's sound server too."""
    script = textwrap.dedent(
        """
        from edgevoice.rig import processes
        children = [processes.spawn(["sleep", "60"]) for _ in range(2)]
        processes.stop_all()
        print([c.returncode for c in children], processes.running_children())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "[-15, -15] []", done


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_children_do_not_outlive_the_rig(tmp_path: Path, how: str) -> None:
    """A rig process that exits (the atexit hook) or is SIGKILLed (no Python runs at all: the
    parent-death signal) leaves no child behind."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys, time
        from edgevoice.rig import processes
        child = processes.spawn(["sleep", "600"])
        # setpriv sets the signal, then becomes `sleep`: wait for that (a rig killed in the
        # instant between the two would leave this child behind).
        while open(f"/proc/{{child.pid}}/comm").read().strip() != "sleep":
            time.sleep(0.01)
        print(child.pid, flush=True)
        if {how!r} == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        sys.exit(0)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    child = int(done.stdout.split()[0])
    wait_gone([child])


async def test_the_notify_socket_reads_what_the_daemons_notifier_sends(tmp_path: Path) -> None:
    seen = []
    listener = NotifyListener(tmp_path / "notify", on_notification=seen.append)
    await listener.open()
    try:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
        notifier.ready("Idle: press the button or speak")
        notifier.status("Listening")
        notifier.stopping()
        notifier.close()
        stopping = await listener.wait_for(lambda n: n.fields.get("STOPPING") == "1", 10)
    finally:
        listener.close()
    assert seen[0].fields["READY"] == "1"
    assert listener.statuses() == ["Idle: press the button or speak", "Listening"]
    assert stopping is seen[-1]
    assert not (tmp_path / "notify").exists()


def formatted(message: str, level: int = logging.INFO, **fields: object) -> str:
    """A log line exactly as the daemon writes it on stderr (its own formatter)."""
    record = logging.LogRecord("edgevoice.turns", level, __file__, 1, message, None, None)
    for name, value in fields.items():
        setattr(record, name, value)
    return HumanFormatter().format(record)


def test_the_demo_reads_the_daemons_log_lines_as_its_formatter_writes_them() -> None:
    line = formatted(
        "turn 3: button, 2.4 s of speech, reply after 640 ms, 3.1 s long, answered",
        TURN_ID=3,
        LATENCY_MS=640,
    )
    parsed = parse_daemon_line(line)
    assert parsed is not None and parsed.level == "INFO" and parsed.logger == "edgevoice.turns"
    assert parsed.message == (
        "turn 3: button, 2.4 s of speech, reply after 640 ms, 3.1 s long, answered"
    )
    assert parse_daemon_line("Cannot connect to server socket err = No such file") is None

    out = _Sink()
    screen = Screen(out, ci=True)  # type: ignore[arg-type]
    lines = DaemonLines(screen, "[measured against the local simulator]", transcripts=True)
    lines(line)
    lines(formatted("turn 3 heard: what time is it\x1b[2J", logging.DEBUG, TURN_ID=3))
    lines(formatted("connection lost: 1011; the next turn reconnects", logging.WARNING))
    assert lines.summaries == {3: parsed.message}
    text = "".join(out.parts)
    assert "latency  turn 3: button" in text and text.count("[measured against") == 1
    assert 'heard    turn 3: "what time is it\\x1b[2J"' in text  # escaped, never raw
    assert lines.problems == ["WARNING connection lost: 1011; the next turn reconnects"]


class _Sink:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_missing_tools_are_one_line_naming_the_fix() -> None:
    error = ToolsMissing(["pulseaudio", "espeak-ng"])
    assert str(error) == f"real-time audio devices need pulseaudio, espeak-ng: {INSTALL_HINT}"
    assert "make deps" in INSTALL_HINT and "apt-get install" in INSTALL_HINT
    assert "\n" not in str(error)


def test_a_deep_tmpdir_moves_the_work_dir_to_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    deep = Path(tempfile.mkdtemp(prefix="evdeep-", dir="/tmp")) / ("d" * 90)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    try:
        workdir = make_workdir()
        assert workdir.parent == Path("/tmp"), workdir
        assert len(str(workdir / SOCKET_SUFFIX).encode()) <= SOCKET_PATH_LIMIT
        assert not list(deep.iterdir())  # the first try was removed
        workdir.rmdir()
    finally:
        os.rmdir(deep)
        os.rmdir(deep.parent)
