"""Signal measurements for the benchmarks: tone level, spurious level, THD+N, delay.

All functions take float arrays and return plain floats; they do no I/O. Levels are
amplitudes (a sine of amplitude A reads A), estimated through a Kaiser window (beta 20, side
lobes below -160 dB beyond 7 bins), so a component 160 dB below another one is still measured.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]

WINDOW_BETA = 20.0
# Half-width of the window's main lobe, in bins of the analysed length, plus a margin.
MAIN_LOBE_BINS = 8.0
# Floor for dB figures of components too small to measure (float32 rounding is ~ -150 dB).
FLOOR_DB = -200.0


def _window(n: int) -> npt.NDArray[np.float64]:
    return np.kaiser(n, WINDOW_BETA)


def to_db(ratio: float) -> float:
    """20*log10(ratio), floored at FLOOR_DB."""
    return FLOOR_DB if ratio <= 10.0 ** (FLOOR_DB / 20.0) else 20.0 * math.log10(ratio)


def tone_amplitude(y: FloatArray, freq: float, rate: float) -> float:
    """Amplitude of the component of `y` at exactly `freq` Hz (windowed single-bin DFT)."""
    data = np.asarray(y, dtype=np.float64)
    w = _window(data.shape[0])
    phase = np.exp(-2j * np.pi * freq / rate * np.arange(data.shape[0]))
    return float(2.0 * abs(np.sum(w * data * phase)) / np.sum(w))


def largest_spur(y: FloatArray, rate: float, exclude_hz: float | None = None) -> float:
    """Amplitude of the largest spectral component of `y`, ignoring the main lobe around
    `exclude_hz` (the wanted tone) when given. Includes DC, images, aliases and noise peaks."""
    data = np.asarray(y, dtype=np.float64)
    n = data.shape[0]
    w = _window(n)
    pad = 4 * n  # 4x zero padding: peak estimates within 0.1 dB of the true amplitude
    spectrum = 2.0 * np.abs(np.fft.rfft(w * data, pad)) / np.sum(w)
    freqs = np.fft.rfftfreq(pad, 1.0 / rate)
    if exclude_hz is not None:
        spectrum[np.abs(freqs - exclude_hz) <= MAIN_LOBE_BINS * rate / n] = 0.0
    return float(spectrum.max())


def thd_n_db(y: FloatArray, freq: float, rate: float) -> float:
    """THD+N in dB: power of everything except the `freq` sinusoid over the sinusoid's power.

    The sinusoid is fitted by least squares (cosine and sine at exactly `freq`), so any gain or
    phase shift is not counted; harmonics, aliases, images, DC and noise are.
    """
    data = np.asarray(y, dtype=np.float64)
    t = 2.0 * np.pi * freq / rate * np.arange(data.shape[0])
    basis = np.stack((np.cos(t), np.sin(t)), axis=1)
    coef, *_ = np.linalg.lstsq(basis, data, rcond=None)
    fitted = basis @ coef
    residual = data - fitted
    signal_power = float(np.sum(fitted * fitted))
    noise_power = float(np.sum(residual * residual))
    if noise_power <= 0.0:
        return FLOOR_DB
    return max(FLOOR_DB, 10.0 * math.log10(noise_power / signal_power))


def offset_seconds(y: FloatArray, reference: FloatArray, rate: float, max_lag: float) -> float:
    """How late `y` is relative to `reference` (seconds; negative = early), by cross-correlation.

    Both arrays are sampled at `rate`; the peak of their cross-correlation within +/- max_lag
    is refined to a fraction of a sample by fitting a parabola through it and its neighbours.
    """
    a = np.asarray(y, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    n = a.shape[0] + b.shape[0]
    size = 1 << (n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    max_samples = int(max_lag * rate)
    lags = np.arange(-max_samples, max_samples + 1)
    values = xc[lags % size]
    i = int(np.argmax(values))
    shift = 0.0
    if 0 < i < len(values) - 1:
        left, mid, right = values[i - 1], values[i], values[i + 1]
        denom = left - 2.0 * mid + right
        if denom != 0.0:
            shift = 0.5 * (left - right) / denom
    return float((lags[i] + shift) / rate)
