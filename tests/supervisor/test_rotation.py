"""goAway: the turn in progress finishes on the old connection, the next one resumes with the
handle, and what the person says during the switch waits for it; when the deadline comes
first, the open turn goes on over a new connection. Every microphone frame is numbered
(supkit.TaggedMicrophone), so "every captured frame reaches the server exactly once" is
counted, not guessed. The simulator runs on the daemon's virtual clock: its deadlines pass only
when the test moves time."""

from __future__ import annotations

import asyncio
from typing import Any

from appkit import TIMEOUT, RigFactory, until
from supkit import Gate, TaggedMicrophone, contiguous, tags, turn_tags

from edgevoice.ports import AudioSource
from edgevoice.sim import Fault, SimOptions, VirtualClock


def sim_on(clock: VirtualClock, *faults: str) -> SimOptions:
    return SimOptions(
        pace=0,
        lifetime_s=None,
        now=clock.now,
        sleep=clock.sleep,
        setup_timeout_s=None,
        faults=tuple(Fault.parse(f) for f in faults),
    )


class Microphones:
    def __init__(self) -> None:
        self.made: list[TaggedMicrophone] = []

    def wrap(self, source: AudioSource) -> AudioSource:
        tagged = TaggedMicrophone(source)
        self.made.append(tagged)
        return tagged


def handles_issued(record: Any) -> list[str]:
    return [
        m["sessionResumptionUpdate"]["newHandle"]
        for m in record.sent_messages("sessionResumptionUpdate")
        if m["sessionResumptionUpdate"].get("newHandle")
    ]


async def test_goaway_mid_turn_rotates_and_no_frame_is_lost_or_sent_twice(
    rig_factory: RigFactory,
) -> None:
    clock = VirtualClock()
    gate = Gate()
    mics = Microphones()
    rig = await rig_factory(
        {},
        sim_on(clock, "goaway=120@frame:10"),  # goAway a few frames into the first turn
        virtual=clock,
        wrap_source=mics.wrap,
        wrap_connect=gate.wrap,
    )
    (mic,) = mics.made
    first = rig.sim  # noqa: F841 - one simulator, two connections
    rig.press()
    speech = rig.rt.speak("Here is the first question, and it takes a moment to say.")
    await until(
        lambda: bool(rig.sim.connections and rig.sim.connections[0].sent_messages("goAway"))
    )
    gate.hold()  # the connection that replaces this one will wait at the gate
    await speech.finished(TIMEOUT)
    rig.release()
    # The turn completes on the connection that is going away.
    await rig.sim.wait_for(lambda e: e.kind == "turn" and e.connection == 1, timeout_s=TIMEOUT)
    # At the next idle moment: the old connection closed (1000), the new one on its way.
    closed = await rig.sim.wait_closed(1, timeout_s=TIMEOUT)
    assert closed.closed_by == "client" and closed.code == 1000
    await until(lambda: gate.waiting == 1)
    assert rig.conversation.state.value == "connecting"
    # The person speaks during the switch: the frames wait for the new connection.
    rig.press()
    pressed_at = mic.count
    speech = rig.rt.speak("And a second one, while the connection is being replaced.")
    await until(lambda: mic.count > pressed_at + 40)  # 0.8 s captured before it is open
    during = mic.count
    assert len(rig.sim.connections) == 1  # nothing has reached a new connection yet
    gate.open()
    await speech.finished(TIMEOUT)
    rig.release()
    await rig.sim.wait_for(lambda e: e.kind == "turn" and e.connection == 2, timeout_s=TIMEOUT)
    old, new = rig.sim.connections
    # The new connection resumed the session with the newest handle of the old one.
    assert new.resumed and new.setup is not None
    assert new.setup["sessionResumption"]["handle"] == handles_issued(old)[-1]
    turn = next(e for e in rig.sim.events if e.kind == "turn" and e.connection == 2)
    assert turn.turn == 2
    # Count the frames: each turn whole and in order, each frame exactly once, the frames
    # captured during the switch among them.
    items = rig.items()
    (first_turn,) = turn_tags(items, 1)
    (second_turn,) = turn_tags(items, 2)
    assert contiguous(first_turn) and contiguous(second_turn)
    every = [tag for _, tag in tags(items)]
    assert len(every) == len(set(every)) == len(first_turn) + len(second_turn)
    assert second_turn[0] < pressed_at < during <= second_turn[-1]  # pre-roll, switch, rest
    assert rig.conversation.counters.rotations == 1


async def test_when_the_deadline_comes_first_the_open_turn_goes_on_over_a_new_connection(
    rig_factory: RigFactory,
) -> None:
    clock = VirtualClock()
    mics = Microphones()
    rig = await rig_factory(
        {},
        sim_on(clock, "goaway=5@frame:12"),  # frame 2 is the text; 3 on: the button's turn
        virtual=clock,
        wrap_source=mics.wrap,
    )
    (mic,) = mics.made
    await rig.ctl("say", text="Remember this conversation.")
    await rig.wait_answers(1)
    await rig.wait_state("idle")
    rig.press()
    speech = rig.rt.speak("A long answer is needed here, so I keep on talking for a while.")
    await until(lambda: bool(rig.sim.connections[0].sent_messages("goAway")))
    await until(lambda: sum(i.kind == "audio" for i in rig.items()) > 20)
    await clock.advance(5.5)  # the person is still talking when the deadline passes
    closed = await rig.sim.wait_closed(1, timeout_s=TIMEOUT)
    assert closed.code == 1011 and closed.closed_by == "server"
    await until(lambda: len(rig.sim.connections) == 2)
    await speech.finished(TIMEOUT)
    sent_before_release = mic.count
    rig.release()
    await rig.sim.wait_for(lambda e: e.kind == "turn" and e.connection == 2, timeout_s=TIMEOUT)
    old, new = rig.sim.connections
    assert new.resumed and new.setup is not None
    assert new.setup["sessionResumption"]["handle"] == handles_issued(old)[-1]
    items = rig.items()
    (cut,) = turn_tags(items, 1)  # the part that reached the old connection, never answered
    (whole,) = turn_tags(items, 2)
    # The resumed session never saw this turn: it gets all of it, from its first frame, once.
    assert contiguous(whole) and whole[0] == cut[0]
    assert len(whole) == len(set(whole))
    assert whole[-1] < sent_before_release + 5
    assert set(cut) < set(whole)
    answered = next(e for e in rig.sim.events if e.kind == "turn" and e.connection == 2)
    assert answered.turn == 2
    assert rig.conversation.state.value != "offline"
    await asyncio.sleep(0)
