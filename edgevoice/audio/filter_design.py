"""The resampler's filter: rates it supports, quality presets, and the Kaiser-windowed sinc design.

`design_filter(in_rate, out_rate, quality)` says what filter `StreamingResampler` uses for a pair
of rates; `polyphase_table` gives its taps, one row per fractional phase. The reasons for the
design (a linear-phase filter with its stopband edge at out_rate - passband edge) are in the
`edgevoice.audio.resampler` docstring. Core module: numpy only, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

Float64Array = npt.NDArray[np.float64]

SUPPORTED_RATE_RANGE: Final = (8000, 192000)

# Largest phase table (L * T coefficients) precomputed in full; above it the taps are
# interpolated from a fine kernel table.
TABLE_LIMIT: Final = 1 << 20


@dataclass(frozen=True)
class Quality:
    """A filter specification: stopband attenuation and passband width."""

    attenuation_db: float  # Kaiser design target for the stopband
    passband_down: float  # passband edge / output Nyquist frequency, when downsampling
    passband_up: float  # passband edge / input Nyquist frequency, when upsampling


QUALITIES: Final = {
    # Measured by `edgevoice bench resampler`: ripple < 0.001 dB, aliases and images >= 88 dB
    # below the input, THD+N < -110 dB, delay <= 1.4 ms for the daemon's conversions.
    "hq": Quality(attenuation_db=88.0, passband_down=7.0 / 8.0, passband_up=5.0 / 6.0),
    # Roughly half the taps of "hq" and about 60 dB: for slow boards where quality matters less.
    "fast": Quality(attenuation_db=60.0, passband_down=0.8, passband_up=0.75),
}


@dataclass(frozen=True)
class FilterDesign:
    """The anti-aliasing / anti-imaging filter a resampler uses (frequencies in Hz)."""

    up: int  # L: output samples per period
    down: int  # M: input samples per period
    taps: int  # T: input samples under the filter for each output sample (even)
    passband_hz: float
    stopband_hz: float
    cutoff_hz: float
    beta: float  # Kaiser window shape


def check_rate(name: str, rate: int) -> None:
    """Raise ValueError naming `name` unless `rate` is a whole number of Hz in range."""
    lo, hi = SUPPORTED_RATE_RANGE
    if isinstance(rate, bool) or not isinstance(rate, int) or not lo <= rate <= hi:
        raise ValueError(
            f"{name} {rate!r} Hz is not supported: use a whole number of Hz from {lo} to {hi} "
            "(e.g. 16000, 44100 or 48000)"
        )


def design_filter(in_rate: int, out_rate: int, quality: str = "hq") -> FilterDesign:
    """Return the filter StreamingResampler(in_rate, out_rate, quality=quality) uses.

    Raises ValueError for a rate outside SUPPORTED_RATE_RANGE or an unknown quality.
    """
    check_rate("in_rate", in_rate)
    check_rate("out_rate", out_rate)
    if quality not in QUALITIES:
        raise ValueError(
            f"unknown resampler quality {quality!r}; use one of: {', '.join(QUALITIES)}"
        )
    q = QUALITIES[quality]
    g = math.gcd(in_rate, out_rate)
    low_nyquist = min(in_rate, out_rate) / 2.0
    passband = (q.passband_down if out_rate < in_rate else q.passband_up) * low_nyquist
    stopband = 2.0 * low_nyquist - passband
    width = (stopband - passband) / in_rate  # transition width, cycles per input sample
    a = q.attenuation_db
    beta = 0.1102 * (a - 8.7) if a > 50.0 else 0.5842 * (a - 21.0) ** 0.4 + 0.07886 * (a - 21.0)
    taps = math.ceil((a - 7.95) / (2.285 * 2.0 * math.pi * width)) + 1
    taps += taps % 2
    return FilterDesign(
        up=out_rate // g,
        down=in_rate // g,
        taps=taps,
        passband_hz=passband,
        stopband_hz=stopband,
        cutoff_hz=low_nyquist,
        beta=beta,
    )


def kernel(tau: Float64Array, design: FilterDesign, in_rate: int) -> Float64Array:
    """The continuous filter at offsets `tau` (input samples), zero outside (-T/2, T/2)."""
    half = design.taps / 2.0
    fc = design.cutoff_hz / in_rate  # cycles per input sample
    inside = np.clip(1.0 - (tau / half) ** 2, 0.0, None)
    window = np.i0(design.beta * np.sqrt(inside)) / np.i0(design.beta)
    values: Float64Array = 2.0 * fc * np.sinc(2.0 * fc * tau) * window
    values[np.abs(tau) >= half] = 0.0
    return values


def phase_table(design: FilterDesign, in_rate: int) -> Float64Array:
    """The taps shaped (L, T), row p for fractional position p / L (see polyphase_table)."""
    L, T = design.up, design.taps
    H = T // 2
    i = np.arange(T, dtype=np.float64)
    phases = np.arange(L, dtype=np.float64)[:, np.newaxis] / L
    tab = kernel((H - 1 - i)[np.newaxis, :] + phases, design, in_rate)
    # sinc's zero crossings come out as ~1e-17, not 0: make them exact, so that the phase at
    # an integer position of a half-band filter is an exact unit impulse (copied, not filtered).
    tab[np.abs(tab) < 1e-12 * np.abs(tab).max()] = 0.0
    # Unit DC gain for every phase: no phase-dependent gain ripple (which would modulate the
    # signal at the phase rate and show up as distortion).
    tab /= tab.sum(axis=1, keepdims=True)
    return tab


def polyphase_table(in_rate: int, out_rate: int, quality: str = "hq") -> Float64Array:
    """The filter taps, shaped (L, T): row p holds the taps for fractional position p / L.

    Output sample k (n0 = floor(k * M / L), p = k * M mod L) is
    sum(table[p, i] * x[n0 - T/2 + 1 + i] for i in range(T)). Raises ValueError when L * T is
    too large to tabulate (the resampler then interpolates its taps instead).
    """
    design = design_filter(in_rate, out_rate, quality)
    if design.up * design.taps > TABLE_LIMIT:
        raise ValueError(
            f"{in_rate} -> {out_rate} Hz has too many phases ({design.up}) to tabulate"
        )
    return phase_table(design, in_rate)
