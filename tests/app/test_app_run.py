"""`edgevoice run` as a process, as systemd starts it: it refuses a bad config with 78 before
anything opens, runs with no GPIO and no audio device (one line each naming the fix), answers
`edgevoice ctl`, and stops cleanly on SIGTERM and SIGINT (exit 0: the control socket removed,
the state written)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

KEY = "AQ.app9-run-test-key-2d7e51"
HANG_GUARD = 30.0


def write_config(directory: Path, extra: str = "") -> Path:
    config = directory / "edgevoice.toml"
    config.write_text(
        f'[paths]\nstate_dir = "{directory}/state"\nruntime_dir = "{directory}/run"\n' + extra
    )
    return config


def edgevoice(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edgevoice", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_running(process: subprocess.Popen[str]) -> list[str]:
    """Lines up to "edgevoice is running" (a hang guard, not a measurement)."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + HANG_GUARD
    for line in process.stdout:
        lines.append(line)
        if "edgevoice is running" in line:
            return lines
        assert time.monotonic() < deadline, "".join(lines)
    raise AssertionError(f"exited before running:\n{''.join(lines)}")


def ctl(config: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgevoice", "ctl", "--config", str(config), *argv],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_daemon_runs_and_stops_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    config = write_config(tmp_path)
    process = edgevoice("run", "--config", str(config), env={"GEMINI_API_KEY": KEY})
    try:
        lines = wait_running(process)
        socket = tmp_path / "run" / "control.sock"
        assert socket.exists() and (socket.stat().st_mode & 0o777) == 0o660
        assert ctl(config, "mute").returncode == 0
        status = ctl(config, "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["muted"] is True
        process.send_signal(signum)
        rest, _ = process.communicate(timeout=HANG_GUARD)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "Traceback" not in output and KEY not in output
    # No GPIO on this machine: one warning line naming the fix, and the daemon ran on.
    gpio = [line for line in output.splitlines() if "GPIO" in line and "WARNING" in line]
    assert len(gpio) == 1 and "trigger.mode" in gpio[0]
    assert not socket.exists()  # removed at the stop
    saved = json.loads((tmp_path / "state" / "state.json").read_text())
    assert saved["muted"] is True  # written before the exit


def test_a_bad_config_exits_78_before_anything_opens(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[limits]\nmax_turn_s = 1\n")
    process = edgevoice("run", "--config", str(config), env={"GEMINI_API_KEY": KEY})
    out, _ = process.communicate(timeout=HANG_GUARD)
    assert process.returncode == 78, out
    assert "limits.max_turn_s" in out and "Traceback" not in out
    assert not (tmp_path / "run").exists() and not (tmp_path / "state").exists()


def test_no_key_exits_78(tmp_path: Path) -> None:
    process = edgevoice("run", "--config", str(write_config(tmp_path)))
    out, _ = process.communicate(timeout=HANG_GUARD)
    assert process.returncode == 78 and "no API key found" in out, out


def test_ctl_when_the_daemon_is_not_running(tmp_path: Path) -> None:
    result = ctl(write_config(tmp_path), "status")
    assert result.returncode == 69
    assert "not running" in result.stderr
