"""Turn-taking and the parrot's answers: manual activity, energy VAD, barge-in, text, clientContent.

Barge-in tests slow the parrot down (`pace=20`: each 40 ms chunk takes 0.8 s) so the model is
certainly still speaking when the client interrupts; nothing waits for that long, because the
interruption ends the answer at once.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from simkit import (
    MODEL_31,
    Client,
    audio_frame,
    is_turn_complete,
    kinds,
    output_text,
    reply_audio,
    session,
    setup,
    silence,
    tone,
)

from edgevoice.sim import SimOptions

START = {"realtimeInput": {"activityStart": {}}}
END = {"realtimeInput": {"activityEnd": {}}}
STREAM_END = {"realtimeInput": {"audioStreamEnd": True}}


def dominant_hz(pcm: bytes, rate: int = 24_000) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * rate / samples.size)


def is_resumable_update(message: dict[str, Any]) -> bool:
    return bool(message.get("sessionResumptionUpdate", {}).get("resumable"))


async def manual_turn(c: Client, pcm: bytes) -> None:
    await c.send(START)
    await c.send_audio(pcm)
    await c.send(END)


async def test_manual_activity_turn_sequence_and_parrot_reply(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim, setup(resumption={})) as c:
        await manual_turn(c, tone(1.0, 300))
        messages = await c.recv_until(is_resumable_update)
    sequence = kinds(messages)
    assert messages[0] == {"sessionResumptionUpdate": {}}  # not resumable while generating
    assert sequence[1] == "inputTranscription"
    middle = sequence[2:-3]
    assert set(middle) == {"audio", "outputTranscription"} and middle[0] == "audio"
    assert sequence[-3:] == ["generationComplete", "turnComplete", "sessionResumptionUpdate"]
    usage = messages[-2]["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["responseTokenCount"]
    assert messages[-1]["sessionResumptionUpdate"]["newHandle"]
    assert output_text(messages) == "Parrot turn 1: I heard 1.0 s of audio."
    assert messages[1]["serverContent"]["inputTranscription"]["text"].startswith("(synthetic)")
    pcm = reply_audio(messages)
    # The same 1 s of speech, 1.15x faster and higher: 0.87 s at 24 kHz, 300 Hz -> 345 Hz.
    assert abs(len(pcm) / 2 / 24_000 - 1.0 / 1.15) < 0.01
    assert abs(dominant_hz(pcm) - 345) < 10
    assert [e.turn for e in sim.events if e.kind == "turn"] == [1]


async def test_audio_chunks_are_realistic_sizes(sim_factory: Any) -> None:
    async with sim_factory(SimOptions(pace=0, chunk_ms=60)) as sim, session(sim) as c:
        await manual_turn(c, tone(1.0))
        messages = await c.turn()
    sizes = [
        len(base64.b64decode(p["inlineData"]["data"]))
        for m in messages
        for p in m.get("serverContent", {}).get("modelTurn", {}).get("parts", [])
    ]
    assert all(size == 2880 for size in sizes[:-1]) and 0 < sizes[-1] <= 2880  # 60 ms at 24 kHz


async def test_an_empty_activity_gets_a_chirp(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim) as c:
        await c.send(START)
        await c.send_audio(silence(0.5))
        await c.send(END)
        messages = await c.turn()
    pcm = reply_audio(messages)
    assert len(pcm) == 2 * round(0.6 * 24_000)
    assert 400 < dominant_hz(pcm) < 900


async def test_audio_at_another_rate_is_resampled(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim) as c:
        await c.send(START)
        await c.send_audio(tone(0.5, 300, rate=48_000), rate=48_000)
        await c.send(END)
        messages = await c.turn()
    assert "I heard 0.5 s of audio." in output_text(messages)
    assert abs(dominant_hz(reply_audio(messages)) - 345) < 15


async def test_automatic_vad_ends_the_turn_after_800_ms_of_silence(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim, setup(manual=False)) as c:
        await c.send_audio(silence(0.5) + tone(1.0) + silence(1.2))
        messages = await c.turn()
    # The utterance is 0.2 s pre-roll + 1.0 s speech + 0.8 s silence hangover.
    assert "I heard 2.0 s of audio." in output_text(messages)
    assert abs(len(reply_audio(messages)) / 2 / 24_000 - 1.0 / 1.15) < 0.03
    assert "generationComplete" in kinds(messages)


async def test_silence_duration_from_setup_and_audio_stream_end(sim_factory: Any) -> None:
    frame = setup(
        manual=False,
        realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 3000}},
    )
    async with sim_factory() as sim, session(sim, frame) as c:
        await c.send_audio(tone(1.0) + silence(1.0))  # 1 s of silence < 3 s: still speaking
        await c.send(STREAM_END)  # the microphone closed: the turn ends now
        messages = await c.turn()
    # All of it: with the default 800 ms the turn would have ended after 1.8 s.
    assert "I heard 2.0 s of audio." in output_text(messages)


@pytest.mark.parametrize(
    ("manual", "frames"),
    [
        (False, [START]),
        (False, [END]),
        (True, [END]),
        (True, [START, START]),
        (True, [STREAM_END]),
    ],
)
async def test_vad_rule_violations_close_1007(
    sim_factory: Any, manual: bool, frames: list[dict[str, Any]]
) -> None:
    async with sim_factory() as sim, session(sim, setup(manual=manual)) as c:
        for frame in frames:
            await c.send(frame)
        assert await c.closed() == (1007, "Request contains an invalid argument.")
    assert "activity" in sim.connections[0].close_detail or "audioStreamEnd" in (
        sim.connections[0].close_detail
    )


async def test_audio_stream_end_false_is_harmless_in_manual_mode(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim) as c:
        await c.send({"realtimeInput": {"audioStreamEnd": False}})
        await manual_turn(c, tone(0.3))
        await c.turn()


async def test_barge_in_with_activity_start(sim_factory: Any) -> None:
    async with (
        sim_factory(SimOptions(pace=20)) as sim,
        session(sim, setup(resumption={})) as c,
    ):
        await manual_turn(c, tone(1.0))
        await c.recv_until(lambda m: "modelTurn" in m.get("serverContent", {}))
        await c.send(START)  # the user talks over the answer
        rest = await c.recv_until(is_resumable_update)
        assert "generationComplete" not in kinds(rest)
        tail = [k for k in kinds(rest) if k not in ("audio", "outputTranscription")]
        assert tail == ["interrupted", "turnComplete", "sessionResumptionUpdate"]
        assert {"serverContent": {"interrupted": True}} in rest
    turns = [e for e in sim.events if e.kind == "turn"]
    assert [(e.turn, e.interrupted) for e in turns] == [(1, True)]


async def test_barge_in_with_automatic_vad(sim_factory: Any) -> None:
    async with sim_factory(SimOptions(pace=20)) as sim, session(sim, setup(manual=False)) as c:
        await c.send_audio(tone(0.5) + silence(1.0))
        await c.recv_until(lambda m: "modelTurn" in m.get("serverContent", {}))
        await c.send_audio(tone(0.3))  # speech onset while the model speaks
        rest = await c.turn()
        assert rest[-2:] == [
            {"serverContent": {"interrupted": True}},
            {"serverContent": {"turnComplete": True}},
        ]
        # The new utterance is answered once it ends.
        await c.send_audio(silence(1.0))
        await c.recv_until(lambda m: "inputTranscription" in m.get("serverContent", {}))
    assert [e.interrupted for e in sim.events if e.kind == "turn"] == [True]


async def test_no_interruption_queues_the_next_turn(sim_factory: Any) -> None:
    frame = setup(realtimeInputConfig={
        "automaticActivityDetection": {"disabled": True},
        "activityHandling": "NO_INTERRUPTION",
    })  # fmt: skip
    async with sim_factory(SimOptions(pace=3)) as sim, session(sim, frame) as c:
        await manual_turn(c, tone(0.4))
        await c.recv_until(lambda m: "modelTurn" in m.get("serverContent", {}))
        await manual_turn(c, tone(0.2))  # while the first answer plays
        first = await c.turn()
        second = await c.turn()
    assert "interrupted" not in kinds(first) and "generationComplete" in kinds(first)
    assert output_text(second).startswith("Parrot turn 2: I heard 0.2 s")
    assert [(e.turn, e.interrupted) for e in sim.events if e.kind == "turn"] == [
        (1, False),
        (2, False),
    ]


async def test_realtime_text_is_a_turn(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim, setup(manual=False)) as c:
        await c.send({"realtimeInput": {"text": "hello"}})
        messages = await c.turn()
    assert output_text(messages) == "Parrot turn 1: you said 'hello', I heard 0.0 s of audio."


async def test_video_frames_are_accepted_and_recorded(sim_factory: Any) -> None:
    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0fake").decode()
    async with sim_factory() as sim, session(sim) as c:
        await c.send({"realtimeInput": {"video": {"data": jpeg, "mimeType": "image/jpeg"}}})
        await manual_turn(c, tone(0.2))
        await c.turn()
    video = sim.connections[0].frames("realtimeInput")[0]
    assert video.body is not None and video.body["video"]["mimeType"] == "image/jpeg"


async def test_client_content_on_25_answers_and_interrupts(sim_factory: Any) -> None:
    content = {
        "clientContent": {
            "turns": [{"role": "user", "parts": [{"text": "what time is it"}]}],
            "turnComplete": True,
        }
    }
    async with sim_factory(SimOptions(pace=20)) as sim, session(sim) as c:
        await manual_turn(c, tone(0.5))
        await c.recv_until(lambda m: "modelTurn" in m.get("serverContent", {}))
        await c.send(content)  # clientContent interrupts generation (section 3.3)
        interrupted = await c.turn()
        assert {"serverContent": {"interrupted": True}} in interrupted
        answer = await c.recv_until(lambda m: "inputTranscription" in m.get("serverContent", {}))
    heard = answer[-1]["serverContent"]["inputTranscription"]["text"]
    assert heard == "(synthetic) heard 0.0 s of audio; text 'what time is it'"
    assert [e.interrupted for e in sim.events if e.kind == "turn"] == [True]


async def test_client_content_mid_session_on_31_is_refused(sim_factory: Any) -> None:
    content = {"clientContent": {"turns": [{"parts": [{"text": "hi"}]}], "turnComplete": True}}
    async with sim_factory() as sim, session(sim, setup(MODEL_31)) as c:
        await c.send(content)
        assert await c.closed() == (1007, "Request contains an invalid argument.")


async def test_history_seeding_on_31_then_clientcontent_is_refused(sim_factory: Any) -> None:
    history = {
        "clientContent": {
            "turns": [
                {"role": "user", "parts": [{"text": "my name is Ada"}]},
                {"role": "model", "parts": [{"text": "hello Ada"}]},
            ],
            "turnComplete": True,
        }
    }
    frame = setup(MODEL_31, historyConfig={"initialHistoryInClientContent": True})
    async with sim_factory() as sim, session(sim, frame) as c:
        await c.send(history)  # seeding: allowed, and no answer (the last turn is the model's)
        await manual_turn(c, tone(0.3))
        messages = await c.turn()
        assert output_text(messages).startswith("Parrot turn 1:")
        await c.send(history)
        assert (await c.closed())[0] == 1007


async def test_31_carries_several_parts_per_event_and_usage_alone(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim, setup(MODEL_31)) as c:
        await manual_turn(c, tone(0.5))
        messages = await c.turn()
    combined = [
        m
        for m in messages
        if {"modelTurn", "outputTranscription"} <= set(m.get("serverContent", {}))
    ]
    assert combined
    assert messages[-2]["serverContent"] == {} and "usageMetadata" in messages[-2]
    assert messages[-1] == {"serverContent": {"turnComplete": True}}


async def test_unused_audio_frame_helper_urlsafe_alphabet(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim) as c:
        await c.send(START)
        await c.send(audio_frame(tone(0.3), urlsafe=True))
        await c.send(END)
        messages = await c.turn()
    assert "I heard 0.3 s of audio." in output_text(messages)
    assert is_turn_complete(messages[-1])
