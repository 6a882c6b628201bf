"""The "parrot" model: what the simulator says back, derived from what it heard.

The reply to speech is that speech, trimmed of leading and trailing silence, played back faster
and higher (1.15x by default: resampled from 16 kHz to 24 kHz as if it had been recorded
slower), so a listener recognises their own words as an answer. When nothing audible was heard
(an empty activity, a text turn) the reply is a short rising chirp. The transcripts are
synthetic ("heard 1.2 s of audio"): the simulator does no speech recognition.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgevoice.sim.energy_vad import FRAME_SAMPLES, VAD_RATE
from edgevoice.sim.pcm import Samples, float_to_pcm16, resample, rms_dbfs

OUTPUT_RATE = 24_000  # the Live API always answers at 24 kHz (section 5)
OUTPUT_MIME = "audio/pcm;rate=24000"
MIN_SPEECH_S = 0.1
CHIRP_S = 0.6
AUDIO_TOKENS_PER_SECOND = 32  # Gemini counts audio at 32 tokens per second


@dataclass(frozen=True)
class UserTurn:
    """What the user said in one turn: audio (16 kHz float) and/or text.

    `heard_s` is how long the turn really was when `audio` holds only its first part (the
    simulator keeps a bounded amount of audio per turn, SimOptions.max_heard_s).
    """

    audio: Samples
    text: str = ""
    heard_s: float | None = None

    @property
    def seconds(self) -> float:
        return self.heard_s if self.heard_s is not None else self.audio.size / VAD_RATE

    def merged(self, later: UserTurn, max_samples: int) -> UserTurn:
        """This turn and a later one as one (a bounded queue folds the backlog together)."""
        room = max(0, max_samples - self.audio.size)
        audio = np.concatenate([self.audio, later.audio[:room]]).astype(np.float32)
        text = " ".join(t for t in (self.text, later.text) if t)
        return UserTurn(audio, text, self.seconds + later.seconds)


@dataclass(frozen=True)
class ResultTurn:
    """Results of non-blocking function calls the model speaks about (section 3.4)."""

    results: tuple[tuple[str, Any], ...]  # (function name, response)


@dataclass(frozen=True)
class Reply:
    pcm: bytes  # 24 kHz 16-bit mono
    transcript: str  # what the output transcription says
    input_transcript: str  # what the input transcription says

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / OUTPUT_RATE


def trim_silence(samples: Samples, threshold_dbfs: float) -> Samples:
    """Drop leading and trailing 20 ms frames at or below the threshold."""
    frames = samples.size // FRAME_SAMPLES
    loud = [
        index
        for index in range(frames)
        if rms_dbfs(samples[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES]) > threshold_dbfs
    ]
    if not loud:
        return np.zeros(0, dtype=np.float32)
    return samples[loud[0] * FRAME_SAMPLES : (loud[-1] + 1) * FRAME_SAMPLES]


def chirp(seconds: float = CHIRP_S, low_hz: float = 440.0, high_hz: float = 880.0) -> Samples:
    """A rising sine sweep at about -10 dBFS with 10 ms fades."""
    count = round(seconds * OUTPUT_RATE)
    t = np.arange(count, dtype=np.float64) / OUTPUT_RATE
    phase = 2 * np.pi * (low_hz * t + (high_hz - low_hz) * t * t / (2 * seconds))
    wave = 0.3 * np.sin(phase)
    fade = min(count // 2, OUTPUT_RATE // 100)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        wave[:fade] *= ramp
        wave[-fade:] *= ramp[::-1]
    return wave.astype(np.float32)


def parrot_audio(heard: Samples, *, speed: float, threshold_dbfs: float, max_s: float) -> Samples:
    """The 24 kHz reply audio for what was heard (16 kHz); a chirp when nothing was audible."""
    speech = trim_silence(heard, threshold_dbfs)
    if speech.size < MIN_SPEECH_S * VAD_RATE:
        return chirp()
    out = resample(speech, round(VAD_RATE * speed), OUTPUT_RATE)
    return out[: round(max_s * OUTPUT_RATE)]


def input_transcript(turn: UserTurn) -> str:
    """What the (synthetic) input transcription says about a user turn."""
    heard = f"(synthetic) heard {turn.seconds:.1f} s of audio"
    return heard + (f"; text {_cut(turn.text)!r}" if turn.text else "")


def answer(
    turn: UserTurn,
    *,
    turn_number: int,
    speed: float,
    threshold_dbfs: float,
    max_s: float,
    tool_results: list[dict[str, Any]] | None = None,
) -> Reply:
    """The parrot's whole reply to one user turn."""
    audio = parrot_audio(turn.audio, speed=speed, threshold_dbfs=threshold_dbfs, max_s=max_s)
    words = [f"Parrot turn {turn_number}:"]
    if turn.text:
        words.append(f"you said {_cut(turn.text)!r},")
    words.append(f"I heard {turn.seconds:.1f} s of audio.")
    for result in tool_results or []:
        words.append(f"{result.get('name', '?')} returned {_shown(result.get('response'))}.")
    return Reply(float_to_pcm16(audio), " ".join(words), input_transcript(turn))


def answer_results(turn: ResultTurn) -> Reply:
    """The parrot's reply to function results that arrived while the conversation went on."""
    words = ["Parrot:"]
    for name, response in turn.results:
        words.append(f"{name} returned {_shown(response)}.")
    return Reply(float_to_pcm16(chirp()), " ".join(words), "")


def _cut(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shown(value: Any, limit: int = 200) -> str:
    """A function result as the transcript says it: JSON, cut to `limit` characters."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def transcript_pieces(text: str) -> list[str]:
    """Split a transcript into incremental pieces, each word with its leading space."""
    words = text.split(" ")
    return [words[0], *(f" {word}" for word in words[1:])] if text else []


def audio_tokens(seconds: float) -> int:
    return round(seconds * AUDIO_TOKENS_PER_SECOND)
