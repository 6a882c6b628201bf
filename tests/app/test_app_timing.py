"""The controller's timers on virtual time (the simulator's VirtualClock): the turn-length limit,
the follow-up window and the response watchdog, without waiting real seconds for them."""

from __future__ import annotations

import asyncio

from appkit import TIMEOUT, RigFactory, until

from edgevoice.audio.earcons import Earcon
from edgevoice.sim import Fault, SimOptions


async def test_the_turn_length_limit_ends_a_stuck_turn(rig_factory: RigFactory) -> None:
    rig = await rig_factory(
        {"limits": {"max_turn_s": 5.0}, "earcons": {"limit": True}}, virtual=True
    )
    assert rig.clock is not None
    rig.press()  # and never released: a stuck button
    await until(lambda: rig.audio_sent() > 6400)
    await rig.clock.advance(4.5)
    assert not any(t.ended for t in rig.turns())
    await rig.clock.advance(0.6)
    (turn,) = await rig.wait_turns(1)  # ended by the limit, the button still down
    assert turn.ended
    assert Earcon.LIMIT in rig.conversation.speaker.earcons_played
    assert rig.conversation.counters.limits_reached == 1
    sent = rig.audio_sent()
    await asyncio.sleep(0.3)
    assert rig.audio_sent() == sent  # nothing more goes out while it is held
    rig.release()


async def test_the_connection_closes_after_the_follow_up_window(rig_factory: RigFactory) -> None:
    rig = await rig_factory({"live": {"follow_up_window": 10.0}}, virtual=True)
    assert rig.clock is not None
    rig.press()
    speech = rig.rt.speak("Hello.")
    await speech.finished(TIMEOUT)
    rig.release()
    await rig.wait_answers(1)
    await rig.wait_state("idle")  # the answer has played out
    await rig.clock.advance(9.0)
    await asyncio.sleep(0.1)
    assert rig.sim.open_connections == 1  # still warm for a follow-up
    await rig.clock.advance(1.5)
    closed = await rig.sim.wait_closed(1, timeout_s=TIMEOUT)
    assert closed.closed_by == "client"
    assert rig.sim.connections[0].close_code == 1000
    assert rig.conversation.policy.resumable  # the next turn resumes the conversation


async def test_a_follow_up_within_the_window_keeps_the_connection(rig_factory: RigFactory) -> None:
    rig = await rig_factory({"live": {"follow_up_window": 10.0}}, virtual=True)
    assert rig.clock is not None
    await rig.ctl("say", text="First.")
    await rig.wait_answers(1)
    await rig.wait_state("idle")
    await rig.clock.advance(8.0)
    await rig.ctl("say", text="Second.")  # the window restarts after this answer
    await rig.wait_answers(2)
    await rig.wait_state("idle")
    await rig.clock.advance(8.0)
    await asyncio.sleep(0.1)
    assert len(rig.sim.connections) == 1 and rig.sim.open_connections == 1


async def test_the_response_watchdog_drops_a_stalled_connection(rig_factory: RigFactory) -> None:
    # The server accepts the setup, then says nothing more (on the first connection only).
    sim = SimOptions(pace=0, lifetime_s=None, faults=(Fault.parse("stall@ready"),))
    rig = await rig_factory(
        {"live": {"response_timeout": 20.0}, "earcons": {"error": True}}, sim, virtual=True
    )
    assert rig.clock is not None
    await rig.ctl("say", text="Are you there?")
    await until(lambda: any(i.kind == "text" for i in rig.items()))
    await rig.wait_state("thinking")
    await rig.clock.advance(19.0)
    await asyncio.sleep(0.1)
    assert rig.sim.open_connections == 1  # not yet
    await rig.clock.advance(1.5)
    await rig.sim.wait_closed(1, timeout_s=TIMEOUT)
    assert rig.conversation.counters.stalls == 1
    assert Earcon.ERROR in rig.conversation.speaker.earcons_played
    await rig.wait_state("offline")
    # The next turn connects again, and is answered.
    await rig.ctl("say", text="Hello again.")
    await rig.wait_answers(1)
    assert len(rig.sim.connections) == 2


async def test_a_silent_turn_is_not_a_stall(rig_factory: RigFactory) -> None:
    # gemini-3.8 may choose not to answer (proactive audio): turnComplete with no audio.
    sim = SimOptions(pace=0, lifetime_s=None, silent_turn_every=1)
    rig = await rig_factory({"live": {"response_timeout": 20.0}}, sim, virtual=True)
    assert rig.clock is not None
    await rig.ctl("say", text="(to someone else in the room)")
    await rig.wait_answers(1)
    await rig.wait_state("idle")
    await rig.clock.advance(25.0)
    await asyncio.sleep(0.1)
    assert rig.conversation.counters.stalls == 0
    assert rig.sim.open_connections == 1  # the follow-up window (600 s here) holds it
