"""Button turns through the whole loop: `edgevoice run` as a process on real-time devices,
against the simulator, driven by `edgevoice ctl` (the control socket: the same requests a GPIO
button makes) while espeak-ng speech is played into the microphone.

What the simulator received is compared with the speech played: the audio of each turn,
decoded from the wire, is cross-correlated with the clip's 16 kHz reference.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from loopkit import (
    MIC_RATE,
    REPLY_RATE,
    LoopFactory,
    audio_outside_turns,
    reply_at_48k,
    reply_audio,
    sleep_until,
)
from rtkit import align, breaks, pieces

from edgevoice.sim import SimOptions

pytestmark = pytest.mark.usefixtures("needs_daemon")

QUESTION = "What is the weather like in Paris today?"
SHORT = "Hello there."


async def test_hold_to_talk_sends_the_spoken_audio_bracketed_and_plays_the_answer(
    loop_factory: LoopFactory,
) -> None:
    loop = await loop_factory()
    clip = loop.rt.utterance(QUESTION)
    await loop.ctl("press")
    playing = loop.rt.play(clip)
    await playing.finished()
    await asyncio.sleep(0.3)  # the capture path's own latency: the last word is in
    await loop.ctl("release")
    (turn,) = await loop.wait_turns(1)
    await loop.wait_answered(1)

    # The wire: setup, then activityStart, audio, activityEnd; no audio outside the bracket.
    kinds = [item.kind for item in loop.items()]
    assert kinds[0] == "setup"
    assert kinds[1] == "activityStart" and kinds[-1] == "activityEnd", loop.summary()
    assert audio_outside_turns(loop.items()) == 0
    # The audio is the speech, whole, at 16 kHz and at the level it was played.
    reference = clip.reference(MIC_RATE)
    found = align(turn.audio, reference)
    assert found.correlation > 0.9, found
    assert abs(found.gain_db) < 1.0, found
    assert found.lag >= 0 and found.lag + len(reference) <= len(turn.audio)
    # Unbroken: no 100 ms piece of it dropped, repeated or out of order.
    assert breaks(pieces(turn.audio, clip.at(MIC_RATE), MIC_RATE)) == []

    # The answer (the simulator's parrot) is played on the speaker as the simulator sent it,
    # at the configured volume's gain (80 % by default: quieter, never louder).
    (reply, *_) = reply_audio(loop.sim.connections[0])
    await loop.speaker.wait_level(loud=True, after=playing.sound_ends)
    quiet_from = await loop.speaker.wait_level(
        loud=False, after=playing.sound_ends + len(reply) / REPLY_RATE, hold_s=0.5
    )
    heard = loop.speaker.snapshot().between(playing.sound_ends, quiet_from + 0.5)
    played = align(heard, reply_at_48k(reply))
    assert played.correlation > 0.9, played
    assert -12.0 < played.gain_db < -0.5, played


async def test_audio_from_before_the_press_reaches_the_server(loop_factory: LoopFactory) -> None:
    """Pre-roll: the press lands 400 ms into the speech; the first ~200 ms and more of what
    was said before it are in the turn (the ring holds vad.preroll_ms = 300 ms)."""
    loop = await loop_factory(settings={"vad": {"preroll_ms": 300}})
    mic = loop.rt.record_mic()
    clip = loop.rt.utterance(QUESTION)
    playing = loop.rt.play(clip)
    began = await mic.wait_level(loud=True, after=playing.started, threshold_dbfs=-45)
    await sleep_until(began + 0.4)
    pressed = time.monotonic()  # the press registers after this: the estimate is cautious
    reply = await loop.request({"cmd": "press"})
    assert reply["ok"] is True, reply
    await playing.finished()
    await asyncio.sleep(0.3)
    await loop.ctl("release")
    (turn,) = await loop.wait_turns(1)

    spoken_before_press = pressed - began
    # Where the turn's audio starts within the clip: every 100 ms piece of the turn sits at
    # the same offset in the clip (nothing lost at the pre-roll's junction), and that offset
    # is where the turn starts.
    placed = pieces(turn.audio, clip.at(MIC_RATE), MIC_RATE)
    assert placed and breaks(placed) == [], placed
    start_in_speech = placed[0].shift / MIC_RATE - clip.lead_s
    sent_before_press = spoken_before_press - start_in_speech
    assert sent_before_press >= 0.2, (spoken_before_press, start_in_speech)


async def test_toggle_turn(loop_factory: LoopFactory) -> None:
    loop = await loop_factory()
    clip = loop.rt.utterance(SHORT)
    await loop.ctl("toggle")
    await loop.rt.play(clip).finished()
    await asyncio.sleep(0.3)
    await loop.ctl("toggle")
    (turn,) = await loop.wait_turns(1)
    await loop.wait_answered(1)
    found = align(turn.audio, clip.reference(MIC_RATE))
    assert found.correlation > 0.9, found
    assert breaks(pieces(turn.audio, clip.at(MIC_RATE), MIC_RATE)) == []
    assert audio_outside_turns(loop.items()) == 0


async def test_a_very_short_press_still_closes_the_turn_and_the_next_one_works(
    loop_factory: LoopFactory,
) -> None:
    loop = await loop_factory()
    press = asyncio.create_task(loop.request({"cmd": "press"}))
    release = asyncio.create_task(loop.request({"cmd": "release"}))
    await asyncio.gather(press, release)
    (short,) = await loop.wait_turns(1)
    await loop.wait_answered(1)  # the server answered (or cancelled) the well-formed pair
    assert short.ended
    # The device is usable at once: a real turn follows.
    clip = loop.rt.utterance(SHORT)
    await loop.ctl("press")
    await loop.rt.play(clip).finished()
    await asyncio.sleep(0.3)
    await loop.ctl("release")
    _, turn = await loop.wait_turns(2)
    assert align(turn.audio, clip.reference(MIC_RATE)).correlation > 0.9
    assert audio_outside_turns(loop.items()) == 0


async def test_a_press_while_the_device_speaks_barges_in(loop_factory: LoopFactory) -> None:
    loop = await loop_factory(sim=SimOptions(pace=1.0))
    clip = loop.rt.utterance(QUESTION)
    await loop.ctl("press")
    playing = loop.rt.play(clip)
    await playing.finished()
    await asyncio.sleep(0.3)
    await loop.ctl("release")
    await loop.wait_turns(1)
    speaking = await loop.speaker.wait_level(loud=True, after=playing.sound_ends)
    await sleep_until(speaking + 0.8)  # well into the answer
    sent = time.monotonic()
    await loop.request({"cmd": "press"})
    answered = time.monotonic()

    # The simulator saw the new activity while answering and said `interrupted`.
    event = await loop.sim.wait_for(lambda e: e.kind == "turn" and e.interrupted, 10)
    assert event.interrupted
    interrupted = [
        m for m in loop.sim.connections[0].sent_messages("serverContent")
        if m["serverContent"].get("interrupted")
    ]  # fmt: skip
    assert interrupted
    # The speaker went quiet at once and stayed quiet (the answer had over a second left; no
    # earcons in this config): within one 20 ms period plus the sound server's latency of the
    # press being answered. The bound is generous for a loaded machine; without the clear()
    # the answer would go on for another second and more.
    quiet = await loop.speaker.wait_level(loud=False, after=sent, threshold_dbfs=-50, hold_s=1.0)
    assert quiet - answered < 0.25, quiet - answered
    # The new turn is sent: speak, release, it reaches the simulator bracketed.
    second = loop.rt.utterance(SHORT)
    await loop.rt.play(second).finished()
    await asyncio.sleep(0.3)
    await loop.ctl("release")
    _, turn = await loop.wait_turns(2)
    assert align(turn.audio, second.reference(MIC_RATE)).correlation > 0.9
