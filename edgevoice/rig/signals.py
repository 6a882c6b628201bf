"""Audio as numbers for the rig: PCM conversion, WAV files, levels and alignment. No I/O but
the WAV helpers.

Everything is mono float64 in [-1, 1] (`Samples`) unless named otherwise. The analysis helpers
answer what a test or the demo asks of a recording:

- `dbfs`, `peak_dbfs`, `envelope_db`, `onset`, `offset`: how loud, and where sound starts/ends;
- `align(got, ref)`: where `ref` sits inside `got` (FFT cross-correlation), how alike and how
  loud it is there (`Alignment`);
- `pieces(got, ref)` / `breaks(...)`: whether `got` is an unbroken copy of `ref` (every 100 ms
  piece at the same offset), which finds a dropped or repeated 20 ms frame.

`Resample` is the one resampling call the rig makes (clips at the sinks' rate, references at
the daemon's); `product_resample` uses edgevoice's own resampler, and tests inject an
independent one (soxr) so a reference is never made by the code it checks.
"""

from __future__ import annotations

import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edgevoice.audio.resampler import StreamingResampler

Samples = npt.NDArray[np.float64]
Resample = Callable[[Samples, int, int], Samples]  # (samples, rate_in, rate_out) -> samples


def product_resample(x: Samples, rate_in: int, rate_out: int) -> Samples:
    """`x` resampled with edgevoice's own StreamingResampler (one shot, flushed)."""
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float64)
    resampler = StreamingResampler(rate_in, rate_out)
    head = resampler.process(np.asarray(x, dtype=np.float32))
    return np.concatenate([head, resampler.flush()]).astype(np.float64)


# --------------------------------------------------------------------------------------------
# PCM and WAV


def to_pcm(x: Samples) -> bytes:
    """Floats in [-1, 1] (mono, or frames x channels) to interleaved int16 little-endian."""
    return bytes(np.clip(np.round(x * 32768), -32768, 32767).astype("<i2").tobytes())


def from_pcm(pcm: bytes, channels: int = 1) -> Samples:
    """int16 little-endian to floats; several channels are averaged to mono."""
    x = np.frombuffer(pcm, "<i2").astype(np.float64) / 32768
    if channels > 1:
        return np.asarray(x.reshape(-1, channels).mean(axis=1), dtype=np.float64)
    return x


