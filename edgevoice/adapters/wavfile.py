"""16-bit PCM WAV files (stdlib `wave`): what `edgevoice test-audio --wav` and `probe
--save-reply` write."""

from __future__ import annotations

import wave
from pathlib import Path


def write_wav(path: str | Path, pcm: bytes, rate: int, channels: int = 1) -> None:
    """Write int16 PCM to `path` as a WAV file (replacing it). Raises OSError on I/O errors."""
    if len(pcm) % (2 * channels):
        raise ValueError(f"PCM length {len(pcm)} is not a whole number of {channels}-ch frames")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
