"""The voice trigger in the in-process Daemon (real webrtcvad, espeak speech on real-time
devices): nothing leaves the device, not even a connection, before someone speaks; a spoken
utterance becomes a turn with the local end of speech, or under server VAD with
audioStreamEnd."""

from __future__ import annotations

import asyncio

from appkit import TIMEOUT, RigFactory, until

VOICE = {"trigger": {"mode": "voice"}, "vad": {"end_ms": 600}}


async def test_a_spoken_utterance_becomes_a_turn_and_silence_sends_nothing(
    rig_factory: RigFactory,
) -> None:
    rig = await rig_factory(VOICE)
    await asyncio.sleep(1.0)  # a second of silence: no connection at all
    assert rig.sim.connections == []
    cough = rig.rt.clip(rig.rt.utterance("Ha.").sound()[:4800], lead_ms=100, tail_ms=300)
    await rig.rt.play(cough).finished(TIMEOUT)  # 100 ms: shorter than the minimum utterance
    await asyncio.sleep(0.5)
    assert rig.sim.connections == []
    speech = rig.rt.speak("Hello there, what is the weather like today?")
    (turn,) = await rig.wait_turns(1)  # activityStart ... activityEnd from the local gate
    await speech.finished(TIMEOUT)
    assert turn.seconds > 1.0
    await rig.wait_answers(1)
    assert rig.conversation.counters.turns == 1


async def test_server_vad_ends_a_voice_turn_with_audio_stream_end(rig_factory: RigFactory) -> None:
    settings = {**VOICE, "vad": {"end_ms": 600, "end_of_speech": "server"}}
    rig = await rig_factory(settings)
    speech = rig.rt.speak("Hello there, what is the weather like today?")
    await speech.finished(TIMEOUT)
    await until(lambda: any(i.kind == "audioStreamEnd" for i in rig.items()))
    kinds = {i.kind for i in rig.items()}
    assert "activityStart" not in kinds and "activityEnd" not in kinds
    setup = rig.sim.connections[0].frames("setup")[0].json["setup"]
    detection = setup["realtimeInputConfig"]["automaticActivityDetection"]
    assert not detection.get("disabled", False)
    await rig.wait_answers(1)
