"""`edgevoice status` against a real control socket server (the daemon's own ControlServer), and
"not running" with the unit's state and last log line."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from edgevoice.adapters.control_socket import ControlServer, socket_path
from edgevoice.commands.status import EX_NOT_RUNNING, show_status, summarize
from edgevoice.control_protocol import Request, Status

# What the daemon's status handler answers (the shape of app/conversation.py's status()).
STATUS = {
    "state": "listening",
    "muted": False,
    "connected": True,
    "connection_age_s": 12.5,
    "model": "gemini-3.8-live",
    "resumable": True,
    "volume": 80,
    "needs_attention": None,
    "last_error": {"message": "Live session closed with code 1011: internal", "class": "transient"},
    "counters": {"turns": 4, "connections": 2},
    "today": {"audio_sent_s": 42.5, "audio_cap_s": 3600, "tokens": 1234, "turns": 4},
    "latency": {"turns": 4, "p50_ms": 420, "p90_ms": 800, "max_ms": 950},
}


def no_systemd(argv: Sequence[str]) -> tuple[int, str] | None:
    return None


def scripted(show: str, journal: str) -> object:
    """systemctl and journalctl as they answer on a device (systemd is not PID 1 here)."""

    def run(argv: Sequence[str]) -> tuple[int, str] | None:
        if argv[0] == "systemctl":
            return 0, show
        if argv[0] == "journalctl":
            return 0, journal
        return None

    return run


def short_path(tmp_path: Path) -> Path:
    path = socket_path(tmp_path / "run")
    assert len(os.fsencode(path)) < 108
    return path


async def serve_status(path: Path, data: Mapping[str, object]) -> ControlServer:
    async def handler(request: Request) -> Mapping[str, object] | None:
        assert isinstance(request, Status)
        return data

    return ControlServer(path, handler)  # type: ignore[arg-type]


async def status_of(path: Path, **kw: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = await asyncio.to_thread(show_status, path, out=out, err=err, **kw)  # type: ignore[arg-type]
    return status, out.getvalue(), err.getvalue()


async def test_running_daemon_summed_up_for_a_person(tmp_path: Path) -> None:
    path = short_path(tmp_path)
    async with await serve_status(path, STATUS):
        status, out, _ = await status_of(path, runner=no_systemd)
    lines = out.splitlines()
    assert status == 0
    assert lines[0] == "edgevoice is running: listening"
    assert "connection: connected for 12.5 s, model gemini-3.8-live, " in lines[1]
    assert "resumed" in lines[1]
    assert "last error: Live session closed with code 1011: internal (transient)" in lines
    assert "today: 42.5 s of speech sent (daily cap 60 min), 4 turns, 1234 tokens" in lines
    assert "reply latency: median 420 ms, 90% within 800 ms, longest 950 ms over 4 turns" in lines
    assert "volume: 80" in lines  # the other fields, as `ctl status` shows them
    assert "counters:" in lines and "  turns: 4" in lines


async def test_needs_attention_and_muted(tmp_path: Path) -> None:
    path = short_path(tmp_path)
    data = {
        **STATUS,
        "state": "error",
        "muted": True,
        "needs_attention": {
            "headline": "API key refused",
            "error": "1007 API key not valid",
            "fix": "store a valid key, then systemctl reload edgevoice",
        },
    }
    async with await serve_status(path, data):
        status, out, _ = await status_of(path, runner=no_systemd)
    lines = out.splitlines()
    assert status == 0
    assert lines[0] == "edgevoice is running: needs attention (muted: nothing leaves the device)"
    assert lines[1] == (
        "needs attention: API key refused (1007 API key not valid). "
        "Fix: store a valid key, then systemctl reload edgevoice"
    )


async def test_hostile_fields_stay_on_their_lines(tmp_path: Path) -> None:
    path = short_path(tmp_path)
    data = {"state": "idle\n\x1b[2Jforged", "odd\nkey": "v\x1b[31m", "model": "m\u202eodel"}
    async with await serve_status(path, data):
        status, out, _ = await status_of(path, runner=no_systemd)
    assert status == 0
    assert "\x1b" not in out and "\u202e" not in out
    assert out.splitlines()[0] == "edgevoice is running: idle\\x0a\\x1b[2Jforged"
    assert len(out.splitlines()) == 3


async def test_the_service_state_is_shown_when_systemd_answers(tmp_path: Path) -> None:
    path = short_path(tmp_path)
    show = "LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n"
    async with await serve_status(path, STATUS):
        status, out, _ = await status_of(path, runner=scripted(show, ""))
    assert status == 0
    assert out.splitlines()[-1] == "service: active (running), enabled"


def test_not_running_shows_the_unit_and_its_last_log_line(tmp_path: Path) -> None:
    show = (
        "LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=exit-code\n"
        "ExecMainStatus=78\nUnitFileState=enabled\n"
    )
    journal = (
        "2026-11-29T10:00:00+0000 pi edgevoice[42]: edgevoice: config error: audio.volum: "
        "unknown key\x1b[31m\n"
    )
    out = io.StringIO()
    status = show_status(short_path(tmp_path), runner=scripted(show, journal), out=out)  # type: ignore[arg-type]
    lines = out.getvalue().splitlines()
    assert status == EX_NOT_RUNNING == 3
    assert lines[0].startswith("edgevoice is not running (no control socket at ")
    assert lines[1] == "service: failed (failed), result exit-code (exit status 78), enabled"
    assert lines[2].startswith("last log line: 2026-11-29T10:00:00+0000 pi edgevoice[42]:")
    assert lines[2].endswith("unknown key\\x1b[31m")


def test_not_running_without_a_journal_here(tmp_path: Path) -> None:
    """The real systemctl and journalctl of this machine: nothing to show, said plainly."""
    out = io.StringIO()
    status = show_status(short_path(tmp_path), out=out)
    assert status == EX_NOT_RUNNING
    assert "not running" in out.getvalue()
    assert "last log line:" in out.getvalue()


def test_a_stale_socket_is_not_running(tmp_path: Path) -> None:
    path = short_path(tmp_path)
    path.parent.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays; nobody listens
    out = io.StringIO()
    assert show_status(path, runner=no_systemd, out=out) == EX_NOT_RUNNING
    assert "nothing listens" in out.getvalue()


def test_a_daemon_that_does_not_answer(tmp_path: Path) -> None:
    path = short_path(tmp_path)
    path.parent.mkdir(parents=True)
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(path))
    mute.listen(1)
    try:
        out, err = io.StringIO(), io.StringIO()
        status = show_status(path, timeout=0.5, runner=no_systemd, out=out, err=err)
    finally:
        mute.close()
    assert status == 75
    assert "did not answer" in err.getvalue()
    assert len(err.getvalue().splitlines()) == 1


def test_summarize_tolerates_missing_and_odd_fields() -> None:
    assert summarize({}) == ["edgevoice is running"]
    lines = summarize({"state": 7, "today": "lots", "latency": {"p50_ms": None}, "extra": 1})
    assert lines == ["edgevoice is running", "extra: 1"]


async def test_status_command_finds_the_socket_from_the_config(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    path = short_path(tmp_path)
    async with await serve_status(path, STATUS):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edgevoice", "status", "--config", "/dev/null",
            "--set", f"paths.runtime_dir={runtime}",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert out.decode().splitlines()[0] == "edgevoice is running: listening"


def test_status_command_not_running_and_bad_config(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "edgevoice", "status", "--config", "/dev/null",
         "--set", f"paths.runtime_dir={runtime}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 3
    assert done.stdout.startswith("edgevoice is not running (no control socket at ")
    done = subprocess.run(
        [sys.executable, "-m", "edgevoice", "status", "--config", "/dev/null",
         "--set", "paths.runtime_dir=relative"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 78
    assert "paths.runtime_dir" in done.stderr
