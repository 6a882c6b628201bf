"""16-bit PCM WAV files (stdlib `wave`): what `edgevoice test-audio --wav` writes.

Only 16-bit signed little-endian PCM is read or written; anything else raises ValueError with
the reason, so a caller can print it as one line.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WavAudio:
    """Interleaved int16 little-endian samples and their format."""

    pcm: bytes
    rate: int  # Hz
    channels: int

    @property
    def seconds(self) -> float:
        return len(self.pcm) / (2 * self.channels * self.rate)


def write_wav(path: str | Path, pcm: bytes, rate: int, channels: int = 1) -> None:
    """Write int16 PCM to `path` as a WAV file (replacing it). Raises OSError on I/O errors."""
    if len(pcm) % (2 * channels):
        raise ValueError(f"PCM length {len(pcm)} is not a whole number of {channels}-ch frames")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)


def read_wav(path: str | Path) -> WavAudio:
    """Read a 16-bit PCM WAV file. Raises ValueError for other formats, OSError on I/O errors."""
    try:
        with wave.open(str(path), "rb") as src:
            if src.getsampwidth() != 2:
                raise ValueError(
                    f"{path}: {8 * src.getsampwidth()}-bit samples; only 16-bit PCM is supported"
                )
            return WavAudio(
                src.readframes(src.getnframes()), src.getframerate(), src.getnchannels()
            )
    except wave.Error as exc:
        raise ValueError(f"{path}: not a PCM WAV file ({exc})") from exc
