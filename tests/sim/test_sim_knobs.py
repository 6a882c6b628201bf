"""The knobs client tests lean on: late transcription, proactive silence, interactionStatus,
the `aborted` fault, `lifetime_close`, and the real default lifetime on virtual time."""

from __future__ import annotations

import time
from typing import Any

import pytest
from simkit import (
    MODEL_25,
    MODEL_31,
    MODEL_38,
    MODEL_38T,
    ask,
    client,
    interaction_status,
    is_turn_complete,
    kinds,
    output_text,
    session,
    setup,
    tone,
)

from edgevoice.sim import Fault, SimOptions, VirtualClock

ABORTED = (1008, "The operation was aborted.")
DEADLINE = (1011, "Deadline expired before operation could complete.")


async def test_late_transcription_sends_the_last_piece_after_turn_complete(
    sim_factory: Any,
) -> None:
    async with (
        sim_factory(SimOptions(pace=0, late_transcription=True)) as sim,
        session(sim, setup(MODEL_38, resumption={})) as c,
    ):
        await ask(c)
        answer = await c.turn()
        after = await c.recv_until(lambda m: "sessionResumptionUpdate" in m)
    assert output_text(answer) == "Parrot turn 1: I heard 0.3 s of"
    assert after[0] == {"serverContent": {"outputTranscription": {"text": " audio."}}}
    assert after[-1]["sessionResumptionUpdate"]["resumable"] is True


async def test_without_the_knob_every_piece_comes_before_turn_complete(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim, setup(MODEL_38, resumption={})) as c:
        await ask(c)
        answer = await c.turn()
        after = await c.recv()
    assert output_text(answer) == "Parrot turn 1: I heard 0.3 s of audio."
    assert "sessionResumptionUpdate" in after


async def test_silent_turn_every_answers_with_turn_complete_only(sim_factory: Any) -> None:
    # Section 4.2 / 9: 3.8's proactive audio may choose silence; the turn still completes.
    async with (
        sim_factory(SimOptions(pace=0, silent_turn_every=2)) as sim,
        session(sim, setup(MODEL_38)) as c,
    ):
        await ask(c)
        spoken = await c.turn()
        await ask(c)
        silent = await c.turn()
        await ask(c)
        spoken_again = await c.turn()
    assert "audio" in kinds(spoken) and "audio" in kinds(spoken_again)
    assert [k for k in kinds(silent) if k != "usageMetadata"] == [
        "inputTranscription",
        "serverContent{}",
        "turnComplete",
        "interactionStatus",
    ]
    assert output_text(spoken_again).startswith("Parrot turn 3:")
    assert [e.turn for e in sim.events if e.kind == "turn"] == [1, 2, 3]


@pytest.mark.parametrize(
    ("model", "extra", "path", "silent"),
    [
        (MODEL_38T, {}, "v1beta", True),
        (MODEL_25, {"proactivity": {"proactiveAudio": True}}, "v1alpha", True),
        (MODEL_25, {}, "v1alpha", False),
        (MODEL_31, {}, "v1beta", False),
    ],
    ids=["3.8 extended thinking", "2.5 with proactive audio", "2.5 without", "3.1"],
)
async def test_silence_only_where_proactive_audio_is_on(
    sim_factory: Any, model: str, extra: dict[str, Any], path: str, silent: bool
) -> None:
    async with (
        sim_factory(SimOptions(pace=0, silent_turn_every=1)) as sim,
        session(sim, setup(model, **extra), path=sim.endpoint(path)) as c,
    ):
        await ask(c)
        answer = await c.turn()
    assert ("audio" not in kinds(answer)) is silent


@pytest.mark.parametrize(
    ("model", "status"),
    [(MODEL_38, "IDLE"), (MODEL_38T, "IDLE"), (MODEL_25, None), (MODEL_31, None)],
)
async def test_interaction_status_rides_on_every_38_turn_complete(
    sim_factory: Any, model: str, status: str | None
) -> None:
    clock = VirtualClock(autojump=True)  # the first answer runs at once, the second is held
    options = SimOptions(
        pace=1, now=clock.now, sleep=clock.sleep, setup_timeout_s=None, lifetime_s=None
    )
    async with sim_factory(options) as sim, session(sim, setup(model)) as c:
        await ask(c)
        answered = await c.turn()
        clock.autojump = False
        await ask(c)
        await c.recv_until(lambda m: "modelTurn" in m.get("serverContent", {}))
        await c.send({"realtimeInput": {"activityStart": {}}})  # barge-in
        interrupted = await c.turn()
    assert interaction_status(answered[-1]) == status
    assert interaction_status(interrupted[-1]) == status
    statuses = [interaction_status(m) for m in c.received if is_turn_complete(m)]
    assert statuses == [status, status]
    assert all(
        "interactionStatus" not in m.get("serverContent", {})
        for m in c.received
        if not is_turn_complete(m)
    )


