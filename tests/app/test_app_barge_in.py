"""Barge-in by button while the device speaks, and the long press (toggle mode)."""

from __future__ import annotations

import asyncio

from appkit import TIMEOUT, RigFactory, until

from edgevoice.sim import SimOptions


async def test_a_press_while_the_device_speaks_barges_in(rig_factory: RigFactory) -> None:
    # pace=1: the simulator streams its answer in real time, so it is still generating when the
    # button is pressed again and answers the new activity with `interrupted`.
    rig = await rig_factory(sim=SimOptions(pace=1.0, lifetime_s=None, speed=0.8))
    rig.press()
    playing = rig.rt.speak("This is a long question about many different things, please.")
    await playing.finished(TIMEOUT)
    rig.release()
    await rig.wait_turns(1)
    await rig.wait_state("speaking")
    player = rig.daemon.player
    await until(lambda: player.stats.audio_handed > 0)  # the answer is audible now
    rig.press()  # barge in
    await until(lambda: rig.conversation.turn is not None)  # the loop took the press
    # Playback was cleared at once: nothing of the old answer is queued any more.
    assert player.stats.buffered == 0
    handed = player.stats.audio_handed
    await asyncio.sleep(0.2)  # ten device periods
    fade = round(player.stats.rate * 0.004) + 1  # at most the clear()'s fade-out
    assert player.stats.audio_handed - handed <= fade
    # The simulator saw the new activity and cut its answer with `interrupted`.
    await rig.sim.wait_for(lambda e: e.kind == "turn" and e.interrupted, timeout_s=TIMEOUT)
    speech = rig.rt.speak("Stop.")
    await speech.finished(TIMEOUT)
    rig.release()
    turns = await rig.wait_turns(2)
    assert len(turns) == 2 and all(t.ended for t in turns)
    await rig.wait_answers(2)
    assert rig.conversation.counters.interruptions >= 1


async def test_a_long_press_ends_the_conversation_in_toggle_mode(rig_factory: RigFactory) -> None:
    rig = await rig_factory({"button": {"mode": "toggle", "long_press_s": 0.5}})
    rig.press()
    rig.release()  # click: a turn
    speech = rig.rt.speak("Remember the number seven.")
    await speech.finished(TIMEOUT)
    rig.press()
    rig.release()  # click: the turn ends
    await rig.wait_answers(1)
    await until(lambda: rig.conversation.policy.handle is not None)  # resumable now
    await rig.wait_state("idle")
    assert rig.sim.open_connections == 1
    rig.press()  # held: the click starts a turn, the long press then ends everything
    await rig.sim.wait_closed(1, timeout_s=TIMEOUT)
    rig.release()
    record = rig.sim.connections[0]
    assert (record.close_code, record.closed_by) == (1000, "client")
    assert rig.conversation.policy.handle is None  # dropped: the next turn starts afresh
    await until(lambda: rig.conversation.state.value == "idle")
    rig.press()
    rig.release()
    await until(lambda: len(rig.sim.connections) == 2)
    setup = rig.sim.connections[1].frames("setup")[0].json["setup"]
    assert "handle" not in setup.get("sessionResumption", {})
