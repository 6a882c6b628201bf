"""Audio sample arithmetic: format conversion, downmix, gain, level metering, framing, fades.

Everything here is pure numpy: no I/O, no clocks, no state shared between objects. Samples are
float32 in [-1.0, 1.0) ("full scale" is 1.0) or int16 (full scale is 32768); mono signals are
1-D arrays, multichannel signals are 2-D arrays shaped (frames, channels).

The streaming resampler lives in `edgevoice.audio.resampler` and is re-exported here, so
callers only ever import `edgevoice.audio.dsp`.

Typical capture path (what the microphone adapter does with each PortAudio buffer)::

    frames = deinterleave(pcm, channels)            # int16, (n, channels)
    mono = downmix(int16_to_float32(frames))        # float32, (n,)
    for frame in framer.push(resampler.process(mono)):
        queue.put(float32_to_int16(frame).tobytes())
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from edgevoice.audio.resampler import SUPPORTED_RATE_RANGE, StreamingResampler

__all__ = [
    "SUPPORTED_RATE_RANGE",
    "Float32Array",
    "Framer",
    "Int16Array",
    "Level",
    "StreamingResampler",
    "apply_gain",
    "deinterleave",
    "downmix",
    "fade_in",
    "fade_out",
    "float32_to_int16",
    "int16_to_float32",
    "measure_level",
]

Float32Array = npt.NDArray[np.float32]
Int16Array = npt.NDArray[np.int16]

_INT16_SCALE = 32768.0
# Level reported for digital silence instead of -inf (no log of zero, no NaN in the journal).
SILENCE_DBFS = -120.0
# Where the soft limiter in apply_gain starts bending the curve: -0.92 dBFS.
LIMITER_KNEE = 0.9


# --------------------------------------------------------------------------------------------
# Format conversion


def int16_to_float32(pcm: bytes | Int16Array) -> Float32Array:
    """Convert signed 16-bit samples to float32 in [-1.0, 1.0) by dividing by 32768.

    `pcm` is little-endian S16 `bytes` (gives a 1-D array) or an int16 array (its shape is
    kept, so a (frames, channels) array stays 2-D). Raises ValueError on an odd byte count.
    """
    if isinstance(pcm, (bytes, bytearray, memoryview)):
        if len(pcm) % 2:
            raise ValueError(
                f"int16 PCM must have an even number of bytes, got {len(pcm)}; "
                "pass whole 16-bit samples"
            )
        samples = np.frombuffer(pcm, dtype="<i2")
    else:
        samples = np.asarray(pcm)
        if samples.dtype != np.int16:
            raise ValueError(f"expected int16 samples, got {samples.dtype}")
    out: Float32Array = samples.astype(np.float32)
    out *= np.float32(1.0 / _INT16_SCALE)
    return out


def float32_to_int16(x: Float32Array) -> Int16Array:
    """Convert float samples to int16: scale by 32768, round to nearest, clip to the int16 range.

    Values beyond full scale saturate at -32768 / 32767 (never wrap around); NaN becomes 0.
    The shape is kept.
    """
    scaled = np.asarray(x, dtype=np.float32) * np.float32(_INT16_SCALE)
    # rint and clip keep NaN as NaN and saturate the infinities; the NaNs (rare: a broken
    # source) are then zeroed. nan_to_num first would cost as much as the rest together, on
    # every capture frame and playback period (`edgevoice bench`).
    np.rint(scaled, out=scaled)
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    if np.isnan(scaled).any():
        scaled[np.isnan(scaled)] = 0.0
    return scaled.astype(np.int16)


def deinterleave(pcm: bytes, channels: int) -> Int16Array:
    """Split interleaved little-endian S16 PCM into an int16 array shaped (frames, channels).

    Raises ValueError when `channels` is not positive or `pcm` ends in a partial frame (its
    length must be a multiple of 2 * channels bytes). The result is a fresh, writable array.
    """
    if channels < 1:
        raise ValueError(f"channels must be at least 1, got {channels}")
    frame_bytes = 2 * channels
    if len(pcm) % frame_bytes:
        raise ValueError(
            f"PCM length {len(pcm)} bytes is not a whole number of {channels}-channel frames "
            f"({frame_bytes} bytes each); the buffer ends in a partial frame"
        )
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.int16)
    return samples.reshape(-1, channels)


# --------------------------------------------------------------------------------------------
# Channels, gain, level


def downmix(x: Float32Array, mode: str = "average") -> Float32Array:
    """Reduce a (frames, channels) signal to mono (frames,).

    `mode` is "average" (mean of all channels), "left" (channel 0), "right" (channel 1) or
    "channel:N" (0-based channel N, so "channel:0" is the left one). A 1-D input is already
    mono and is returned as a float32 copy for "average", "left" and "channel:0".
    Raises ValueError for an unknown mode or a channel the signal does not have.
    """
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[:, np.newaxis]
    elif arr.ndim != 2:
        raise ValueError(f"downmix expects a (frames, channels) array, got shape {arr.shape}")
    n_channels = arr.shape[1]
    if mode == "average":
        if n_channels == 1:
            return arr[:, 0].copy()
        if n_channels == 2:
            # What mean() computes for two channels ((a + b) / 2 in float32, bit for bit), at
            # a sixth of its cost: mean's reduction machinery dominated the capture path of a
            # stereo microphone (50 calls a second; `edgevoice bench`).
            both: Float32Array = arr[:, 0] + arr[:, 1]
            both *= np.float32(0.5)
            return both
        mean: Float32Array = arr.mean(axis=1, dtype=np.float32)
        return mean
    if mode == "left":
        index = 0
    elif mode == "right":
        index = 1
    elif mode.startswith("channel:"):
        text = mode.removeprefix("channel:")
        if not text.isdigit():
            raise ValueError(
                f"bad downmix mode {mode!r}: write channel:N with a 0-based channel number"
            )
        index = int(text)
    else:
        raise ValueError(
            f"unknown downmix mode {mode!r}; use average, left, right or channel:N (0-based)"
        )
    if index >= n_channels:
        raise ValueError(
            f"downmix mode {mode!r} needs channel {index} but the signal has "
            f"{n_channels} channel(s); pick a channel below {n_channels}"
        )
    return arr[:, index].copy()


def apply_gain(x: Float32Array, gain_db: float) -> Float32Array:
    """Multiply by `gain_db` decibels, with a soft limiter so the result never leaves [-1, 1].

    Samples whose magnitude after the gain stays at or below LIMITER_KNEE (0.9, about
    -0.9 dBFS) are exactly x * gain. Above the knee a tanh curve bends them smoothly towards
    full scale (continuous in value and slope, so no hard-clipping buzz), and even an infinite
    input ends at exactly +/-1.0; float32_to_int16 then saturates instead of wrapping.
    NaN samples become 0. Returns a new array; `x` is not changed.
    """
    if not math.isfinite(gain_db):
        raise ValueError(f"gain must be a finite number of dB, got {gain_db}")
    y = np.asarray(x, dtype=np.float32) * np.float32(10.0 ** (gain_db / 20.0))
    np.nan_to_num(y, copy=False, nan=0.0)
    magnitude = np.abs(y)
    over = magnitude > LIMITER_KNEE
    if np.any(over):
        headroom = 1.0 - LIMITER_KNEE
        excess = (magnitude[over].astype(np.float64) - LIMITER_KNEE) / headroom
        limited = LIMITER_KNEE + headroom * np.tanh(excess)
        y[over] = np.copysign(limited, y[over]).astype(np.float32)
    return y


@dataclass(frozen=True)
class Level:
    """The level of a block of samples, in dB relative to full scale (1.0).

    rms_dbfs: 20*log10(RMS); a full-scale sine reads -3.01 (no +3 dB sine correction).
    peak_dbfs: 20*log10(max |x|).
    clipped: number of samples at or beyond int16 full scale (|x| >= 32767/32768).
    dc_offset: the mean sample value (a healthy microphone reads close to 0.0).
    Both dB figures are floored at SILENCE_DBFS (-120.0), so silence never gives -inf or NaN.
    """

    rms_dbfs: float
    peak_dbfs: float
    clipped: int
    dc_offset: float


def _dbfs(amplitude: float) -> float:
    if amplitude <= 0.0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 20.0 * math.log10(amplitude))


def measure_level(x: Float32Array) -> Level:
    """Measure RMS, peak, clipped-sample count and DC offset of a float32 block (any shape).

    An empty block or digital silence gives Level(-120.0, -120.0, 0, 0.0). Non-finite samples
    (NaN, inf) are counted as 0.0.
    """
    arr = np.nan_to_num(
        np.asarray(x, dtype=np.float64).reshape(-1), nan=0.0, posinf=0.0, neginf=0.0
    )
    if arr.size == 0:
        return Level(SILENCE_DBFS, SILENCE_DBFS, 0, 0.0)
    rms = math.sqrt(float(np.mean(arr * arr)))
    peak = float(np.max(np.abs(arr)))
    clipped = int(np.count_nonzero(np.abs(arr) >= 32767.0 / _INT16_SCALE))
    return Level(_dbfs(rms), _dbfs(peak), clipped, float(np.mean(arr)))


# --------------------------------------------------------------------------------------------
# Framing and fades


class Framer:
    """Cut a stream of arbitrarily sized chunks into frames of exactly `frame_samples` samples.

    push() returns every complete frame (copies, in order, same dtype as the input) and keeps
    the remainder for the next call; nothing is dropped or duplicated. All chunks of one stream
    must have the same dtype (float32 or int16); reset() starts a new stream.
    """

    def __init__(self, frame_samples: int) -> None:
        if frame_samples < 1:
            raise ValueError(f"frame_samples must be at least 1, got {frame_samples}")
        self._frame = frame_samples
        self._pending: npt.NDArray[np.float32] | npt.NDArray[np.int16] | None = None

    @property
    def frame_samples(self) -> int:
        return self._frame

    @property
    def pending(self) -> int:
        """Samples held back, waiting for the rest of their frame (always < frame_samples)."""
        return 0 if self._pending is None else int(self._pending.shape[0])

    @overload
    def push(self, x: Float32Array) -> list[Float32Array]: ...

    @overload
    def push(self, x: Int16Array) -> list[Int16Array]: ...

    def push(self, x: Float32Array | Int16Array) -> list[Float32Array] | list[Int16Array]:
        """Add a 1-D chunk; return the complete frames it finishes (possibly none)."""
        if x.ndim != 1:
            raise ValueError(f"Framer takes 1-D mono chunks, got shape {x.shape}")
        if x.dtype not in (np.float32, np.int16):
            raise ValueError(f"Framer takes float32 or int16 samples, got {x.dtype}")
        if self._pending is not None and self._pending.shape[0] and x.dtype != self._pending.dtype:
            raise ValueError(
                f"Framer holds {self._pending.dtype} samples but got {x.dtype}; "
                "convert first or call reset() to start a new stream"
            )
        data: Any = x if self._pending is None else np.concatenate((self._pending, x))
        cut = (data.shape[0] // self._frame) * self._frame
        frames = [data[i : i + self._frame].copy() for i in range(0, cut, self._frame)]
        self._pending = data[cut:].copy()
        return frames

    def reset(self) -> None:
        """Drop any pending samples."""
        self._pending = None


def _raised_cosine(samples: int) -> npt.NDArray[np.float64]:
    # 0.0 at the first sample, rising along half a cosine period towards 1.0: its slope is zero
    # at both ends, which is what keeps a fade from clicking.
    return 0.5 - 0.5 * np.cos(np.pi * np.arange(samples) / samples)


def fade_in(x: Float32Array, samples: int) -> Float32Array:
    """Return `x` with a raised-cosine fade over its first `samples` samples (first one is 0).

    A block shorter than the fade gets only the start of the ramp. Works on (frames,) and
    (frames, channels) arrays; `x` is not changed.
    """
    y = np.array(x, dtype=np.float32)
    n = min(max(samples, 0), y.shape[0])
    if n:
        ramp = _raised_cosine(samples)[:n].astype(np.float32)
        y[:n] *= ramp.reshape((n,) + (1,) * (y.ndim - 1))
    return y


def fade_out(x: Float32Array, samples: int) -> Float32Array:
    """Return `x` with a raised-cosine fade over its last `samples` samples (last one is 0).

    The mirror image of fade_in: the block ends in silence, so stopping playback after it does
    not click. A block shorter than the fade gets only the end of the ramp.
    """
    y = np.array(x, dtype=np.float32)
    n = min(max(samples, 0), y.shape[0])
    if n:
        ramp = _raised_cosine(samples)[::-1][-n:].astype(np.float32)
        y[y.shape[0] - n :] *= ramp.reshape((n,) + (1,) * (y.ndim - 1))
    return y
