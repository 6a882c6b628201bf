"""Mute: nothing leaves the device (not even a connection), the LED shows it, and it survives a
restart through the state store; volume is kept the same way."""

from __future__ import annotations

import asyncio
import json

from appkit import TIMEOUT, RigFactory, until

RED_ONLY = (1, 0, 0)  # the RGB LED's muted pattern: solid red


async def test_mute_sends_nothing_and_survives_a_restart(rig_factory: RigFactory) -> None:
    rig = await rig_factory()
    reply = await rig.ctl("mute")
    assert reply["state"] == "muted"
    await until(lambda: rig.pins() == RED_ONLY)
    rig.press()  # the button does nothing while muted
    speech = rig.rt.speak("Can you hear me?")
    await speech.finished(TIMEOUT)
    rig.release()
    refused = await rig.request({"cmd": "press"})
    assert refused["ok"] is False and "muted" in refused["error"]
    await asyncio.sleep(0.3)
    assert rig.sim.connections == []  # no connection at all, so not a byte was sent
    assert rig.conversation.mic.frames_muted > 0  # the microphone ran; its frames were dropped
    await rig.ctl("volume", percent=35)

    # A restart (the same state directory) keeps both.
    rig.daemon.stop()
    await asyncio.wait_for(rig.task, TIMEOUT)
    saved = json.loads((rig.state_dir / "state.json").read_text())
    assert saved["muted"] is True and saved["volume"] == 35
    again = await rig_factory(sim=rig.sim)
    status = await again.ctl("status")
    assert status["muted"] is True and status["state"] == "muted" and status["volume"] == 35
    await until(lambda: again.pins() == RED_ONLY)
    again.press()
    await asyncio.sleep(0.3)
    again.release()
    assert again.sim.connections == []

    await again.ctl("unmute")
    await until(lambda: again.pins() != RED_ONLY)
    again.press()
    speech = again.rt.speak("Now you can.")
    await speech.finished(TIMEOUT)
    again.release()
    (turn,) = await again.wait_turns(1)
    assert turn.seconds > 0.5
    status = await again.ctl("status")
    assert status["muted"] is False
    assert status["today"]["audio_sent_s"] > 0.5


async def test_mute_during_a_turn_ends_it_cleanly(rig_factory: RigFactory) -> None:
    rig = await rig_factory()
    rig.press()
    await until(lambda: rig.audio_sent() > 6400)
    await rig.ctl("mute")
    (turn,) = await rig.wait_turns(1)  # activityEnd went out: a well-formed turn
    sent = rig.audio_sent()
    await asyncio.sleep(0.3)
    assert rig.audio_sent() == sent  # still held, but nothing more leaves the device
    rig.release()
    assert turn.ended
