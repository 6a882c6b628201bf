"""What the soak (`edgevoice soak`) found, each a test that fails on the code before the fix.

A barge-in whose connection then stalls (seed 1) must not leave the next turn's answer
discarded. The barge-in marks the rest of the old answer for
dropping until the server's `interrupted` or `turnComplete`; a stalled server sends neither,
and the response watchdog drops the connection, so the mark must go with it (as it does when
a connection ends), or the next answer, on a new connection, is never played."""

from __future__ import annotations

from appkit import RigFactory, until

from edgevoice.sim import Fault, FaultAction, Moment, SimOptions, When


async def test_the_answer_after_a_stall_that_followed_a_barge_in_is_played(
    rig_factory: RigFactory,
) -> None:
    # pace=1: the answer streams in real time, so it is still coming when the barge-in comes.
    rig = await rig_factory(
        {"live": {"response_timeout": 1.0}}, SimOptions(pace=1.0, lifetime_s=None, speed=0.8)
    )
    await rig.ctl("say", text="Tell me a long story about the sea and the ships on it, please.")
    await rig.wait_state("speaking")
    player = rig.daemon.player
    await until(lambda: player.stats.audio_handed > 0)
    # The server stops answering, then the person barges in with a new question.
    assert rig.sim.strike(Fault(FaultAction.STALL, When(Moment.READY))) == 1
    await rig.ctl("say", text="Stop.")
    await rig.sim.wait_closed(1)  # the response watchdog dropped the stalled connection
    assert rig.conversation.counters.stalls == 1
    # The next turn goes out on a new connection and is answered: it must be heard.
    handed = player.stats.audio_handed
    await rig.ctl("say", text="Hello again.")
    await rig.sim.wait_for(lambda e: e.kind == "turn" and e.connection == 2)
    await until(lambda: player.stats.audio_handed - handed >= player.stats.rate // 2)


async def test_a_connection_lost_mid_answer_lets_the_device_go_idle(
    rig_factory: RigFactory,
) -> None:
    # Seed 424242: the connection dropped while the answer streamed in; what had arrived played
    # out, and then the device stayed SPEAKING (LED, STATUS=, the voice gate's echo guard)
    # until the next press, 79 s later, because the answer's end never came to the speaker.
    rig = await rig_factory(
        {"live": {"follow_up_window": 1.0}}, SimOptions(pace=1.0, lifetime_s=None, speed=0.8)
    )
    await rig.ctl("say", text="Tell me a long story about the sea and the ships on it, please.")
    await rig.wait_state("speaking")
    player = rig.daemon.player
    await until(lambda: player.stats.audio_handed > 0)
    assert rig.sim.strike(Fault(FaultAction.ABORT, When(Moment.READY))) == 1
    await rig.sim.wait_closed(1)
    await rig.wait_state("idle", "offline")  # what arrived has played: the device is free
    await rig.ctl("say", text="Hello again.")  # and the next turn is answered
    await rig.sim.wait_for(lambda e: e.kind == "turn" and e.connection == 2)
