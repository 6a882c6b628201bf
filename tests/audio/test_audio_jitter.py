"""The jitter buffer core (edgevoice.audio.jitter): pure, no threads, no devices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgevoice.audio.jitter import JitterBuffer


def ramp(n: int, start: int = 1) -> np.ndarray:
    """Distinct, non-zero samples so every position is recognisable."""
    return (np.arange(start, start + n) / 100_000).astype(np.float32)


def test_silence_until_the_prebuffer_threshold_then_the_queued_audio_in_order() -> None:
    buf = JitterBuffer(prebuffer=100, fade=0, capacity=10_000)
    buf.push(ramp(99))
    first = buf.pull(40)
    assert not buf.playing
    assert first.audio == 0 and not first.samples.any() and not first.underrun
    assert buf.buffered == 99  # nothing consumed while prebuffering

    buf.push(ramp(1, start=100))  # now exactly at the threshold
    second = buf.pull(40)
    assert buf.playing
    assert second.audio == 40
    np.testing.assert_array_equal(second.samples, ramp(40))
    np.testing.assert_array_equal(buf.pull(60).samples, ramp(60, start=41))
    assert buf.underruns == 0


def test_zero_prebuffer_starts_at_once() -> None:
    buf = JitterBuffer(prebuffer=0, fade=0, capacity=100)
    buf.push(ramp(10))
    assert buf.pull(10).audio == 10


def test_underrun_is_counted_once_and_playback_waits_for_the_cushion_again() -> None:
    buf = JitterBuffer(prebuffer=50, fade=0, capacity=10_000)
    buf.push(ramp(70))
    assert buf.pull(40).audio == 40
    dry = buf.pull(40)  # only 30 left: ran dry mid-stream
    assert dry.underrun and dry.audio == 30 and buf.underruns == 1
    np.testing.assert_array_equal(dry.samples[:30], ramp(30, start=41))
    assert not dry.samples[30:].any()
    assert not buf.playing

    # Idle silence while re-buffering is not another underrun.
    for _ in range(5):
        idle = buf.pull(40)
        assert not idle.underrun and idle.audio == 0
    buf.push(ramp(49, start=500))
    assert buf.pull(40).audio == 0  # below the threshold again
    buf.push(ramp(1, start=549))
    assert buf.pull(40).audio == 40
    assert buf.underruns == 1


def test_drain_plays_below_the_threshold_and_reports_the_last_pull() -> None:
    buf = JitterBuffer(prebuffer=1000, fade=0, capacity=10_000)
    buf.push(ramp(70))
    assert buf.pull(40).audio == 0
    assert buf.drain() is False
    a = buf.pull(40)
    assert a.audio == 40 and not a.drained
    b = buf.pull(40)
    assert b.audio == 30 and b.drained and not b.underrun  # running out after drain is no underrun
    assert buf.underruns == 0 and not buf.draining
    assert buf.drain() is True  # nothing left: no need to wait


def test_drain_ending_exactly_on_a_period_boundary() -> None:
    buf = JitterBuffer(prebuffer=0, fade=0, capacity=1000)
    buf.push(ramp(80))
    buf.drain()
    assert not buf.pull(40).drained
    assert buf.pull(40).drained


def test_clear_leaves_only_a_decaying_fade_of_where_playback_stood() -> None:
    fade = 16
    buf = JitterBuffer(prebuffer=0, fade=fade, capacity=10_000)
    level = np.full(1000, 0.5, np.float32)
    buf.push(level)
    buf.pull(100)
    discarded = buf.clear()
    assert discarded == 900 - fade  # the first `fade` of them became the fade-out
    assert buf.buffered == 0 and not buf.playing

    after = buf.pull(40)
    assert after.audio == fade
    tail = after.samples[:fade]
    assert tail[0] < 0.5 and tail[0] > 0.4  # continues the waveform, already going down
    assert np.all(np.diff(tail) < 0)  # strictly decaying
    assert tail[-1] == 0.0
    assert not after.samples[fade:].any()
    assert not buf.pull(40).samples.any()
    assert buf.audio_out == 100 + fade


def test_clear_before_playback_started_plays_nothing() -> None:
    buf = JitterBuffer(prebuffer=500, fade=16, capacity=10_000)
    buf.push(ramp(100))
    buf.clear()
    pulled = buf.pull(40)
    assert pulled.audio == 0 and not pulled.samples.any()


def test_audio_after_clear_waits_for_the_threshold_again() -> None:
    buf = JitterBuffer(prebuffer=50, fade=4, capacity=10_000)
    buf.push(ramp(200))
    buf.pull(40)
    buf.clear()
    buf.push(ramp(30, start=1000))
    pulled = buf.pull(40)
    assert pulled.audio == 4  # just the fade; the new 30 samples wait for the cushion
    buf.push(ramp(20, start=1030))
    np.testing.assert_array_equal(buf.pull(50).samples, ramp(50, start=1000))


def test_clear_during_drain_completes_the_drain_after_the_fade() -> None:
    buf = JitterBuffer(prebuffer=0, fade=8, capacity=10_000)
    buf.push(ramp(500))
    buf.pull(10)
    assert buf.drain() is False
    buf.clear()
    assert buf.draining
    assert buf.pull(40).drained


def test_capacity_drops_the_excess_and_counts_it() -> None:
    buf = JitterBuffer(prebuffer=0, fade=0, capacity=100)
    assert buf.push(ramp(80)) == 80
    assert buf.push(ramp(50, start=81)) == 20
    assert buf.dropped == 30 and buf.buffered == 100
    np.testing.assert_array_equal(buf.pull(100).samples, ramp(100))


def test_reset_forgets_audio_fade_and_drain_but_keeps_counters() -> None:
    buf = JitterBuffer(prebuffer=0, fade=8, capacity=1000)
    buf.push(ramp(100))
    buf.pull(10)
    buf.clear()
    buf.drain()
    buf.reset()
    assert not buf.pull(20).samples.any()
    assert buf.audio_out == 10 and not buf.draining


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        JitterBuffer(prebuffer=-1, fade=0, capacity=10)
    with pytest.raises(ValueError):
        JitterBuffer(prebuffer=100, fade=0, capacity=10)


@settings(max_examples=60, deadline=None)
@given(
    pushes=st.lists(st.integers(0, 300), min_size=1, max_size=20),
    pulls=st.lists(st.integers(1, 200), min_size=1, max_size=20),
    prebuffer=st.integers(0, 400),
)
def test_every_pushed_sample_comes_out_once_in_order(
    pushes: list[int], pulls: list[int], prebuffer: int
) -> None:
    """Whatever the chunking, underruns only insert silence: audio is never lost or repeated."""
    buf = JitterBuffer(prebuffer=prebuffer, fade=0, capacity=1 << 20)
    total = sum(pushes)
    source = ramp(total)
    got: list[np.ndarray] = []
    offset = 0
    for i, size in enumerate(pushes):
        buf.push(source[offset : offset + size])
        offset += size
        pulled = buf.pull(pulls[i % len(pulls)])
        got.append(pulled.samples[: pulled.audio] if not pulled.underrun else pulled.samples)
    buf.drain()
    while buf.buffered or buf.draining:
        got.append(buf.pull(64).samples)
    out = np.concatenate(got)
    audio = out[out != 0]  # the source has no zeros, so non-zero samples are the audio
    np.testing.assert_array_equal(audio, source)
    assert buf.audio_out == total
