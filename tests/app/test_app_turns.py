"""Turns through the in-process Daemon: the GPIO button (MockFactory) and the control socket on
real-time audio devices, against the simulator; the RGB LED's pins asserted through a turn."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from appkit import TIMEOUT, RigFactory, until

from edgevoice.adapters.systemd_notify import SystemdNotifier

GREEN_ONLY = (0, 1, 0)  # LISTENING: audio is leaving the device (nothing else lights green alone)
DARK = (0, 0, 0)


async def test_hold_to_talk_turn_with_the_led(rig_factory: RigFactory) -> None:
    rig = await rig_factory()
    assert rig.pins() == DARK  # idle, and nothing connected: nothing leaves the device
    assert rig.sim.connections == []
    for pin in rig.led_pins():
        pin.clear_states()
    rig.press()
    playing = rig.rt.speak("Hello there, what time is it?")
    # Audio reaches the server while the button is held, and the LED is green exactly then.
    await until(lambda: rig.audio_sent() > 16000)  # half a second of audio arrived
    await until(lambda: rig.pins() == GREEN_ONLY)
    await playing.finished(TIMEOUT)
    rig.release()
    (turn,) = await rig.wait_turns(1)
    assert turn.ended and turn.seconds > 1.0
    await until(lambda: rig.pins() != GREEN_ONLY)  # the activityEnd went out: not listening
    await rig.wait_answers(1)
    await rig.wait_state("idle")
    assert rig.pins() == DARK
    red, green, blue = (rig.pin_history(pin) for pin in rig.led_pins())
    assert green == [0, 1, 0]  # lit once, steadily, while the turn's audio went out
    assert red == [0]  # never: nothing went wrong
    assert 1 in blue  # connecting, thinking, speaking
    # The follow-up window keeps the connection open; nothing is sent while idle.
    sent = rig.audio_sent()
    await asyncio.sleep(0.3)
    assert rig.audio_sent() == sent
    assert rig.sim.open_connections == 1


async def test_toggle_turn(rig_factory: RigFactory) -> None:
    rig = await rig_factory({"button": {"mode": "toggle"}})
    rig.press()
    rig.release()  # a click: the turn is open until the next click
    playing = rig.rt.speak("Turn on the lights.")
    await playing.finished(TIMEOUT)
    assert rig.turns() and not rig.turns()[0].ended
    rig.press()
    rig.release()
    (turn,) = await rig.wait_turns(1)
    assert turn.seconds > 1.0
    await rig.wait_answers(1)


async def test_a_very_short_press_still_makes_a_well_formed_turn(rig_factory: RigFactory) -> None:
    rig = await rig_factory()
    rig.press()
    rig.release()  # before the connection is even open
    (turn,) = await rig.wait_turns(1)
    assert turn.ended  # activityStart and activityEnd, with the pre-roll between them
    await rig.wait_answers(1)  # the server answered it


async def test_ctl_press_and_release_drive_a_turn(rig_factory: RigFactory) -> None:
    rig = await rig_factory({"button": {"mode": "toggle"}})
    reply = await rig.ctl("press")  # hold-to-talk whatever button.mode says
    assert reply["state"] in ("connecting", "listening")
    playing = rig.rt.speak("Hello.")
    await playing.finished(TIMEOUT)
    reply = await rig.ctl("release")
    assert reply["ended"] is True
    (turn,) = await rig.wait_turns(1)
    assert turn.seconds > 0.5
    assert (await rig.ctl("release"))["ended"] is False  # nothing open: a no-op, not an error


async def test_ctl_say_sends_text_as_the_users_turn(rig_factory: RigFactory) -> None:
    rig = await rig_factory()
    await rig.ctl("say", text="What is the weather like?")
    await rig.wait_answers(1)
    texts = [i.value for i in rig.items() if i.kind == "text"]
    assert texts == ["What is the weather like?"]
    assert rig.audio_sent() == 0  # text only: the microphone sent nothing


async def test_status_goes_from_connecting_straight_to_listening(
    rig_factory: RigFactory, tmp_path: Path
) -> None:
    # STATUS= says what the device does; at the start of a turn it must not flash "Thinking"
    # before "Listening" (nothing is thinking: the audio is about to leave).
    path = tmp_path / "notify.sock"
    manager = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    manager.bind(str(path))
    manager.setblocking(False)
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(path)})
    rig = await rig_factory(notifier=notifier)
    seen: list[str] = []
    for answers in (1, 2):  # a cold turn (connecting first), then a warm one
        before = rig.audio_sent()
        rig.press()
        await until(lambda b=before: rig.audio_sent() > b + 8000)  # type: ignore[misc]
        rig.release()
        await rig.wait_answers(answers)
        await rig.wait_state("idle")
        statuses(manager, seen)
    listening = [i for i, s in enumerate(seen) if s == "Listening"]
    assert len(listening) == 2, seen
    cold, warm = listening
    assert seen[cold - 1] == "Connecting", seen  # straight from connecting to listening
    assert seen[warm - 1] == "Idle", seen  # a warm connection: straight from idle
    manager.close()


def statuses(sock: socket.socket, got: list[str]) -> list[str]:
    """Every STATUS= the manager socket has received so far (appended to `got`)."""
    while True:
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return got
        got += [line[7:] for line in data.decode().splitlines() if line.startswith("STATUS=")]
