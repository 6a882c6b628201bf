"""Earcons: the short tones the device plays for what a person cannot see. Core: no I/O.

`earcon(kind, rate)` returns int16 mono PCM at `rate` Hz (any rate an `AudioSink` accepts,
`ports.SINK_RATE_RANGE`), for the player's `play(pcm, rate)`. Nothing is bundled: each tone is
computed with numpy and cached per (kind, rate).

Each kind differs from the others in pitch and shape, so it can be told apart without looking:

- `LISTEN_START`: two quick notes going up (the device listens now).
- `LISTEN_END`: the same two notes going down (it stopped listening).
- `ERROR`: two short low notes with a buzzy edge (something failed; look at the journal).
- `OFFLINE`: three slow notes falling (no connection; it keeps retrying).
- `LIMIT`: three quick identical high notes (a turn or the daily limit was reached).

Every note has raised-cosine fades at both ends, so a tone starts and ends at zero with no
click, and the loudest sample stays well below full scale (`PEAK`), so an earcon never clips
nor startles next to the model's voice. Every partial stays below 2.2 kHz, so the tones are the
same at 8 kHz as at 48 kHz. Lengths are 100-400 ms.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgevoice.ports import SINK_RATE_RANGE

PEAK = 0.35  # of full scale (about -9 dBFS): audible over a quiet room, far from clipping
FADE_S = 0.008  # raised-cosine fade at each end of every note


class Earcon(enum.Enum):
    LISTEN_START = "listen_start"
    LISTEN_END = "listen_end"
    ERROR = "error"
    OFFLINE = "offline"
    LIMIT = "limit"


@dataclass(frozen=True, slots=True)
class _Note:
    hz: float  # fundamental; 0 for a rest
    seconds: float
    buzz: bool = False  # add odd harmonics (a harsher timbre for errors)


_C5, _E5, _G5, _A4, _F4, _D4, _B5 = 523.25, 659.25, 783.99, 440.0, 349.23, 293.66, 987.77

_TUNES: dict[Earcon, tuple[_Note, ...]] = {
    Earcon.LISTEN_START: (_Note(_C5, 0.06), _Note(_G5, 0.08)),
    Earcon.LISTEN_END: (_Note(_G5, 0.06), _Note(_C5, 0.08)),
    Earcon.ERROR: (
        _Note(_D4 / 1.5, 0.11, buzz=True),  # ~196 Hz
        _Note(0, 0.05),
        _Note(_D4 / 1.5, 0.11, buzz=True),
    ),
    Earcon.OFFLINE: (_Note(_E5, 0.11), _Note(_A4, 0.11), _Note(_F4, 0.15)),
    Earcon.LIMIT: (
        _Note(_B5, 0.05),
        _Note(0, 0.04),
        _Note(_B5, 0.05),
        _Note(0, 0.04),
        _Note(_B5, 0.05),
    ),
}


def earcon(kind: Earcon, rate: int) -> bytes:
    """The tone for `kind` as int16 little-endian mono PCM at `rate` Hz.

    Raises ValueError for a rate outside `ports.SINK_RATE_RANGE` (the player would refuse it).
    """
    low, high = SINK_RATE_RANGE
    if isinstance(rate, bool) or not isinstance(rate, int) or not low <= rate <= high:
        raise ValueError(f"earcon rate must be {low}-{high} Hz, got {rate!r}")
    return _render(kind, rate)


def duration_s(kind: Earcon) -> float:
    """How long the tone for `kind` lasts, in seconds."""
    return sum(note.seconds for note in _TUNES[kind])


@functools.lru_cache(maxsize=16)  # a device plays at one or two rates
def _render(kind: Earcon, rate: int) -> bytes:
    pieces = [_note(note, rate) for note in _TUNES[kind]]
    signal = np.concatenate(pieces)
    peak = float(np.max(np.abs(signal)))
    scaled = signal * (PEAK * 32767.0 / peak)
    return np.round(scaled).astype("<i2").tobytes()


def _note(note: _Note, rate: int) -> npt.NDArray[np.float64]:
    n = round(note.seconds * rate)
    if note.hz == 0:
        return np.zeros(n)
    t = np.arange(n) / rate
    wave = np.sin(2 * np.pi * note.hz * t)
    if note.buzz:  # odd harmonics, as in a softened square wave; the 11th of 196 Hz < 2.2 kHz
        for k in (3, 5, 7, 9, 11):
            wave += np.sin(2 * np.pi * k * note.hz * t) / k
    fade = min(round(FADE_S * rate), n // 2)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)  # raised cosine, 0 -> 1
    envelope = np.ones(n)
    envelope[:fade] = ramp
    envelope[n - fade :] = ramp[::-1]
    result: npt.NDArray[np.float64] = wave * envelope
    return result
