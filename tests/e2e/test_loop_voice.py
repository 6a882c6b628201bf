"""Voice-trigger turns through the whole loop (trigger.mode = "voice", no button).

- nothing leaves the device before a trigger: no connection while nobody speaks (a quiet
  noise floor plays all along), none for an utterance shorter than vad.min_utterance_ms;
- a spoken utterance becomes one turn, its audio whole (the pre-roll holds the onset);
- half duplex: with the speaker leaking into the microphone (the echo path), neither the
  device's own answer nor a person talking over it reaches the server; speech after the
  answer (and vad.echo_tail_ms) does.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from loopkit import MIC_RATE, LoopFactory, audio_outside_turns, sleep_until, until
from rtkit import SINK_RATE, align, breaks, from_pcm, pieces

from edgevoice.sim import SimOptions

pytestmark = pytest.mark.usefixtures("needs_daemon")

VOICE = {
    "trigger": {"mode": "voice"},
    "vad": {
        "aggressiveness": 2,
        "onset_ms": 120,
        "min_utterance_ms": 400,
        "end_ms": 800,
        "preroll_ms": 300,
        "end_of_speech": "local",
        "half_duplex": True,
        "echo_tail_ms": 300,
    },
}
QUESTION = "Could you tell me how tall the Eiffel tower is?"
LATER = "And how old is it?"
OVER = "Stop, that is enough."


async def test_a_spoken_utterance_is_one_turn_and_nothing_connects_before_it(
    loop_factory: LoopFactory,
) -> None:
    loop = await loop_factory(settings=VOICE)
    loop.rt.noise_floor(-60.0)
    await asyncio.sleep(2.0)  # a quiet room: nothing may connect, nothing may be sent
    assert loop.sim.connections == [], "connected while nobody spoke"
    assert not [e for e in loop.sim.events if e.kind == "open"]

    mic = loop.rt.record_mic()
    clip = loop.rt.utterance(QUESTION)
    playing = loop.rt.play(clip)
    deadline = not_yet = time.monotonic()
    deadline += 20
    while True:  # the last moment there was still no connection
        checked = time.monotonic()
        if loop.sim.connections or checked > deadline:
            break
        not_yet = checked
        await asyncio.sleep(0.01)
    assert loop.sim.connections, f"no connection for the utterance; log:\n{loop.daemon.log()}"
    began = await mic.wait_level(loud=True, after=playing.started, threshold_dbfs=-45)
    # Connected on the trigger (after vad.min_utterance_ms = 400 ms of speech), never on a
    # bare onset; the check is one-sided, so a slow machine cannot fail it.
    assert not_yet > began + 0.25, not_yet - began
    (turn,) = await loop.wait_turns(1)
    await loop.wait_answered(1)
    reference = clip.reference(MIC_RATE)
    found = align(turn.audio, reference)
    assert found.correlation > 0.9, found
    # The onset is in the turn (pre-roll): the first word was not clipped; nothing is lost.
    assert found.lag >= 0, found
    assert breaks(pieces(turn.audio, clip.at(MIC_RATE), MIC_RATE)) == []
    assert audio_outside_turns(loop.items()) == 0


@pytest.mark.slow
async def test_an_utterance_shorter_than_the_minimum_never_connects(
    loop_factory: LoopFactory,
) -> None:
    loop = await loop_factory(settings=VOICE)
    loop.rt.noise_floor(-60.0)
    speech = loop.rt.utterance(QUESTION)
    cough = loop.rt.clip(speech.sound()[: round(0.25 * SINK_RATE)], lead_ms=200, tail_ms=300)
    for _ in range(2):
        await loop.rt.play(cough).finished()
        await asyncio.sleep(0.6)
    await asyncio.sleep(1.0)
    assert loop.sim.connections == [], "a 250 ms sound became a turn"


@pytest.mark.slow
async def test_half_duplex_the_device_never_hears_itself_nor_talk_over_its_answer(
    loop_factory: LoopFactory,
) -> None:
    loop = await loop_factory(settings=VOICE, sim=SimOptions(pace=1.0))
    loop.rt.noise_floor(-60.0)
    loop.rt.echo_path(latency_ms=60, gain_db=-6.0)
    question = loop.rt.utterance(QUESTION)
    first = loop.rt.play(question)
    await first.finished()
    await loop.wait_turns(1)
    # The answer plays, leaks back into the microphone, and someone talks over it.
    answering = await loop.speaker.wait_level(loud=True, after=first.sound_ends, timeout_s=20)
    await sleep_until(answering + 0.3)
    over = loop.rt.play(loop.rt.utterance(OVER, lead_ms=50, tail_ms=50))
    await over.finished()
    quiet = await loop.speaker.wait_level(loud=False, after=answering, hold_s=0.8, timeout_s=30)
    assert over.sound_ends < quiet, "the talk-over did not overlap the answer; test is wrong"
    await sleep_until(quiet + 1.0)  # past vad.echo_tail_ms
    # Nothing more was sent: one turn, its audio the question alone.
    (turn,) = loop.turns()
    assert align(turn.audio, question.reference(MIC_RATE)).correlation > 0.9
    assert audio_outside_turns(loop.items()) == 0
    assert len([i for i in loop.items() if i.kind == "activityStart"]) == 1, loop.summary()

    # After the answer the microphone opens again: the next question is a turn of its own.
    later = loop.rt.utterance(LATER)
    await loop.rt.play(later).finished()
    _, second = await loop.wait_turns(2)
    assert align(second.audio, later.reference(MIC_RATE)).correlation > 0.9


@pytest.mark.slow
async def test_a_voice_turn_with_the_servers_end_of_speech(loop_factory: LoopFactory) -> None:
    """vad.end_of_speech = "server": no activity markers; the speech is streamed from the
    trigger on, the server's VAD ends the turn, audioStreamEnd when the microphone closes."""
    settings = {**VOICE, "vad": {**VOICE["vad"], "end_of_speech": "server"}}
    loop = await loop_factory(settings=settings)
    loop.rt.noise_floor(-60.0)
    await asyncio.sleep(1.0)
    assert loop.sim.connections == []
    clip = loop.rt.utterance(QUESTION)
    await loop.rt.play(clip).finished()
    await loop.wait_answered(1)
    await until(lambda: any(i.kind == "audioStreamEnd" for i in loop.items()), 20)
    kinds = {item.kind for item in loop.items()}
    assert "activityStart" not in kinds and "activityEnd" not in kinds
    sent = b"".join(item.value for item in loop.items() if item.kind == "audio")
    found = align(from_pcm(sent), clip.reference(MIC_RATE))
    assert found.correlation > 0.9, found
    assert found.lag >= 0, found  # the onset was sent (pre-roll)