async def test_aborted_fault_closes_1008_operation_aborted(sim_factory: Any) -> None:
    options = SimOptions(pace=0, faults=(Fault.parse("aborted@turn:1"),))
    async with sim_factory(options) as sim, session(sim) as c:
        await ask(c)
        await c.turn()
        assert await c.closed() == ABORTED
    assert sim.connections[0].close_detail == "fault aborted@turn:1"


@pytest.mark.parametrize(("close", "expected"), [("deadline", DEADLINE), ("aborted", ABORTED)])
async def test_lifetime_close_chooses_how_a_life_ends(
    sim_factory: Any, close: str, expected: tuple[int, str]
) -> None:
    options = SimOptions(pace=0, lifetime_s=0.3, go_away_notice_s=0.25, lifetime_close=close)  # type: ignore[arg-type]
    async with sim_factory(options) as sim, session(sim) as c:
        assert await c.recv() == {"goAway": {"timeLeft": "0.250s"}}
        assert await c.closed() == expected


async def test_goaway_fault_ends_as_lifetime_close_says(sim_factory: Any) -> None:
    options = SimOptions(
        pace=0, lifetime_close="aborted", faults=(Fault.parse("goaway=0.05@ready"),)
    )
    async with sim_factory(options) as sim, session(sim) as c:
        assert await c.recv() == {"goAway": {"timeLeft": "0.050s"}}
        assert await c.closed() == ABORTED


async def test_the_default_ten_minute_life_runs_in_well_under_a_second(sim_factory: Any) -> None:
    # Section 6.1: a connection lasts about 10 minutes, goAway before it; on virtual time.
    clock = VirtualClock()
    options = SimOptions(now=clock.now, sleep=clock.sleep)
    assert (options.lifetime_s, options.go_away_notice_s) == (600.0, 50.0)
    began = time.monotonic()
    async with sim_factory(options) as sim, session(sim) as c:
        await clock.until_sleeping()  # the lifetime timer has started
        await clock.advance(549.9)
        assert sim.connections[0].sent_messages("goAway") == []
        await clock.advance(0.1)
        assert await c.recv() == {"goAway": {"timeLeft": "50s"}}
        await clock.advance(49.9)
        assert sim.connections[0].close_code is None
        await clock.advance(0.1)
        assert await c.closed() == DEADLINE
    assert time.monotonic() - began < 10  # a hang guard: 10 virtual minutes, not real ones


async def test_replies_are_paced_on_the_virtual_clock(sim_factory: Any) -> None:
    clock = VirtualClock()
    options = SimOptions(pace=1, chunk_ms=100, now=clock.now, sleep=clock.sleep)
    async with sim_factory(options) as sim, session(sim) as c:
        await ask(c, tone(1.15))  # a 1.0 s reply: ten 100 ms chunks
        await c.recv_until(lambda m: "modelTurn" in m.get("serverContent", {}))
        record = sim.connections[0]

        def chunks_sent() -> int:
            return sum(
                "modelTurn" in m["serverContent"] for m in record.sent_messages("serverContent")
            )

        await clock.until_sleeping()
        assert chunks_sent() == 1  # the next chunk waits for time to pass
        await clock.advance(0.45)
        await clock.until_sleeping()
        assert chunks_sent() == 5  # at 0, 0.1, 0.2, 0.3 and 0.4 s
        await clock.advance(1)
        rest = await c.turn()
    assert chunks_sent() == 10
    assert output_text(rest).endswith("I heard 1.1 s of audio.")


async def test_time_stands_still_until_the_virtual_clock_moves(sim_factory: Any) -> None:
    clock = VirtualClock()
    options = SimOptions(
        pace=0, lifetime_s=100, go_away_notice_s=10, now=clock.now, sleep=clock.sleep
    )
    async with sim_factory(options) as sim, session(sim) as c:
        await clock.until_sleeping()  # the lifetime timer has started
        await clock.advance(89)
        await ask(c)
        await c.turn()  # still alive at 89 s
        await clock.advance(1)
        assert await c.recv() == {"goAway": {"timeLeft": "10s"}}
        await clock.advance(10)
        assert await c.closed() == DEADLINE


async def test_a_connection_that_never_sends_setup_is_closed(sim_factory: Any) -> None:
    clock = VirtualClock()
    options = SimOptions(pace=0, now=clock.now, sleep=clock.sleep)
    async with sim_factory(options) as sim, client(sim) as c:
        await clock.until_sleeping()  # the setup timer has started
        await clock.advance(29)
        assert sim.connections[0].close_code is None
        await clock.advance(1)
        assert await c.closed() == DEADLINE
    assert "no setup frame within 30 s" in sim.connections[0].close_detail