def write_wav(path: Path, pcm: bytes, rate: int, channels: int) -> None:
    """16-bit PCM `pcm` to a WAV file at `path` (replaced). Raises OSError."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)


def read_wav_mono(path: Path) -> tuple[Samples, int]:
    """A 16-bit PCM WAV as mono floats (channels averaged) and its rate.

    Raises ValueError for another sample format, OSError/wave.Error for an unreadable file.
    """
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV files are supported")
        return from_pcm(w.readframes(w.getnframes()), w.getnchannels()), w.getframerate()


# --------------------------------------------------------------------------------------------
# Levels


def dbfs(x: Samples) -> float:
    """RMS level in dB relative to a full-scale square wave (-inf floor clipped at -150)."""
    if len(x) == 0:
        return -150.0
    return float(max(-150.0, 10 * np.log10(float(np.mean(np.square(x))) + 1e-15)))


def peak_dbfs(x: Samples) -> float:
    return float(max(-150.0, 20 * np.log10(float(np.max(np.abs(x), initial=0.0)) + 1e-15)))


def envelope_db(x: Samples, rate: int, window_ms: float = 20.0) -> Samples:
    """RMS level (dBFS) of consecutive windows."""
    n = max(1, round(rate * window_ms / 1000))
    usable = len(x) // n * n
    power = np.mean(np.square(x[:usable]).reshape(-1, n), axis=1)
    return np.asarray(10 * np.log10(power + 1e-15), dtype=np.float64)


def onset(
    x: Samples, rate: int, threshold_dbfs: float = -45.0, window_ms: float = 5.0
) -> int | None:
    """The sample index where the level first rises above `threshold_dbfs`, or None."""
    env = envelope_db(x, rate, window_ms)
    above = np.flatnonzero(env > threshold_dbfs)
    return None if len(above) == 0 else int(above[0]) * max(1, round(rate * window_ms / 1000))


def offset(
    x: Samples, rate: int, threshold_dbfs: float = -45.0, window_ms: float = 5.0
) -> int | None:
    """The sample index just after the level last falls below `threshold_dbfs`, or None."""
    env = envelope_db(x, rate, window_ms)
    above = np.flatnonzero(env > threshold_dbfs)
    n = max(1, round(rate * window_ms / 1000))
    return None if len(above) == 0 else (int(above[-1]) + 1) * n


def trim_silence(x: Samples, threshold: float = 1e-3) -> Samples:
    """Drop the leading and trailing near-silence (espeak-ng puts some around its speech)."""
    loud = np.flatnonzero(np.abs(x) > threshold)
    return x if len(loud) == 0 else x[loud[0] : loud[-1] + 1]


# --------------------------------------------------------------------------------------------
# Alignment


@dataclass(frozen=True)
class Alignment:
    lag: int  # got[lag + i] lines up with ref[i]
    correlation: float  # normalised cross-correlation at that lag (1.0: identical shape)
    gain_db: float  # level of the aligned part of got relative to ref


def align(got: Samples, ref: Samples) -> Alignment:
    """Where `ref` sits inside `got` (FFT cross-correlation), and how alike and loud it is."""
    if len(ref) == 0:
        raise ValueError("align: the reference is empty")
    if len(got) < len(ref):
        got = np.concatenate([got, np.zeros(len(ref) - len(got))])
    n = 1 << int(np.ceil(np.log2(len(got) + len(ref))))
    spectrum = np.fft.rfft(got, n) * np.conj(np.fft.rfft(ref, n))
    corr = np.fft.irfft(spectrum, n)[: len(got) - len(ref) + 1]
    # Normalise by the energy of each window of `got` so a loud stretch does not win.
    energy = np.concatenate([[0.0], np.cumsum(np.square(got))])
    window = energy[len(ref) :] - energy[: len(got) - len(ref) + 1]
    ref_norm = float(np.sqrt(np.sum(np.square(ref)))) or 1.0
    score = corr / (np.sqrt(np.maximum(window, 1e-12)) * ref_norm)
    lag = int(np.argmax(score))
    segment = got[lag : lag + len(ref)]
    return Alignment(lag, float(score[lag]), dbfs(segment) - dbfs(ref))


@dataclass(frozen=True)
class Piece:
    start: int  # where the piece starts in `got`
    shift: int  # where it sits in `ref`, minus `start`: equal for every piece of an unbroken copy
    correlation: float


def lowpass(x: Samples, rate: int, cutoff_hz: float) -> Samples:
    """`x` with everything above `cutoff_hz` removed (FFT brick wall, whole signal)."""
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(len(x), 1 / rate) > cutoff_hz] = 0
    return np.asarray(np.fft.irfft(spectrum, len(x)), dtype=np.float64)


def pieces(
    got: Samples, ref: Samples, rate: int, piece_ms: float = 100.0, band_hz: float = 5000.0
) -> list[Piece]:
    """Where each `piece_ms` piece of `got` sits in `ref` (`align` piece by piece), for the
    pieces loud enough to place (within 30 dB of the loudest). An unbroken copy has one
    `shift` throughout; a dropped, repeated or reordered stretch changes it from there on.

    Both are compared below `band_hz`: the daemon's resampler and the reference's (soxr)
    differ near Nyquist, which alone takes a fricative's piece down to a correlation of 0.85.
    """
    got, ref = lowpass(got, rate, band_hz), lowpass(ref, rate, band_hz)
    n = round(rate * piece_ms / 1000)
    levels = [dbfs(got[i : i + n]) for i in range(0, len(got) - n + 1, n)]
    loudest = max(levels, default=-150.0)
    found = []
    for k, level in enumerate(levels):
        if level > max(loudest - 30.0, -60.0):
            a = align(ref, got[k * n : k * n + n])
            found.append(Piece(k * n, a.lag - k * n, a.correlation))
    return found


def breaks(found: list[Piece], tolerance: int = 8) -> list[Piece]:
    """The pieces whose shift differs from the first one's (by more than `tolerance` samples)
    or that match poorly: where an unbroken copy is broken."""
    if not found:
        return []
    first = found[0].shift
    return [p for p in found if abs(p.shift - first) > tolerance or p.correlation < 0.9]
