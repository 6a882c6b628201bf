"""What is played into the microphone: clips (espeak-ng speech or any WAV) and their players.

A `Clip` is a WAV file at the sinks' format (48 kHz stereo) with silence around the sound, so
a stream's first milliseconds and the server's last ones are silence, never the speech. A
`Playing` is a paplay process playing one into `micsink` at real-time pace.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgevoice.rig.host import RigError
from edgevoice.rig.processes import stop_process
from edgevoice.rig.pulse import SINK_RATE
from edgevoice.rig.signals import Resample, Samples, product_resample

PLAY_SLACK_S = 10.0  # hang guard on top of a clip's own length
POLL_S = 0.02


@dataclass(frozen=True)
class Clip:
    """Audio ready to play into the microphone: a WAV at the sink's format (48 kHz stereo).

    `samples` is the mono content at SINK_RATE with its padding: `lead_s` of silence, the
    sound (`sound_s`), `tail_s` of silence. `reference(rate)` is the sound alone (no padding)
    resampled to `rate` (16000: what the daemon should send), with the rig's resampler.
    """

    path: Path
    samples: Samples
    lead_s: float
    sound_s: float
    tail_s: float
    text: str = ""
    resample: Resample = field(default=product_resample, compare=False, repr=False)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SINK_RATE

    def sound(self) -> Samples:
        start = round(self.lead_s * SINK_RATE)
        return self.samples[start : start + round(self.sound_s * SINK_RATE)]

    def reference(self, rate: int = 16000) -> Samples:
        return self.resample(self.sound(), SINK_RATE, rate)

    def at(self, rate: int) -> Samples:
        """The whole clip, padding included, resampled to `rate`."""
        return self.resample(self.samples, SINK_RATE, rate)


@dataclass
class Playing:
    """A clip being played into the microphone by a paplay process."""

    clip: Clip
    process: subprocess.Popen[bytes]
    started: float  # time.monotonic() right after the process started

    @property
    def sound_starts(self) -> float:
        """Wall time (monotonic) the sound itself starts, about (paplay adds a few ms)."""
        return self.started + self.clip.lead_s

    @property
    def sound_ends(self) -> float:
        return self.sound_starts + self.clip.sound_s

    def done(self) -> bool:
        return self.process.poll() is not None

    def wait(self, timeout_s: float | None = None) -> None:
        """Block until played (a hang guard: `timeout_s` defaults to the clip's length + 10 s).

        Raises subprocess.TimeoutExpired past the guard, RigError when paplay failed."""
        self.process.wait(timeout_s or self.clip.duration_s + PLAY_SLACK_S)
        self._check()

    async def finished(self, timeout_s: float | None = None) -> None:
        """Wait on the event loop until played. Raises TimeoutError past the hang guard
        (the clip's length + 10 s by default), RigError when paplay failed."""
        deadline = time.monotonic() + (timeout_s or self.clip.duration_s + PLAY_SLACK_S)
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"paplay still playing {self.clip.duration_s:.1f} s clip")
            await asyncio.sleep(POLL_S)
        self._check()

    def _check(self) -> None:
        if self.process.returncode not in (0, -signal.SIGTERM):
            err = self.process.stderr.read().decode() if self.process.stderr else ""
            raise RigError(f"paplay failed ({self.process.returncode}): {err.strip()}")

    def stop(self) -> None:
        stop_process(self.process)
        if self.process.stderr is not None:
            self.process.stderr.close()


def speak_to_wav(text: str, path: Path, *, voice: str = "en", words_per_minute: int = 160) -> None:
    """espeak-ng's speech for `text` into a WAV file. Raises RigError naming the failure."""
    try:
        done = subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(path), "--", text],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RigError(f"espeak-ng could not run: {exc}") from None
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise RigError(f"espeak-ng failed ({done.returncode}): {' '.join(detail)[:200]}")


def padded(sound: Samples, lead_ms: int, tail_ms: int) -> Samples:
    lead = np.zeros(round(lead_ms * SINK_RATE / 1000))
    tail = np.zeros(round(tail_ms * SINK_RATE / 1000))
    return np.concatenate([lead, sound, tail])
