"""The simulator's server-side voice activity detection: frame energy with a silence hangover.

Stands in for the service's automatic activity detection (protocol doc section 2.2): speech is a
20 ms frame whose RMS level is above a threshold; speech starts once it lasts `onset_ms`
(prefixPaddingMs when the client sets it) and ends after `silence_ms` of non-speech
(silenceDurationMs when set, else about 800 ms like the service's default). The utterance handed
back includes a short pre-roll so the first syllable is not lost. At most `max_samples` of it is
kept (the first part); `VadEvent.seconds` is always the whole utterance's length.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

import numpy as np

from edgevoice.sim.pcm import Samples

VAD_RATE = 16_000
FRAME_SAMPLES = 320  # 20 ms at 16 kHz
FRAME_MS = 20


class VadEventKind(enum.Enum):
    START = "start"
    END = "end"


@dataclass(frozen=True)
class VadEvent:
    kind: VadEventKind
    audio: Samples | None = None  # the utterance (16 kHz, at most max_samples), on END only
    seconds: float = 0.0  # the whole utterance's length, on END only


class EnergyVad:
    """Feed 16 kHz float samples in any chunk size; get START/END events back."""

    def __init__(
        self,
        *,
        threshold_dbfs: float = -40.0,
        onset_ms: int = 40,
        silence_ms: int = 800,
        preroll_ms: int = 200,
        max_samples: int = 120 * VAD_RATE,
    ) -> None:
        self.max_samples = max_samples
        self.threshold_dbfs = threshold_dbfs
        self.onset_frames = max(1, -(-onset_ms // FRAME_MS))
        self.silence_frames = max(1, -(-silence_ms // FRAME_MS))
        self._preroll: deque[Samples] = deque(maxlen=max(self.onset_frames, preroll_ms // FRAME_MS))
        self._pending = np.zeros(0, dtype=np.float32)
        self._utterance: list[Samples] = []
        self._kept = 0  # samples in _utterance
        self._length = 0  # samples in the whole utterance
        self._speech_run = 0
        self._silence_run = 0
        self.in_speech = False

    def feed(self, samples: Samples) -> list[VadEvent]:
        """Process samples; return the events they caused, in order."""
        self._pending = np.concatenate([self._pending, samples.astype(np.float32)])
        count = self._pending.size // FRAME_SAMPLES
        if count == 0:
            return []
        frames = self._pending[: count * FRAME_SAMPLES].reshape(count, FRAME_SAMPLES)
        self._pending = self._pending[count * FRAME_SAMPLES :].copy()
        # One vector pass for every frame's level: a 1 MiB frame is ~3,000 VAD frames.
        power = np.mean(np.square(frames, dtype=np.float64), axis=1)
        loud = power > (10.0 ** (self.threshold_dbfs / 20.0)) ** 2
        events: list[VadEvent] = []
        for index in range(count):
            event = self._frame(frames[index], bool(loud[index]))
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> VadEvent | None:
        """The audio stream ended (audioStreamEnd): end the utterance in progress, if any."""
        if not self.in_speech:
            self._pending = np.zeros(0, dtype=np.float32)
            return None
        if self._pending.size:
            self._keep(self._pending)
            self._pending = np.zeros(0, dtype=np.float32)
        return self._end()

    def _keep(self, frame: Samples) -> None:
        self._length += frame.size
        room = self.max_samples - self._kept
        if room > 0:
            part = frame[:room]
            self._utterance.append(part)
            self._kept += part.size

    def _frame(self, frame: Samples, speech: bool) -> VadEvent | None:
        if not self.in_speech:
            self._preroll.append(frame)
            self._speech_run = self._speech_run + 1 if speech else 0
            if self._speech_run >= self.onset_frames:
                self.in_speech = True
                self._silence_run = 0
                self._utterance, self._kept, self._length = [], 0, 0
                for held in self._preroll:
                    self._keep(held)
                self._preroll.clear()
                return VadEvent(VadEventKind.START)
            return None
        self._keep(frame)
        self._silence_run = 0 if speech else self._silence_run + 1
        if self._silence_run >= self.silence_frames:
            return self._end()
        return None

    def _end(self) -> VadEvent:
        audio = np.concatenate(self._utterance) if self._utterance else np.zeros(0, np.float32)
        seconds = self._length / VAD_RATE
        self._utterance, self._kept, self._length = [], 0, 0
        self.in_speech = False
        self._speech_run = 0
        self._silence_run = 0
        return VadEvent(VadEventKind.END, audio.astype(np.float32), seconds)
