"""`edgevoice demo` (the README's first command) as a person runs it: a process, in a fresh
directory, with no key, no sound card and no GPIO.

It must end by itself with exit 0, print each labelled part as it happens (state, what you did,
what the simulator heard, the reply, the speaker, the latency line, each timing labelled as
measured against the local simulator), and write a WAV holding the replies: each reply the
simulator sent (saved by `--save-replies`) is found in it by cross-correlation, with an
independent resampler (soxr); the interrupted one is found cut short. Nothing it started may
outlive it: not after a normal end, not after SIGINT, not even after SIGKILL (its children
die with it). The time bound is a hang guard only.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rtkit import SINK_RATE, align, envelope_db, read_wav_mono, require_tools, resample

EDGEVOICE = str(Path(sys.executable).with_name("edgevoice"))
HANG_GUARD_S = 240.0  # the demo takes about 30 s; this only stops a hung run
TAG = "[measured against the local simulator]"


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A short private directory (the demo's sockets must fit a Unix socket address, 107
    bytes; pytest's own tmp_path can be too deep for them)."""
    directory = Path(tempfile.mkdtemp(prefix="evdemo-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def demo_env(tmp_path: Path) -> dict[str, str]:
    """The caller's environment with TMPDIR in the test's directory, so everything the demo
    makes (its work dir, the sound server's socket) is findable by path."""
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "NOTIFY_SOCKET")}
    env["TMPDIR"] = str(tmp_path)
    return env


