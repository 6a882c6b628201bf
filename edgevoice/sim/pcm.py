"""Small PCM helpers for the simulator (its own, independent of edgevoice.audio.dsp on purpose)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]
INT16_SCALE = 32768.0


def pcm16_to_float(pcm: bytes) -> Samples:
    """16-bit little-endian PCM -> float32 in [-1, 1)."""
    return (np.frombuffer(pcm, dtype="<i2").astype(np.float32) / INT16_SCALE).astype(np.float32)


def float_to_pcm16(samples: Samples) -> bytes:
    """float32 in [-1, 1] -> 16-bit little-endian PCM (clipped)."""
    scaled = np.clip(np.round(samples * INT16_SCALE), -32768, 32767).astype("<i2")
    return scaled.tobytes()


def resample(samples: Samples, rate_in: int, rate_out: int) -> Samples:
    """Linear-interpolation resampling; plenty for a simulator's parrot."""
    if rate_in == rate_out or samples.size == 0:
        return samples.astype(np.float32)
    count = max(1, round(samples.size * rate_out / rate_in))
    positions = np.arange(count, dtype=np.float64) * (rate_in / rate_out)
    source = np.arange(samples.size, dtype=np.float64)
    return np.interp(positions, source, samples).astype(np.float32)


def rms_dbfs(samples: Samples) -> float:
    """Root-mean-square level in dB relative to full scale; -120 for silence."""
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * float(np.log10(rms)) if rms > 1e-6 else -120.0
