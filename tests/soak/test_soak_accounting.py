"""The soak's frame accounting and plan, on made-up wire records: each check fails on the
fault it is there for (a frame lost, doubled, a resend that differs, a turn missing)."""

from __future__ import annotations

import os

from edgevoice.soak.accounting import (
    FRAME_BYTES,
    DaemonTurn,
    WireRead,
    WireTurn,
    check_frames,
    delivered,
)
from edgevoice.soak.plan import FaultKind, Plan


def frames(n: int) -> bytes:
    return os.urandom(n * FRAME_BYTES)  # noise: no two turns start alike


def read(*turns: WireTurn) -> WireRead:
    return WireRead(turns=list(turns))


def test_every_frame_once_passes_and_a_resend_is_counted_once() -> None:
    first, second = frames(50), frames(80)
    wire = read(
        WireTurn(1, first, True),
        WireTurn(1, second[: 30 * FRAME_BYTES], False),  # cut by a drop ...
        WireTurn(2, second, True),  # ... and sent again whole on the next connection
    )
    check = check_frames([DaemonTurn((1,), 50), DaemonTurn((2,), 80)], wire)
    assert check.ok and check.mismatches == []
    assert (check.wire_frames, check.resent_turns, check.resent_frames) == (130, 1, 30)


def test_a_lost_frame_fails_and_says_which_turn() -> None:
    audio = frames(60)
    wire = read(WireTurn(1, audio[FRAME_BYTES:], True))
    check = check_frames([DaemonTurn((1,), 60)], wire)
    assert not check.ok and check.lost == 1
    assert check.mismatches == [
        "turn 1: the daemon put 60 frames in it; the simulator received 59 (connection 1)"
    ]


def test_a_doubled_frame_fails() -> None:
    audio = frames(60)
    wire = read(WireTurn(3, audio + audio[-FRAME_BYTES:], True))
    check = check_frames([DaemonTurn((4,), 60)], wire)
    assert not check.ok and check.duplicated == 1


def test_a_resend_that_is_not_the_same_audio_is_not_taken_for_one() -> None:
    # The last turn of connection 1 does not start the next connection's turn: two turns on
    # the wire for one the daemon counted.
    wire = read(WireTurn(1, frames(10), False), WireTurn(2, frames(40), True))
    final, resent = delivered(wire.turns)
    assert (len(final), resent) == (2, [])
    check = check_frames([DaemonTurn((1,), 40)], wire)
    assert not check.ok
    assert "the daemon began 1 turns; the simulator received 2" in check.mismatches


def test_a_turn_missing_on_the_wire_fails() -> None:
    check = check_frames(
        [DaemonTurn((1,), 20), DaemonTurn((2,), 30)], read(WireTurn(1, frames(20), True))
    )
    assert not check.ok
    assert "turn 2 (30 frames): not on the wire" in check.mismatches


def test_audio_outside_a_turn_or_a_trimmed_record_fails() -> None:
    wire = WireRead(
        [WireTurn(1, frames(5), True)], ["connection 1: 640 bytes of audio outside a turn"]
    )
    assert not check_frames([DaemonTurn((1,), 5)], wire).ok
    trimmed = WireRead([WireTurn(1, frames(5), True)], frames_dropped_from_record=3)
    assert not check_frames([DaemonTurn((1,), 5)], trimmed).ok


def test_the_same_seed_plans_the_same_run_and_another_seed_does_not() -> None:
    def steps(seed: int) -> list[object]:
        plan = Plan(seed, phrases=6)
        return [plan.step() for _ in range(40)]

    assert steps(11) == steps(11)
    assert steps(11) != steps(12)
    kinds = {s.fault for s in steps(11) + steps(12) + steps(13)}
    assert len(kinds - {None}) >= 6  # the faults are drawn from the whole list
    only = Plan(3, fault_rate=1.0, faults={FaultKind.MIC: 1})
    assert {only.step().fault for _ in range(10)} == {FaultKind.MIC}
