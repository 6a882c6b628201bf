"""The streaming resampler: chunking never changes the output, exact lengths, alignment."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgevoice.audio.dsp import SUPPORTED_RATE_RANGE, StreamingResampler
from edgevoice.audio.resampler import design_filter
from edgevoice.audio.resampler_layouts import choose_layout

COMMON_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000)
# Ratios with a huge L (taps interpolated instead of tabulated) and odd primes.
ODD_PAIRS = ((44101, 16000), (16000, 44101), (8000, 191999), (96000, 8009), (12345, 54321))

rate_pairs = st.one_of(
    st.tuples(st.sampled_from(COMMON_RATES), st.sampled_from(COMMON_RATES)),
    st.sampled_from(ODD_PAIRS),
)


def signal(n: int, seed: int) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def one_shot(r: StreamingResampler, x: np.ndarray) -> np.ndarray:
    return np.concatenate((r.process(x), r.flush()))


def chunked(r: StreamingResampler, x: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    pieces, pos = [], 0
    for size in sizes:
        pieces.append(r.process(x[pos : pos + size]))
        pos += size
    pieces.append(r.process(x[pos:]))
    pieces.append(r.flush())
    return pieces


@settings(max_examples=60, deadline=None)
@given(
    pair=rate_pairs,
    n=st.integers(0, 2500),
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(0, 700), max_size=12),
)
def test_chunked_output_equals_one_shot_bit_for_bit(
    pair: tuple[int, int], n: int, seed: int, sizes: list[int]
) -> None:
    x = signal(n, seed)
    whole = one_shot(StreamingResampler(*pair), x)
    pieces = chunked(StreamingResampler(*pair), x, sizes)
    streamed = np.concatenate(pieces)
    assert all(p.dtype == np.float32 for p in pieces)
    assert streamed.tobytes() == whole.tobytes()


@settings(max_examples=40, deadline=None)
@given(pair=rate_pairs, sizes=st.lists(st.integers(0, 900), max_size=15))
def test_stream_length_follows_the_ratio_exactly(pair: tuple[int, int], sizes: list[int]) -> None:
    in_rate, out_rate = pair
    r = StreamingResampler(in_rate, out_rate)
    n_in = n_out = 0
    for size in sizes:
        n_out += r.process(np.zeros(size, dtype=np.float32)).shape[0]
        n_in += size
        # Never ahead of the input, never behind it by more than the look-ahead, one group of
        # outputs (held back together) and one output period.
        owed = n_in * out_rate / in_rate - n_out
        assert owed >= -1e-9
        assert owed <= r.delay_seconds * out_rate + 5
    n_out += r.flush().shape[0]
    assert n_out == math.ceil(n_in * out_rate / in_rate)
    assert n_out == -(-n_in * out_rate // in_rate)


@pytest.mark.parametrize(
    ("in_rate", "out_rate"),
    [
        *((48000, 16000), (44100, 16000), (24000, 48000), (24000, 44100), (32000, 16000)),
        *((8000, 48000), (96000, 16000), (22050, 16000), (16000, 24000), *ODD_PAIRS[:2]),
    ],
)
def test_output_sample_k_is_the_input_at_time_k_over_out_rate(in_rate: int, out_rate: int) -> None:
    # A tone in the passband comes out at the same phase: no shift, no drift. The error
    # against the ideal samples is at the filter's ripple/stopband level.
    freq = 0.3 * min(in_rate, out_rate) / 2
    t_in = np.arange(in_rate // 2) / in_rate
    x = (0.5 * np.sin(2 * np.pi * freq * t_in + 0.3)).astype(np.float32)
    y = one_shot(StreamingResampler(in_rate, out_rate), x)
    t_out = np.arange(y.shape[0]) / out_rate
    ideal = 0.5 * np.sin(2 * np.pi * freq * t_out + 0.3)
    middle = slice(y.shape[0] // 5, -y.shape[0] // 5)
    error = np.max(np.abs(y[middle] - ideal[middle]))
    assert 20 * np.log10(error / 0.5) < -80


@pytest.mark.parametrize(
    ("in_rate", "out_rate"), [(48000, 16000), (44100, 16000), (24000, 48000), (24000, 44100)]
)
def test_daemon_conversions_add_at_most_2_ms_and_keep_unit_dc_gain(
    in_rate: int, out_rate: int
) -> None:
    r = StreamingResampler(in_rate, out_rate)
    assert 0 < r.delay_seconds <= 0.002
    y = one_shot(r, np.full(in_rate // 10, 0.5, dtype=np.float32))
    steady = y[y.shape[0] // 4 : -y.shape[0] // 4]
    assert np.max(np.abs(steady - 0.5)) < 1e-5


def test_every_common_pair_has_a_plan_and_a_finite_output() -> None:
    x = signal(3000, 7)
    for in_rate in COMMON_RATES:
        for out_rate in COMMON_RATES:
            y = one_shot(StreamingResampler(in_rate, out_rate), x)
            assert y.shape[0] == -(-3000 * out_rate // in_rate)
            assert np.all(np.isfinite(y))


def test_equal_rates_pass_samples_through_untouched() -> None:
    r = StreamingResampler(16000, 16000)
    x = signal(500, 3)
    assert r.process(x).tobytes() == x.tobytes()
    assert r.flush().shape == (0,)
    assert r.delay_seconds == 0.0


def test_flush_starts_a_new_stream_and_reset_drops_the_old_one() -> None:
    a, b = signal(1234, 1), signal(987, 2)
    fresh = one_shot(StreamingResampler(44100, 16000), b)
    r = StreamingResampler(44100, 16000)
    one_shot(r, a)
    assert one_shot(r, b).tobytes() == fresh.tobytes()
    r.process(a)
    r.reset()
    assert one_shot(r, b).tobytes() == fresh.tobytes()


def test_float64_input_is_converted() -> None:
    x = signal(2000, 5)
    a = one_shot(StreamingResampler(48000, 16000), x)
    b = one_shot(StreamingResampler(48000, 16000), x.astype(np.float64))
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("rate", [7999, 192001, 0, -16000, 16000.0, True])
def test_unsupported_rates_are_refused_with_the_range(rate: object) -> None:
    with pytest.raises(ValueError, match=r"8000 to 192000"):
        StreamingResampler(rate, 16000)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"out_rate"):
        StreamingResampler(16000, rate)  # type: ignore[arg-type]


def test_range_ends_are_supported() -> None:
    lo, hi = SUPPORTED_RATE_RANGE
    y = one_shot(StreamingResampler(hi, lo), signal(4800, 9))
    assert y.shape[0] == 200


def test_bad_quality_and_bad_input_are_refused() -> None:
    with pytest.raises(ValueError, match="quality"):
        StreamingResampler(48000, 16000, quality="best")
    r = StreamingResampler(48000, 16000)
    with pytest.raises(ValueError, match="int16_to_float32"):
        r.process(np.zeros(10, dtype=np.int16))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="downmix"):
        r.process(np.zeros((10, 2), dtype=np.float32))


def test_fast_quality_is_shorter_and_still_streams_exactly() -> None:
    hq, fast = design_filter(48000, 16000, "hq"), design_filter(48000, 16000, "fast")
    assert fast.taps < hq.taps
    x = signal(5000, 11)
    whole = one_shot(StreamingResampler(48000, 16000, quality="fast"), x)
    pieces = chunked(StreamingResampler(48000, 16000, quality="fast"), x, [1, 333, 0, 960])
    assert np.concatenate(pieces).tobytes() == whole.tobytes()


def test_each_layout_is_exercised() -> None:
    # The layouts are separate code paths; the pairs used above must cover all of them.
    pairs = [(48000, 16000), (44100, 16000), (24000, 48000), *ODD_PAIRS[:2], (16000, 16000)]
    layouts = {StreamingResampler(a, b).layout for a, b in pairs}
    assert layouts == {"strided", "grouped", "per_input", "interpolated", "identity"}


@pytest.mark.parametrize(
    ("in_rate", "out_rate", "layout"),
    [
        (48000, 16000, "strided"),  # L = 1, M = 3
        (96000, 16000, "strided"),
        (44100, 16000, "grouped"),  # 160/441
        (48000, 44100, "grouped"),  # 147/160
        (24000, 48000, "per_input"),  # 2/1
        (24000, 44100, "per_input"),  # 147/80
        (16000, 16000, "identity"),
        (44101, 16000, "interpolated"),  # L = 16000: too many phases to tabulate
        (16000, 44101, "interpolated"),
    ],
)
def test_the_factory_picks_the_layout_by_ratio(in_rate: int, out_rate: int, layout: str) -> None:
    assert choose_layout(in_rate, out_rate).name == layout
    assert StreamingResampler(in_rate, out_rate).layout == layout


def test_layouts_are_shared_and_read_only() -> None:
    a, b = choose_layout(44100, 16000), choose_layout(44100, 16000)
    assert a is b
    with pytest.raises(ValueError, match="read-only"):
        a.group_rows[0, 0, 0] = 1.0  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="8000 to 192000"):
        choose_layout(16000.0, 16000)  # type: ignore[arg-type]
