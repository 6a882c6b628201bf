"""`edgevoice ctl` against a real ControlServer with a small in-test handler."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgevoice.adapters.control_socket import ControlServer, socket_path
from edgevoice.cli import main
from edgevoice.commands.ctl import render
from edgevoice.control_protocol import (
    Cancel,
    Mute,
    Press,
    Release,
    Say,
    Status,
    Toggle,
    Unmute,
    Volume,
)

from .conftest import HANG_GUARD, RecordingHandler


@dataclass
class Ran:
    status: int
    out: str
    err: str


@pytest.fixture
def config_file(tmp_path: Path, sock_path: Path) -> Path:
    """A config whose paths.runtime_dir holds the test server's socket."""
    assert sock_path == socket_path(sock_path.parent)
    path = tmp_path / "edgevoice.toml"
    path.write_text(f'[paths]\nruntime_dir = "{sock_path.parent}"\n')
    return path


async def ctl(capsys: pytest.CaptureFixture[str], *argv: str) -> Ran:
    """`edgevoice ctl ...` in a thread (it blocks on the socket; the server runs on the loop)."""
    capsys.readouterr()
    async with asyncio.timeout(HANG_GUARD):
        status = await asyncio.to_thread(main, ["ctl", *argv])
    captured = capsys.readouterr()
    return Ran(status, captured.out, captured.err)


@pytest.mark.parametrize(
    ("argv", "request_seen"),
    [
        (["press"], Press()),
        (["release"], Release()),
        (["toggle"], Toggle()),
        (["cancel"], Cancel()),
        (["mute"], Mute()),
        (["unmute"], Unmute()),
        (["say", "what", "time", "is", "it?"], Say("what time is it?")),
        (["volume", "35"], Volume(35)),
        (["status"], Status()),
    ],
)
async def test_each_request_reaches_the_daemon(
    server: ControlServer,
    handler: RecordingHandler,
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    request_seen: object,
) -> None:
    ran = await ctl(capsys, "--config", str(config_file), *argv)
    assert (ran.status, ran.err) == (0, "")
    assert handler.seen == [request_seen]