def processes_mentioning(text: str) -> list[str]:
    """Processes (other than this one) whose command line or environment holds `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline or text.encode() in environ:
            shown = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {shown}")
    return found


def wait_no_processes(tmp_path: Path, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (left := processes_mentioning(str(tmp_path))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], left


def start_demo(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [EDGEVOICE, "demo", *args],
        cwd=tmp_path,
        env=demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(process: subprocess.Popen[str], marker: str) -> str:
    assert process.stdout is not None
    seen = ""
    for line in process.stdout:
        seen += line
        if marker in line:
            return seen
    raise AssertionError(f"the demo ended before {marker!r}:\n{seen}{process.stderr.read()}")


def labelled(out: str, label: str, pattern: str) -> list[str]:
    """Output lines `+12.34s  LABEL  text` whose text matches `pattern`."""
    rx = re.compile(rf"^\s*\+\d+\.\d\ds\s+{label}\s+(.*)$")
    return [m[1] for line in out.splitlines() if (m := rx.match(line)) and re.search(pattern, m[1])]


def test_the_demo_runs_the_daemon_and_its_wav_holds_the_replies(tmp_path: Path) -> None:
    require_tools()
    wav, replies = tmp_path / "speaker.wav", tmp_path / "replies"
    done = subprocess.run(
        [EDGEVOICE, "demo", "--ci", "--wav", str(wav), "--save-replies", str(replies)],
        cwd=tmp_path,
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr

    # Each labelled part, as it happened.
    assert labelled(out, "you", r"^\$ edgevoice ctl press$")
    assert labelled(out, "you", r"^\$ edgevoice ctl release$")
    assert len(labelled(out, "you", r'^say "')) == 3
    states = labelled(out, "state", r"\S")  # STATUS= as the daemon sent it
    assert {"Idle", "Listening", "Speaking"} <= set(states), states
    assert labelled(out, "daemon", r"^ready: READY=1 \d+\.\d\d s after it started"), out
    for turn in (1, 2, 3):
        assert labelled(out, "heard", rf"^turn {turn}: \d+\.\d s of your audio .*transcript"), out
        assert labelled(
            out, "reply", rf"^turn {turn}: the first reply audio goes out {re.escape(TAG)}"
        )
        assert labelled(out, "speaker", rf"^turn {turn}: the reply plays$"), out
        latency = rf"^turn {turn}: .*reply after \d+ ms.* {re.escape(TAG)}$"
        assert labelled(out, "latency", latency), out
    assert labelled(out, "reply", rf"^turn 2: interrupted .*{re.escape(TAG)}$"), out
    assert labelled(out, "speaker", r"^turn 2: its reply is cut off"), out
    assert "Every timing below is measured against the local simulator" in out
    assert f"aplay {wav}" in out
    assert done.stderr.strip() == "", done.stderr

    # The WAV holds every reply the simulator sent, where the demo's timeline says, in order.
    recording, rate = read_wav_mono(wav)
    assert rate == SINK_RATE
    sent = sorted(replies.glob("reply-*.wav"))
    assert [p.name for p in sent] == ["reply-1.wav", "reply-2.wav", "reply-3.wav"]
    starts = []
    for path in sent:
        reply, reply_rate = read_wav_mono(path)
        assert reply_rate == 24000
        head = resample(reply[: reply_rate // 2], reply_rate, SINK_RATE)  # its first 0.5 s
        found = align(recording, head)
        assert found.correlation > 0.9, (path.name, found)
        assert -12.0 < found.gain_db < 0.0, (path.name, found)  # the volume: quieter, not louder
        starts.append(found.lag)
        if path.name != "reply-2.wav":  # complete replies are there whole
            whole = align(recording, resample(reply, reply_rate, SINK_RATE))
            assert whole.correlation > 0.9 and abs(whole.lag - found.lag) < 48, (path, whole)
    assert starts == sorted(starts)
    # The barge-in cut reply 2: the speaker fell silent before the end of what had been sent.
    reply2, _ = read_wav_mono(sent[1])
    window = recording[starts[1] : starts[2]]
    loud = envelope_db(window, SINK_RATE, 20.0) > -50.0
    played_s = (int(loud.nonzero()[0][-1]) + 1) * 0.02
    assert 0.5 < played_s < len(reply2) / 24000, (played_s, len(reply2) / 24000)

    # Nothing left running, nothing left behind but what it was asked to write.
    wait_no_processes(tmp_path, timeout_s=5.0)
    assert not list(tmp_path.glob("edgevoice-demo-*")), list(tmp_path.iterdir())


def test_sigint_stops_the_demo_and_everything_it_started(tmp_path: Path) -> None:
    require_tools()
    process = start_demo(tmp_path, "--ci")
    try:
        read_until(process, "--- turn 1")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "stopped by SIGINT" in err and "Traceback" not in err, err
    wait_no_processes(tmp_path, timeout_s=5.0)
    assert not list(tmp_path.glob("edgevoice-demo-*"))


def test_a_killed_demo_takes_its_children_with_it(tmp_path: Path) -> None:
    """SIGKILL runs no cleanup at all: the parent-death signal is what stops the sound server,
    the players, the recorder and the daemon."""
    require_tools()
    process = start_demo(tmp_path, "--ci")
    try:
        read_until(process, "--- turn 1")
        assert processes_mentioning(str(tmp_path))  # the server and the daemon run
        process.kill()
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    wait_no_processes(tmp_path, timeout_s=20.0)


def test_missing_tools_are_one_line_naming_the_fix(tmp_path: Path) -> None:
    env = demo_env(tmp_path) | {"PATH": str(tmp_path / "empty")}
    done = subprocess.run(
        [EDGEVOICE, "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 69, done
    (line,) = done.stderr.splitlines()
    assert "pulseaudio" in line and "espeak-ng" in line and "make deps" in line, line
    assert "apt-get install" in line


@pytest.mark.parametrize(
    ("args", "status", "words"),
    [
        (["--key-file", "/nonexistent"], 2, "--key-file goes with --endpoint"),
        (["--endpoint", "http://example.invalid"], 2, "ws:// or wss://"),
        (["--endpoint", "wss://example.invalid"], 78, "GEMINI_API_KEY"),
        (["--config", "/etc/edgevoice/edgevoice.toml"], 2, "--set"),
        (["--wav", "/nonexistent/speaker.wav"], 2, "no such directory"),
        (["--endpoint", "ws://127.0.0.1:9", "--save-replies", "r"], 2, "built-in simulator"),
    ],
)
def test_bad_options_are_one_line(tmp_path: Path, args: list[str], status: int, words: str) -> None:
    done = subprocess.run(
        [EDGEVOICE, "demo", *args],
        cwd=tmp_path,
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == status, done
    (line,) = done.stderr.splitlines()
    assert words in line, line
    assert not list(tmp_path.glob("edgevoice-demo-*"))


@pytest.mark.slow
def test_with_an_endpoint_and_a_key_it_talks_to_that_service_unchanged(tmp_path: Path) -> None:
    """`--endpoint` with $GEMINI_API_KEY: no built-in simulator; here the service is an
    `edgevoice simulator` process of the test's own that accepts that key and no other."""
    require_tools()
    key = "demo-test-key-4242424242"
    service = subprocess.Popen(
        [EDGEVOICE, "simulator", "--port", "0", "--api-key", key],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert service.stdout is not None
        url = service.stdout.readline().strip()
        assert url.startswith("ws://127.0.0.1:"), url
        done = subprocess.run(
            [EDGEVOICE, "demo", "--ci", "--endpoint", url],
            cwd=tmp_path,
            env=demo_env(tmp_path) | {"GEMINI_API_KEY": key},
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
        )
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(30)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert f"against the Live service at {url}" in out
    assert "local simulator" not in out
    assert not labelled(out, "sim", "."), out  # nothing from a simulator of its own
    tag = re.escape(f"[measured against {url}]")
    for turn in (1, 2, 3):
        assert labelled(out, "speaker", rf"^turn {turn}: the reply plays$"), out
        assert labelled(out, "latency", rf"^turn {turn}: .*reply after \d+ ms.* {tag}$"), out
        # What the service heard comes from the daemon's own transcript lines.
        assert labelled(out, "heard", rf'^turn {turn}: ".+"$'), out
    assert key not in out + done.stderr
    wait_no_processes(tmp_path, timeout_s=5.0)
