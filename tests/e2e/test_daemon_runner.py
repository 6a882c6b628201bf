"""The daemon process runner (tests/e2e/daemonkit.py) starts `edgevoice run` as systemd would.

What the runner itself must get right: the config and credential it writes are ones the
product accepts, the environment is systemd's (no INVOCATION_ID, the key only as a
credential), a daemon that dies early is reported with its exit status and log, and a daemon
that runs is stopped by SIGTERM and must exit 0.
"""

from __future__ import annotations

import asyncio
import stat
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from daemonkit import EDGEVOICE, DaemonError, Daemons, DaemonSetup, run_command, toml_text
from rtkit import RtAudio

from edgevoice.sim import SimOptions

needs_daemon = pytest.mark.usefixtures("needs_daemon")


def test_toml_text_round_trips_through_the_toml_parser() -> None:
    settings = {
        "live": {"endpoint": 'ws://127.0.0.1:1/"x"', "tools": ["get_time", "mute"], "n": 1.5},
        "trigger": {"mode": "voice", "flag": True},
        "tools": {"command": [{"name": "lamp", "argv": ["/bin/true"], "timeout_s": 2}]},
    }
    assert tomllib.loads(toml_text(settings)) == settings


async def test_the_setup_is_one_check_config_accepts(tmp_path: Path) -> None:
    setup = DaemonSetup.make(tmp_path, endpoint="ws://127.0.0.1:9", alsa_config=None)
    result = await run_command(
        [EDGEVOICE, "check-config", "--config", str(setup.config_path)], setup.env()
    )
    assert result.returncode == 0, result
    key = setup.credentials_dir / "gemini-api-key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    env = setup.env()
    assert "INVOCATION_ID" not in env and "JOURNAL_STREAM" not in env
    assert setup.key not in "".join(env.values())  # the key only in the credential file
    assert "GEMINI_API_KEY" not in env


async def test_a_daemon_that_cannot_start_is_reported_with_its_status_and_log(
    tmp_path: Path, daemons: Daemons
) -> None:
    setup = DaemonSetup.make(
        tmp_path,
        endpoint="ws://127.0.0.1:9",
        alsa_config=None,
        settings={"audio": {"volume": 1000}},
    )
    daemon = await daemons.start(setup)
    with pytest.raises(DaemonError, match=r"exited with 78 before it was ready") as info:
        await daemon.wait_ready(timeout_s=20)
    assert "audio.volume" in str(info.value)  # the daemon's own log line is in the report
    daemon.assert_no_traceback()


@needs_daemon
async def test_the_daemon_runs_answers_its_socket_and_stops_cleanly_on_sigterm(
    tmp_path: Path, rt_audio: RtAudio, daemons: Daemons, sim_factory
) -> None:
    async with sim_factory(SimOptions(pace=1.0)) as sim:
        setup = DaemonSetup.make(tmp_path, endpoint=sim.url, alsa_config=rt_audio.alsa_config)
        daemon = await daemons.start(setup)
        status = await daemon.wait_ready()
        assert status.get("ok", True)
        socket = setup.socket_path
        assert stat.S_ISSOCK(socket.stat().st_mode)
        assert stat.S_IMODE(socket.stat().st_mode) == 0o660
        # Nothing was said: nothing left the device (design-9: nothing before a trigger).
        assert sim.connections == []
        await daemon.stop()


@needs_daemon
@pytest.mark.slow
async def test_sigterm_while_the_device_answers_stops_cleanly(loop_factory: Any) -> None:
    """systemctl stop in the middle of an answer: exit 0, the Live connection closed with 1000
    by the device, the speaker quiet at once."""
    loop = await loop_factory(sim=SimOptions(pace=1.0))
    await loop.ctl("press")
    playing = loop.rt.speak("Tell me a long story about the sea, please.")
    await playing.finished()
    await loop.ctl("release")
    speaking = await loop.speaker.wait_level(loud=True, after=playing.sound_ends)
    await asyncio.sleep(max(0.0, speaking + 0.5 - time.monotonic()))
    await loop.daemon.stop()  # asserts exit 0 and no traceback
    closed = await loop.sim.wait_closed(1, timeout_s=5)
    assert closed.code == 1000 and closed.closed_by == "client", closed
    stopped = time.monotonic()
    await loop.speaker.wait_level(loud=False, after=stopped, hold_s=1.0, timeout_s=10)