async def test_the_socket_is_found_through_set_or_given_directly(
    server: ControlServer, handler: RecordingHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = str(server.path.parent)
    assert (await ctl(capsys, "--set", f"paths.runtime_dir={runtime}", "mute")).status == 0
    assert (await ctl(capsys, "--socket", str(server.path), "unmute")).status == 0
    # Common options after the request work as well.
    assert (await ctl(capsys, "toggle", "--set", f"paths.runtime_dir={runtime}")).status == 0
    assert handler.seen == [Mute(), Unmute(), Toggle()]


async def test_status_for_people_and_for_scripts(
    server: ControlServer, handler: RecordingHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    handler.muted = True
    human = await ctl(capsys, "--socket", str(server.path), "status")
    assert human.status == 0
    assert human.out.splitlines() == ["state: idle", "muted: yes", "volume: 50"]
    scripted = await ctl(capsys, "--socket", str(server.path), "status", "--json")
    assert scripted.status == 0
    assert json.loads(scripted.out) == {"state": "idle", "muted": True, "volume": 50}


def test_status_rendering_of_a_full_daemon_status() -> None:
    status = {
        "state": "speaking",
        "muted": False,
        "connection_age_s": 12.5,
        "resumable": True,
        "last_error": {"class": "transient", "message": "1011 \x1b[2J internal"},
        "counters": {"turns": 3, "dropped_capture_frames": 0},
        "latency_ms": {"p50": 120, "p90": 310.5},
        "audio_sent_today_s": [1, 2.5],
        "nothing": None,
        "empty": {},
    }
    assert render(status) == [
        "state: speaking",
        "muted: no",
        "connection age: 12.5 s",
        "resumable: yes",
        "last error:",
        "  class: transient",
        "  message: 1011 \\x1b[2J internal",
        "counters:",
        "  turns: 3",
        "  dropped capture frames: 0",
        "latency:",
        "  p50: 120 ms",
        "  p90: 310.5 ms",
        "audio sent today: 1 s, 2.5 s",
        "nothing: none",
        "empty: none",
    ]


async def test_a_refusal_is_one_line_and_status_1(
    server: ControlServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = await ctl(capsys, "--socket", str(server.path), "volume", "95")
    assert ran.status == 1
    assert ran.err == "edgevoice ctl: volume above 90 % is locked by the operator\n"
    assert ran.out == ""


async def test_a_daemon_bug_is_reported_without_its_details(
    server: ControlServer, handler: RecordingHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    handler.muted = True  # the handler raises RuntimeError on cancel while muted
    ran = await ctl(capsys, "--socket", str(server.path), "cancel")
    assert ran.status == 1
    assert ran.err == "edgevoice ctl: internal error; see the journal\n"


async def test_not_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ran = await ctl(capsys, "--set", f"paths.runtime_dir={tmp_path}", "press")
    assert ran.status == 69
    assert ran.err == (
        f"edgevoice ctl: edgevoice is not running (no control socket at "
        f"{tmp_path / 'control.sock'})\n"
    )


async def test_no_answer_in_time(
    sock_path: Path, handler: RecordingHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    handler.gate = asyncio.Event()  # the daemon never answers
    async with ControlServer(sock_path, handler, handler_timeout_s=HANG_GUARD):
        ran = await ctl(capsys, "--socket", str(sock_path), "--timeout", "0.3", "status")
        handler.gate.set()
    assert ran.status == 75
    assert ran.err.startswith("edgevoice ctl: edgevoice did not answer within 0.3 s")


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["volume", "150"], "percent must be a whole number 0-100, got 150"),
        (["say", " "], "text is empty"),
        (["say", "x" * 2001], "at most 2000"),
        (["say", "bell\x07"], "control character"),
    ],
)
async def test_bad_values_are_refused_before_anything_is_sent(
    server: ControlServer,
    handler: RecordingHandler,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    problem: str,
) -> None:
    ran = await ctl(capsys, "--socket", str(server.path), *argv)
    assert ran.status == 2
    assert problem in ran.err and ran.err.count("\n") == 1
    assert "\x07" not in ran.err
    assert handler.seen == []


@pytest.mark.parametrize(
    "argv", [["volume", "loud"], ["say"], ["reboot"], [], ["--timeout", "0", "status"]]
)
async def test_bad_command_lines_are_usage_errors(
    server: ControlServer, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["ctl", "--socket", str(server.path), *argv])
    assert exited.value.code == 2


async def test_say_reads_stdin_with_a_dash(
    server: ControlServer,
    handler: RecordingHandler,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("turn the lights off\n"))
    ran = await ctl(capsys, "--socket", str(server.path), "say", "-")
    assert ran.status == 0
    assert handler.seen == [Say("turn the lights off")]


async def test_a_bad_config_is_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[paths]\nruntime_dir = 5\n")
    ran = await ctl(capsys, "--config", str(bad), "status")
    assert ran.status == 78
    assert "paths.runtime_dir" in ran.err


async def test_the_installed_command_as_a_process(
    server: ControlServer, handler: RecordingHandler, config_file: Path
) -> None:
    """The console script, as a person or a home-automation system runs it; it imports no
    audio, network or simulator module on the way."""
    code = (
        "import sys\n"
        "from edgevoice.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "heavy = [m for m in ('numpy', 'pyaudio', 'websockets', 'gpiozero', 'edgevoice.sim')\n"
        "         if m in sys.modules]\n"
        "print('imported:', heavy, file=sys.stderr)\n"
        "sys.exit(status)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "EDGEVOICE_CONFIG"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, "ctl", "--config", str(config_file), "say", "hello there",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    async with asyncio.timeout(HANG_GUARD * 3):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert err.decode().splitlines()[-1] == "imported: []"
    assert handler.seen == [Say("hello there")]

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edgevoice", "ctl", "--config", str(config_file), "status", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    async with asyncio.timeout(HANG_GUARD * 3):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert json.loads(out)["state"] == "idle"


def test_permission_denied_is_77(tmp_path: Path) -> None:
    """`edgevoice ctl` run as a user outside the socket's group (a forked child as nobody)."""
    import socket

    if os.geteuid() != 0:
        pytest.skip("needs root to switch to another user")
    os.chmod(tmp_path, 0o755)
    path = tmp_path / "control.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o660)
    listener.listen(1)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 99
        try:
            os.dup2(write_end, 2)  # the child's stderr is the pipe
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            sys.stderr = os.fdopen(2, "w", closefd=False)
            status = main(["ctl", "--socket", str(path), "status"])
            sys.stderr.flush()
        finally:
            os._exit(status)
    os.close(write_end)
    _, wait_status = os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        err = pipe.read().decode()
    listener.close()
    assert os.waitstatus_to_exitcode(wait_status) == 77
    assert err.startswith(f"edgevoice ctl: permission denied on {path}: ")
