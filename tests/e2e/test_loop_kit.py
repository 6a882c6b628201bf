"""The loop kit's readers (tests/e2e/loopkit.py) on a real client's frames: `edgevoice probe`,
started with the daemon's setup (config, credential, environment), does one spoken turn
against the in-process simulator. What the kit decodes must match what the simulator itself
understood, and the SDK oracle must accept the frames (and refuse a broken one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from daemonkit import EDGEVOICE, DaemonSetup, run_command
from loopkit import (
    MIC_RATE,
    audio_outside_turns,
    check_frames_with_sdk,
    oracle,
    reply_audio,
    turns_of,
    wire,
)

from edgevoice.sim import SimOptions


async def test_the_kit_decodes_a_real_clients_turn_as_the_simulator_heard_it(
    tmp_path: Path, sim_factory: Any
) -> None:
    async with sim_factory(
        SimOptions(pace=0, api_keys=frozenset({"e2e-test-key-0123456789"}))
    ) as sim:
        setup = DaemonSetup.make(tmp_path, endpoint=sim.url, alsa_config=None)
        result = await run_command(
            [EDGEVOICE, "probe", "--config", str(setup.config_path), "--seconds", "1.0"],
            setup.env(),
            timeout_s=60,
        )
        assert result.returncode == 0, result  # the key came from the credential file
        await sim.wait_closed(1)
    (record,) = sim.connections
    items = wire(record)
    assert items[0].kind == "setup"
    (turn,) = turns_of(items)
    assert turn.ended
    assert abs(turn.seconds - 1.0) < 0.1, turn.seconds
    assert audio_outside_turns(items) == 0
    # What the simulator heard in that turn has the same length.
    assert sum(len(i.value) for i in items if i.kind == "audio") == len(turn.pcm)
    (reply, *_) = reply_audio(record)
    assert len(reply) > 0
    assert check_frames_with_sdk(sim) == len(record.received)
    assert len(turn.audio) == round(turn.seconds * MIC_RATE)


def test_the_oracle_refuses_a_frame_the_sdk_does_not_know() -> None:
    check = oracle()
    check('{"realtimeInput": {"activityStart": {}}}')
    with pytest.raises(Exception):  # noqa: B017 (pydantic's ValidationError or an assertion)
        check('{"realtimeInput": {"activityBegin": {}}}')
    with pytest.raises(AssertionError):
        check('{"realtime_input": {"activityStart": {}}}')
