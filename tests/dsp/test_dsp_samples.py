"""Sample conversion, downmix, gain, level meter, framer and fades."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgevoice.audio.dsp import (
    Framer,
    Level,
    apply_gain,
    deinterleave,
    downmix,
    fade_in,
    fade_out,
    float32_to_int16,
    int16_to_float32,
    measure_level,
)

int16_arrays = hnp.arrays(np.int16, st.integers(0, 400))
float_samples = st.floats(-4.0, 4.0, allow_nan=False, width=32)


# -- int16 <-> float32 -----------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(samples=int16_arrays)
def test_int16_round_trip_is_exact_for_bytes_and_arrays(samples: np.ndarray) -> None:
    from_bytes = int16_to_float32(samples.astype("<i2").tobytes())
    from_array = int16_to_float32(samples)
    assert from_bytes.dtype == from_array.dtype == np.float32
    assert np.array_equal(from_bytes, from_array)
    assert np.all(from_bytes >= -1.0) and np.all(from_bytes < 1.0)
    assert np.array_equal(float32_to_int16(from_bytes), samples)


def test_int16_scaling_and_shape() -> None:
    pcm = np.array([[0, -32768], [16384, 32767]], dtype=np.int16)
    x = int16_to_float32(pcm)
    assert x.shape == (2, 2)
    assert x.tolist() == [[0.0, -1.0], [0.5, 32767 / 32768]]


def test_odd_byte_count_is_refused() -> None:
    with pytest.raises(ValueError, match="even number of bytes"):
        int16_to_float32(b"\x00\x01\x02")


@settings(max_examples=100, deadline=None)
@given(x=hnp.arrays(np.float32, st.integers(0, 300), elements=float_samples))
def test_float32_to_int16_rounds_and_saturates(x: np.ndarray) -> None:
    y = float32_to_int16(x)
    expected = np.clip(np.rint(x.astype(np.float64) * 32768.0), -32768, 32767)
    assert y.dtype == np.int16
    assert np.array_equal(y, expected.astype(np.int16))


def test_float32_to_int16_handles_non_finite() -> None:
    y = float32_to_int16(np.array([np.nan, np.inf, -np.inf, 1.0, -1.0], dtype=np.float32))
    assert y.tolist() == [0, 32767, -32768, 32767, -32768]


# -- deinterleave and downmix ------------------------------------------------------------------


def test_deinterleave_shapes_frames_by_channels() -> None:
    pcm = np.arange(12, dtype="<i2").tobytes()
    frames = deinterleave(pcm, 3)
    assert frames.shape == (4, 3)
    assert frames[:, 0].tolist() == [0, 3, 6, 9]
    frames[0, 0] = 5  # a fresh, writable array
    assert deinterleave(b"", 2).shape == (0, 2)


@pytest.mark.parametrize(("length", "channels"), [(3, 1), (6, 2), (10, 4)])
def test_deinterleave_refuses_a_partial_frame(length: int, channels: int) -> None:
    with pytest.raises(ValueError, match="partial frame"):
        deinterleave(bytes(length), channels)


def test_deinterleave_refuses_zero_channels() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        deinterleave(b"", 0)


def test_downmix_modes() -> None:
    x = np.array([[0.5, -0.25, 0.1], [0.2, 0.4, 0.3]], dtype=np.float32)
    assert downmix(x).tolist() == pytest.approx([(0.5 - 0.25 + 0.1) / 3, (0.2 + 0.4 + 0.3) / 3])
    assert downmix(x, "left").tolist() == pytest.approx([0.5, 0.2])
    assert downmix(x, "right").tolist() == pytest.approx([-0.25, 0.4])
    assert downmix(x, "channel:2").tolist() == pytest.approx([0.1, 0.3])
    assert downmix(x).dtype == np.float32
    mono = np.array([0.1, 0.2], dtype=np.float32)
    assert downmix(mono).tolist() == pytest.approx([0.1, 0.2])


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("right", "channel 1"),
        ("channel:1", "channel 1"),
        ("middle", "unknown"),
        ("channel:x", "0-based"),
    ],
)
def test_downmix_refuses_bad_modes_with_the_fix(mode: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        downmix(np.zeros((4, 1), dtype=np.float32), mode)


# -- gain ------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    x=hnp.arrays(
        np.float32, st.integers(1, 200), elements=st.floats(-2.0, 2.0, width=32, allow_nan=False)
    ),
    gain_db=st.floats(-60.0, 60.0),
)
def test_gain_never_wraps_and_keeps_the_sign(x: np.ndarray, gain_db: float) -> None:
    y = apply_gain(x, gain_db)
    assert y.dtype == np.float32
    assert np.all(np.abs(y) <= 1.0)
    pcm = float32_to_int16(y)
    # A loud positive sample never turns into a negative one (the wrap-around click).
    assert np.all(pcm[x > 0.001] >= 0) and np.all(pcm[x < -0.001] <= 0)
    # Monotonic: a louder input never comes out quieter.
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(y[order].astype(np.float64)) >= 0)


@settings(max_examples=100, deadline=None)
@given(
    x=hnp.arrays(
        np.float32,
        st.integers(1, 200),
        elements=st.floats(-0.0625, 0.0625, width=32, allow_nan=False),
    ),
    gain_db=st.floats(-40.0, 20.0),
)
def test_gain_is_exact_below_the_limiter_knee(x: np.ndarray, gain_db: float) -> None:
    factor = np.float32(10.0 ** (gain_db / 20.0))
    assert np.array_equal(apply_gain(x, gain_db), x * factor)


def test_gain_limits_smoothly_to_full_scale() -> None:
    y = apply_gain(np.array([0.5, 0.95, 2.0, -100.0, np.inf, np.nan], dtype=np.float32), 0.0)
    assert y[0] == 0.5
    assert 0.9 < y[1] < 0.95
    assert 0.95 < y[2] <= 1.0
    assert y[3] == -1.0 and y[4] == 1.0 and y[5] == 0.0
    with pytest.raises(ValueError, match="finite"):
        apply_gain(y, math.inf)


# -- level -----------------------------------------------------------------------------------


def test_level_of_a_full_scale_sine() -> None:
    t = np.arange(48000) / 48000
    level = measure_level(np.sin(2 * np.pi * 1000 * t).astype(np.float32))
    assert level.rms_dbfs == pytest.approx(-3.0103, abs=0.001)
    assert level.peak_dbfs == pytest.approx(0.0, abs=0.001)
    assert abs(level.dc_offset) < 1e-6


def test_level_of_a_quiet_sine_with_dc() -> None:
    t = np.arange(16000) / 16000
    x = (0.01 * np.sin(2 * np.pi * 440 * t) + 0.002).astype(np.float32)
    level = measure_level(x)
    expected_rms = math.sqrt(0.01**2 / 2 + 0.002**2)
    assert level.rms_dbfs == pytest.approx(20 * math.log10(expected_rms), abs=0.01)
    assert level.peak_dbfs == pytest.approx(20 * math.log10(0.012), abs=0.01)
    assert level.dc_offset == pytest.approx(0.002, abs=1e-6)
    assert level.clipped == 0


def test_level_of_silence_and_empty_is_finite() -> None:
    silence = Level(-120.0, -120.0, 0, 0.0)
    assert measure_level(np.zeros(100, dtype=np.float32)) == silence
    assert measure_level(np.zeros(0, dtype=np.float32)) == silence
    tiny = measure_level(np.full(10, 1e-9, dtype=np.float32))
    assert tiny.rms_dbfs == -120.0 and math.isfinite(tiny.peak_dbfs)


def test_level_counts_clipped_samples() -> None:
    x = int16_to_float32(np.array([32767, -32768, 32766, 0, -32767], dtype=np.int16))
    level = measure_level(x)
    assert level.clipped == 3
    assert level.peak_dbfs == 0.0


# -- framer ----------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    frame=st.integers(1, 50),
    sizes=st.lists(st.integers(0, 120), max_size=20),
    dtype=st.sampled_from([np.float32, np.int16]),
)
def test_framer_cuts_any_chunking_into_exact_frames(
    frame: int, sizes: list[int], dtype: type
) -> None:
    stream = np.arange(sum(sizes)).astype(dtype)
    framer = Framer(frame)
    frames, pos = [], 0
    for size in sizes:
        out = framer.push(stream[pos : pos + size])
        pos += size
        frames += out
        assert framer.pending == pos - len(frames) * frame
        assert 0 <= framer.pending < frame
    assert all(f.shape == (frame,) and f.dtype == dtype for f in frames)
    joined = np.concatenate(frames) if frames else stream[:0]
    assert np.array_equal(joined, stream[: len(frames) * frame])
    assert len(frames) == len(stream) // frame


def test_framer_frames_are_copies_and_reset_drops_pending() -> None:
    framer = Framer(4)
    chunk = np.arange(6, dtype=np.int16)
    (frame,) = framer.push(chunk)
    chunk[:] = -1
    assert frame.tolist() == [0, 1, 2, 3]
    assert framer.pending == 2
    framer.reset()
    assert framer.pending == 0
    assert framer.push(np.arange(4, dtype=np.int16))[0].tolist() == [0, 1, 2, 3]


def test_framer_refuses_mixed_dtypes_and_bad_shapes() -> None:
    framer = Framer(4)
    framer.push(np.zeros(2, dtype=np.float32))
    with pytest.raises(ValueError, match="reset"):
        framer.push(np.zeros(2, dtype=np.int16))
    with pytest.raises(ValueError, match="1-D"):
        framer.push(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="at least 1"):
        Framer(0)


# -- fades -----------------------------------------------------------------------------------


def test_fades_start_and_end_at_silence_without_steps() -> None:
    x = np.ones(100, dtype=np.float32)
    up, down = fade_in(x, 48), fade_out(x, 48)
    assert up[0] == 0.0 and down[-1] == 0.0
    assert np.all(np.diff(up[:48]) > 0) and np.all(up[48:] == 1.0)
    assert np.all(np.diff(down[-48:]) < 0) and np.all(down[:52] == 1.0)
    # Raised cosine: the largest step is pi/(2*48) of full scale (a linear ramp's is 1/48
    # everywhere, including the corners where a raised cosine's slope is zero).
    assert np.max(np.abs(np.diff(up))) <= math.pi / 96 + 1e-6
    assert np.max(np.abs(np.diff(up[:4]))) < 0.01
    assert np.array_equal(x, np.ones(100, dtype=np.float32))  # input untouched


def test_fades_on_short_blocks_and_stereo() -> None:
    short = fade_out(np.ones(10, dtype=np.float32), 48)
    assert short[-1] == 0.0 and short[0] < 0.1  # only the end of the ramp
    stereo = fade_in(np.ones((20, 2), dtype=np.float32), 10)
    assert stereo.shape == (20, 2)
    assert np.array_equal(stereo[:, 0], stereo[:, 1]) and stereo[0, 0] == 0.0
    assert fade_in(np.ones(5, dtype=np.float32), 0).tolist() == [1.0] * 5
