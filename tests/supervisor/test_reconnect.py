"""The supervisor against the simulator's fault knobs, on virtual time: refused connections
retried with growing, jittered delays and the backoff reset after a stable connection; a bad key
never retried; a quota refusal backing off long; a routine 1008 after a turn; a daemon restart
resuming from the persisted handle; an unknown handle dropped for a fresh session at once; a
fallback model when live.model is not found."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

import pytest
from appkit import TIMEOUT, RigFactory, until
from supkit import Gate, fixed_delays

from edgevoice.adapters.state_store import JsonStateStore
from edgevoice.audio.earcons import Earcon
from edgevoice.ports import ResumptionHandle
from edgevoice.sim import Fault, SimOptions, VirtualClock

ERRORS_ON = {"earcons": {"error": True, "offline": True}}


def refusals(rig: object) -> int:
    return sum(e.kind == "refused" for e in rig.sim.events)  # type: ignore[attr-defined]


async def test_refused_connections_are_retried_with_growing_jittered_delays(
    rig_factory: RigFactory,
) -> None:
    clock = VirtualClock()
    gate = Gate()
    rig = await rig_factory(
        ERRORS_ON,
        SimOptions(pace=0, lifetime_s=None, refuse_first=3),  # HTTP 503 three times
        virtual=clock,
        delays=fixed_delays(0.5, 30.0, 2.0, random=0.5),  # full jitter, the draw pinned at 0.5
        wrap_connect=gate.wrap,
    )
    await rig.ctl("say", text="Hello, are you there?")
    # Bounds 0.5, 1, 2 s; the pinned draw takes half of each.
    for refused, delay in enumerate([0.25, 0.5, 1.0], 1):
        await until(lambda n=refused: refusals(rig) == n)  # type: ignore[misc]
        await clock.until_sleeping(1)  # the next attempt waits for its delay
        await clock.advance(delay * 0.9)
        await asyncio.sleep(0.1)
        assert len(gate.attempts) == refused, f"attempt {refused + 1} came before its delay"
        await clock.advance(delay * 0.2)
        await until(lambda n=refused: len(gate.attempts) == n + 1)  # type: ignore[misc]
    await rig.wait_answers(1)  # the fourth attempt carried the text through
    (record,) = rig.sim.connections
    assert [f.kind for f in record.received].count("realtimeInput") >= 1
    counters = rig.conversation.counters
    assert counters.reconnects == 3 and counters.connect_failures == 0
    assert rig.conversation.speaker.earcons_played.count(Earcon.ERROR) == 0  # it never gave up
    # Stable for reconnect.stable_after (30 s): the run of failures is over.
    await rig.wait_state("idle")
    await clock.advance(31.0)
    await rig.sim.stop()  # the service goes away; the idle connection ends with it
    await until(lambda: rig.conversation.link is None)
    before = len(gate.attempts)
    await rig.ctl("say", text="Still there?")
    await until(lambda: len(gate.attempts) == before + 1)  # refused: nothing listens now
    await clock.until_sleeping(1)
    await clock.advance(0.25 * 1.1)  # the first delay again, not the fourth
    await until(lambda: len(gate.attempts) == before + 2)


async def test_a_bad_key_is_never_retried(rig_factory: RigFactory) -> None:
    clock = VirtualClock()
    sim = SimOptions(pace=0, lifetime_s=None, api_keys=frozenset({"another-key-entirely"}))
    rig = await rig_factory(ERRORS_ON, sim, virtual=clock)
    await rig.ctl("say", text="Hello?")
    await rig.wait_state("error")
    assert rig.conversation.status_text == "Needs attention: API key refused"
    await clock.advance(3600.0)
    refused = await rig.request({"cmd": "say", "text": "And now?"})
    assert refused["ok"] is False and "needs attention: API key refused" in refused["error"]
    await asyncio.sleep(0.2)
    assert len(rig.sim.connections) == 1  # one attempt, ever
    assert rig.conversation.state.value == "error"


async def test_a_quota_refusal_backs_off_long(rig_factory: RigFactory) -> None:
    clock = VirtualClock()
    sim = SimOptions(pace=0, lifetime_s=None, refuse_first=1, refuse_mode="quota")
    rig = await rig_factory(
        {**ERRORS_ON, "reconnect": {"throttled_delay": 60.0}},
        sim,
        virtual=clock,
        delays=fixed_delays(random=0.5),
    )
    await rig.ctl("say", text="Hello?")  # closed 1011 with the quota text at setup
    await rig.wait_state("offline")
    assert "quota" in rig.conversation.status_text
    refused = await rig.request({"cmd": "say", "text": "Now?"})
    assert refused["ok"] is False and "the next try is possible in 60 s" in refused["error"]
    await clock.advance(58.0)
    # Close to the end of the backoff, a turn is taken and waits out the rest (2.25 s).
    await rig.ctl("say", text="Hello again?")
    await rig.wait_state("connecting")
    assert rig.conversation.status_text.startswith("Connecting in 2 s")
    await clock.until_sleeping(1)
    await clock.advance(2.0)
    await asyncio.sleep(0.1)
    assert len(rig.sim.connections) == 1  # not before the backoff is over
    await clock.advance(0.5)
    await rig.wait_answers(1)
    assert len(rig.sim.connections) == 2


async def test_a_routine_1008_after_a_turn_and_the_next_press_resumes(
    rig_factory: RigFactory,
) -> None:
    # gemini-3.8 may end a connection with 1008 "The operation was aborted." (section 6.2).
    sim = SimOptions(pace=0, lifetime_s=None, faults=(Fault.parse("aborted@turn:1"),))
    rig = await rig_factory(ERRORS_ON, sim)
    await rig.ctl("say", text="One.")
    await rig.wait_answers(1)
    closed = await rig.sim.wait_closed(1, timeout_s=TIMEOUT)
    assert closed.code == 1008 and closed.closed_by == "server"
    await until(lambda: rig.conversation.link is None)
    issued = [
        m["sessionResumptionUpdate"]["newHandle"]
        for m in rig.sim.connections[0].sent_messages("sessionResumptionUpdate")
        if m["sessionResumptionUpdate"].get("newHandle")
    ]
    await rig.wait_state("idle")  # routine: the answer plays out; not offline, no earcon
    assert Earcon.OFFLINE not in rig.conversation.speaker.earcons_played
    rig.press()
    speech = rig.rt.speak("And the second question.")
    await speech.finished(TIMEOUT)
    rig.release()
    await rig.sim.wait_for(lambda e: e.kind == "turn" and e.connection == 2, timeout_s=TIMEOUT)
    second = rig.sim.connections[1]
    assert second.resumed
    assert second.setup is not None
    assert second.setup["sessionResumption"]["handle"] == issued[-1]
    turn = next(e for e in rig.sim.events if e.kind == "turn" and e.connection == 2)
    assert turn.turn == 2  # the conversation went on: the server counts its second turn


async def test_a_restart_resumes_the_conversation_from_the_saved_handle(
    rig_factory: RigFactory,
) -> None:
    first = await rig_factory()
    await first.ctl("say", text="Remember the number seven.")
    await first.wait_answers(1)
    await until(lambda: first.conversation.policy.handle is not None)
    handle = first.conversation.policy.handle
    assert handle is not None
    first.daemon.stop()
    await asyncio.wait_for(first.task, TIMEOUT)
    # A new daemon, the same state directory (as after `systemctl restart edgevoice`).
    second = await rig_factory(sim=first.sim)
    await second.ctl("say", text="Which number?")
    await second.sim.wait_for(lambda e: e.kind == "turn" and e.connection == 2, timeout_s=TIMEOUT)
    record = second.sim.connections[1]
    assert record.resumed and record.setup is not None
    assert record.setup["sessionResumption"]["handle"] == handle.value
    turn = next(e for e in second.sim.events if e.kind == "turn" and e.connection == 2)
    assert turn.turn == 2


async def test_an_unknown_handle_gives_a_fresh_session_at_once(
    rig_factory: RigFactory, tmp_path: object
) -> None:
    state_dir = tmp_path / "state"  # type: ignore[operator]
    store = JsonStateStore(state_dir)
    store.load()
    store.save_resumption(ResumptionHandle("a-handle-the-service-never-issued", time.time() - 60))
    store.close()
    clock = VirtualClock()
    rig = await rig_factory(
        ERRORS_ON,
        virtual=clock,
        delays=lambda: itertools.repeat(100.0),  # any backoff would be visible: none is taken
    )
    rig.press()
    speech = rig.rt.speak("Start afresh, please.")
    await rig.sim.wait_closed(1, timeout_s=TIMEOUT)
    await until(lambda: len(rig.sim.connections) == 2)  # without moving the clock
    await speech.finished(TIMEOUT)
    rig.release()
    await rig.sim.wait_for(lambda e: e.kind == "turn" and e.connection == 2, timeout_s=TIMEOUT)
    first, second = rig.sim.connections
    assert first.close_code == 1008 and "session not found" in (first.close_reason or "")
    sent_setup = first.received[0].json["setup"]
    assert sent_setup["sessionResumption"]["handle"] == "a-handle-the-service-never-issued"
    assert second.setup is not None and "handle" not in second.setup["sessionResumption"]
    (turn,) = rig.turns()
    assert turn.connection == 2 and turn.ended and turn.seconds > 1.0  # all of it, once
    assert rig.conversation.counters.reconnects == 1


async def test_a_fallback_model_is_used_when_the_primary_is_not_found(
    rig_factory: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sim = SimOptions(pace=0, lifetime_s=None, models=("gemini-3.1-flash-live-preview",))
    rig = await rig_factory(
        {"live": {"fallback_models": ["gemini-3.1-flash-live-preview"]}},
        sim,
        delays=lambda: itertools.repeat(100.0),
    )
    await rig.ctl("say", text="Hello?")
    await rig.wait_answers(1)
    first, second = rig.sim.connections
    assert first.close_code == 1008 and "not found" in (first.close_reason or "")
    assert first.received[0].json["setup"]["model"] == "models/gemini-3.8-live"
    assert second.setup is not None
    assert second.setup["model"] == "models/gemini-3.1-flash-live-preview"
    status = await rig.ctl("status")
    assert status["model"] == "gemini-3.1-flash-live-preview" and status["fallback_model"]
    assert status["needs_attention"] is None
    # The next conversation stays on the fallback (no failed attempt on live.model first).
    await rig.ctl("cancel")
    await rig.ctl("say", text="Again?")
    await rig.sim.wait_for(lambda e: e.kind == "turn" and e.connection == 3, timeout_s=TIMEOUT)
    assert len(rig.sim.connections) == 3
    assert rig.sim.connections[2].setup["model"] == "models/gemini-3.1-flash-live-preview"  # type: ignore[index]
    switched = [r for r in caplog.records if "switching to live.fallback_models" in r.message]
    assert len(switched) == 1  # said once
