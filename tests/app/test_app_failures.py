"""Failures: a connection that cannot be made, a key the service refuses (needs attention), a
connection lost mid-answer, and garbage on the control socket during a turn. The LED's pins
(MockFactory) are asserted for each."""

from __future__ import annotations

import asyncio
import itertools

from appkit import TIMEOUT, RigFactory, until

from edgevoice.audio.earcons import Earcon
from edgevoice.control_protocol import MAX_LINE
from edgevoice.sim import Fault, SimOptions, VirtualClock

ERRORS_ON = {"earcons": {"error": True, "offline": True}}


async def test_a_failed_connection_is_reported_and_retried_after_the_backoff(
    rig_factory: RigFactory,
) -> None:
    # Every wait is 10 s: longer than a person is kept waiting (supervisor.PATIENCE_S).
    clock = VirtualClock()
    rig = await rig_factory(
        ERRORS_ON,
        SimOptions(pace=0, lifetime_s=None, refuse_first=1),
        virtual=clock,
        delays=lambda: itertools.repeat(10.0),
    )
    await rig.ctl("say", text="Hello?")  # the first attempt gets HTTP 503
    await rig.wait_state("offline")
    for pin in rig.led_pins():
        pin.clear_states()
    assert Earcon.ERROR in rig.conversation.speaker.earcons_played
    status = await rig.ctl("status")
    assert status["last_error"]["class"] == "transient"
    assert "503" in status["last_error"]["message"]
    # The offline pattern: yellow (red and green together) flashing; blue never.
    await until(lambda: rig.pins() == (1, 1, 0))
    red, green, blue = (rig.pin_history(pin) for pin in rig.led_pins())
    assert 1 in red and 1 in green and blue == [0]
    # Within the backoff a turn is refused at once, saying how long is left.
    refused = await rig.request({"cmd": "say", "text": "Now?"})
    assert refused["ok"] is False and "offline" in refused["error"]
    assert "HTTP 503" in refused["error"] and "10 s" in refused["error"]
    assert Earcon.OFFLINE in rig.conversation.speaker.earcons_played
    assert len(rig.sim.connections) == 0  # refused at the handshake: no connection recorded
    await clock.advance(10.5)
    await rig.ctl("say", text="Hello again?")  # the next turn connects
    await rig.wait_answers(1)
    await rig.wait_state("idle")
    assert rig.conversation.counters.connect_failures == 1


async def test_a_refused_key_needs_attention(rig_factory: RigFactory) -> None:
    sim = SimOptions(pace=0, lifetime_s=None, api_keys=frozenset({"another-key-entirely"}))
    rig = await rig_factory(ERRORS_ON, sim)
    await rig.ctl("say", text="Hello?")
    await rig.wait_state("error")
    for pin in rig.led_pins():
        pin.clear_states()
    status = await rig.ctl("status")
    attention = status["needs_attention"]
    assert attention["headline"] == "API key refused"
    assert "API key" in attention["fix"]
    # The error pattern: red flashing, nothing else.
    await until(lambda: rig.pins() == (1, 0, 0))
    await until(lambda: rig.pins() == (0, 0, 0))
    red, green, blue = (rig.pin_history(pin) for pin in rig.led_pins())
    assert red[-2:] == [1, 0] and green == [0] and blue == [0]
    # No retry until a restart or reload: a press is refused with the error earcon.
    refused = await rig.request({"cmd": "press"})
    assert refused["ok"] is False and "needs attention" in refused["error"]
    rig.press()
    await asyncio.sleep(0.2)
    rig.release()
    assert len(rig.sim.connections) == 1
    assert rig.conversation.speaker.earcons_played.count(Earcon.ERROR) >= 2


async def test_a_connection_lost_mid_answer_resumes_on_the_next_turn(
    rig_factory: RigFactory,
) -> None:
    # The first answer is cut by a dropped TCP connection (no close frame).
    sim = SimOptions(pace=0, lifetime_s=None, faults=(Fault.parse("abort@turn:2"),))
    rig = await rig_factory(ERRORS_ON, sim)
    await rig.ctl("say", text="One.")
    await rig.wait_answers(1)
    await until(lambda: rig.conversation.policy.handle is not None)
    await rig.ctl("say", text="Two.")
    await rig.sim.wait_closed(1, timeout_s=TIMEOUT)
    await until(lambda: rig.conversation.link is None)
    await rig.ctl("say", text="Three.")
    await until(lambda: len(rig.sim.connections) == 2)
    setup = rig.sim.connections[1].frames("setup")[0].json["setup"]
    assert setup["sessionResumption"].get("handle")  # resumed with the saved handle
    await rig.sim.wait_for(lambda e: e.kind == "turn" and e.connection == 2, timeout_s=TIMEOUT)


async def test_garbage_on_the_control_socket_never_disturbs_a_turn(
    rig_factory: RigFactory,
) -> None:
    rig = await rig_factory()
    rig.press()
    speech = rig.rt.speak("Here is a sentence that takes a little while to say.")
    await until(lambda: rig.audio_sent() > 3200)
    for line in (
        b"garbage\n",
        b"\xff\xfe\x00 not utf-8\n",
        b'{"cmd": "press", "extra": 1}\n',
        b'{"cmd": "volume", "percent": 1e999}\n',
        b"[" * 50 + b"\n",
        b'{"cmd": "say", "text": ""}\n',
    ):
        reply = await rig.request(line)
        assert reply is not None and reply["ok"] is False, line
    too_long = await rig.request(b"x" * (MAX_LINE + 10) + b"\n")
    assert too_long is not None and too_long["ok"] is False
    status = await rig.ctl("status")
    assert status["state"] == "listening"
    await speech.finished(TIMEOUT)
    rig.release()
    (turn,) = await rig.wait_turns(1)
    assert turn.ended and turn.seconds > 1.5
    await rig.wait_answers(1)
