"""The playback adapter through real pyaudio on file-backed ALSA PCMs."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from scipy.signal import correlate, resample_poly

from edgevoice.adapters.playback import PyAudioPlayback, volume_gain
from edgevoice.errors import (
    AudioDeviceError,
    DeviceNotFoundError,
    DeviceStalledError,
    ErrorClass,
    error_class_of,
)
from edgevoice.ports import SINK_RATE_RANGE, SPEAKER_RATE

PATIENCE = 30.0  # generous bound on waits; never asserted as a duration


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll a counter the PortAudio thread updates (there is no event for it)."""
    async with asyncio.timeout(PATIENCE):
        for _ in itertools.count():
            if predicate():
                return
            await asyncio.sleep(0.005)


def locate(got: np.ndarray, ref: np.ndarray) -> tuple[int, float]:
    """Where `ref` starts in `got` (FFT cross-correlation) and the correlation coefficient there."""
    lag = int(np.argmax(correlate(got, ref, mode="valid", method="fft")))
    segment = got[lag : lag + len(ref)]
    return lag, float(np.corrcoef(segment, ref)[0, 1])


def model_audio(kit: SimpleNamespace, seconds: float) -> np.ndarray:
    return np.asarray(kit.tones(24000, seconds, (220.0, 1000.0, 5000.0), 0.6))


@pytest.mark.parametrize("channels", [1, 2], ids=["mono", "stereo"])
async def test_24k_model_audio_comes_out_of_a_48k_device_as_expected(
    alsa: Any, kit: SimpleNamespace, tmp_path: Path, channels: int
) -> None:
    out = tmp_path / "out.raw"
    alsa.speaker("testspk", out)
    alsa.mic("nullmic", Path("/dev/zero"))
    alsa.install("nullmic", "testspk")
    signal = model_audio(kit, 1.0)
    sink = PyAudioPlayback(device="testspk", rate=48000, channels=channels, volume=100)
    sink.set_volume(50)
    # Queued before start: the file device is not real time, so the whole answer must be in
    # the buffer before PortAudio starts pulling (otherwise it would hear silence between).
    # drain() before start only releases the resampler's tail and marks the end of the answer.
    sink.play(kit.to_pcm(signal), SPEAKER_RATE)
    await sink.drain()
    await sink.start()
    try:
        await sink.drain()
        stats = sink.stats
    finally:
        await sink.close()
    assert stats.rate == 48000 and stats.underruns == 0 and stats.buffered == 0
    assert stats.audio_handed == 2 * len(signal)  # exactly 2x the samples: 24 kHz -> 48 kHz

    got = kit.from_pcm(out.read_bytes(), channels)
    if channels == 2:
        np.testing.assert_array_equal(got[:, 0], got[:, 1])
        got = got[:, 0]
    ref = resample_poly(signal, 2, 1) * volume_gain(50)
    start, corr = locate(got, ref)
    assert corr >= 0.999, corr
    played = got[start : start + len(ref)]
    assert 0.97 < np.std(played) / np.std(ref) < 1.03  # 50 % volume = 0.25 amplitude
    assert not got[:start].any()  # only silence before the answer


async def test_play_takes_the_rate_the_audio_came_with_and_follows_a_change(
    alsa: Any, kit: SimpleNamespace, tmp_path: Path
) -> None:
    out = tmp_path / "out.raw"
    alsa.speaker("testspk", out)
    alsa.mic("nullmic", Path("/dev/zero"))
    alsa.install("nullmic", "testspk")
    first = np.asarray(kit.tones(16000, 0.5, (300.0, 2000.0), 0.5))
    second = np.asarray(kit.tones(24000, 0.5, (440.0, 3000.0), 0.5))
    third = np.asarray(kit.tones(48000, 0.25, (700.0,), 0.5))
    sink = PyAudioPlayback(device="testspk", rate=48000, volume=100)
    sink.play(kit.to_pcm(first), 16000)
    sink.play(kit.to_pcm(second), SPEAKER_RATE)  # a new rate: the 16 kHz stretch ends here
    sink.play(kit.to_pcm(third), 48000)  # the device rate: passed through
    await sink.drain()
    await sink.start()
    try:
        await sink.drain()
        stats = sink.stats
    finally:
        await sink.close()
    # Every stretch keeps its exact length at 48 kHz (3x, 2x, 1x): nothing lost at a change.
    assert stats.audio_handed == 3 * len(first) + 2 * len(second) + len(third)
    got = kit.from_pcm(out.read_bytes())
    pieces = (resample_poly(first, 3, 1), resample_poly(second, 2, 1), third)
    position, _ = locate(got, pieces[0])
    for ref in pieces:  # back to back, in order
        segment = got[position : position + len(ref)]
        assert np.corrcoef(segment, ref)[0, 1] > 0.999, position
        position += len(ref)


@pytest.mark.parametrize("rate", [0, 1, SINK_RATE_RANGE[0] - 1, SINK_RATE_RANGE[1] + 1, 24000.0])
def test_play_refuses_a_rate_it_cannot_take_and_queues_nothing(rate: Any) -> None:
    sink = PyAudioPlayback(device="nowhere")  # never started: no device is needed to refuse
    with pytest.raises(ValueError, match=r"cannot play audio at .* Hz: the speaker takes 8000"):
        sink.play(b"\1\0" * 480, rate)
    assert sink.stats.buffered == 0
    sink.play(b"\1\0" * 480, SPEAKER_RATE)
    assert sink.stats.buffered > 0


async def test_clear_silences_playback_within_one_period(alsa: Any, kit: SimpleNamespace) -> None:
    """A FIFO as the speaker file paces the device: PortAudio's thread blocks once the pipe is
    full, so clear() lands while most of the answer is still queued. What the device received
    is then read back and compared with the audio handed out before the clear."""
    fifo = alsa.fifo("spk.fifo")
    alsa.speaker("testspk", fifo.path)
    alsa.mic("nullmic", Path("/dev/zero"))
    alsa.install("nullmic", "testspk")
    rate, period = 48000, 960  # 20 ms periods
    # Every sample of this answer is positive, so non-zero output samples are answer samples.
    t = np.arange(24000 * 3) / 24000
    signal = 0.3 + 0.2 * np.sin(2 * np.pi * 300 * t)
    sink = PyAudioPlayback(device="testspk", rate=rate, volume=100, period_ms=20, fade_ms=4)
    sink.play(kit.to_pcm(signal), SPEAKER_RATE)
    await sink.start()
    drain = None
    try:
        # Ten periods in (the pipe holds about 34 before the device thread blocks).
        await wait_until(lambda: sink.stats.audio_handed >= 10 * period)
        sink.clear()
        at_clear = sink.stats.audio_before_clear
        handed_at_clear = sink.stats.handed
        assert 0 < at_clear < len(signal)  # the clear lands mid-answer (6 s queued at 48 kHz)
        drain = kit.FifoDrain(fifo)
        # Let the device run well past where the answer would have ended without the clear.
        await wait_until(lambda: sink.stats.handed > handed_at_clear + 2 * len(signal))
        stats = sink.stats
    finally:
        await sink.close()
        data = drain.stop() if drain else b""
    got = kit.from_pcm(data)
    heard = int(np.count_nonzero(got))
    assert stats.audio_handed - at_clear <= period  # what the callback handed out after clear
    assert at_clear <= heard <= at_clear + period  # and what reached the device
    assert heard < 2 * len(signal) // 2  # far less than the answer: the test can fail
    # What was heard before the clear is the answer itself (volume 100 % = unity gain).
    ref = resample_poly(signal, 2, 1)[: at_clear - 200]
    start = int(np.flatnonzero(got)[0])
    assert np.corrcoef(got[start : start + len(ref)], ref)[0, 1] > 0.999


async def test_underruns_are_counted_and_logged(
    alsa: Any, kit: SimpleNamespace, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alsa.speaker("testspk", tmp_path / "out.raw")
    alsa.mic("nullmic", Path("/dev/zero"))
    alsa.install("nullmic", "testspk")
    clock = kit.FakeClock()
    sink = PyAudioPlayback(
        device="testspk", rate=48000, prebuffer_ms=40, underrun_log_interval=10.0, clock=clock
    )
    caplog.set_level(logging.WARNING, logger="edgevoice.adapters.playback")
    await sink.start()
    try:
        # The file device pulls far faster than real time, so each burst runs dry at once.
        sink.play(kit.to_pcm(model_audio(kit, 0.1)), SPEAKER_RATE)
        await wait_until(lambda: sink.stats.underruns == 1)
        sink.play(kit.to_pcm(model_audio(kit, 0.1)), SPEAKER_RATE)
        await wait_until(lambda: sink.stats.underruns == 2)
        # Re-buffering after an underrun: a burst below the 40 ms threshold is held back.
        sink.play(kit.to_pcm(model_audio(kit, 0.01)), SPEAKER_RATE)
        await asyncio.sleep(0.05)
        assert sink.stats.underruns == 2 and sink.stats.buffered > 0
        await sink.drain()  # ...until drain() says nothing more is coming
        assert sink.stats.buffered == 0 and sink.stats.underruns == 2
    finally:
        await sink.close()
    warnings = [r.getMessage() for r in caplog.records if "ran dry" in r.getMessage()]
    assert warnings == ["playback ran dry 1 time(s): audio arrives slower than it plays (network?)"]


async def test_a_device_that_fails_mid_stream_raises_from_play(
    alsa: Any, kit: SimpleNamespace
) -> None:
    fifo = alsa.fifo("spk.fifo")
    alsa.speaker("testspk", fifo.path)
    alsa.mic("nullmic", Path("/dev/zero"))
    alsa.install("nullmic", "testspk")
    sink = PyAudioPlayback(device="testspk", rate=48000, poll_interval=0.01)
    chunk = kit.to_pcm(model_audio(kit, 0.2))
    sink.play(chunk, SPEAKER_RATE)
    await sink.start()
    try:
        await wait_until(lambda: sink.stats.audio_handed > 0)
        fifo.close()  # the speaker goes away: the blocked write fails with EPIPE
        with pytest.raises(AudioDeviceError) as caught:
            async with asyncio.timeout(PATIENCE):
                for _ in itertools.count():
                    sink.play(chunk, SPEAKER_RATE)
                    await asyncio.sleep(0.005)
        assert not isinstance(caught.value, DeviceStalledError)
        assert "'testspk' stopped" in str(caught.value)
        assert error_class_of(caught.value) is ErrorClass.TRANSIENT
        with pytest.raises(AudioDeviceError):
            await sink.drain()
    finally:
        await sink.close()


async def test_a_device_that_stops_pulling_makes_drain_raise_stalled(
    alsa: Any, kit: SimpleNamespace
) -> None:
    fifo = alsa.fifo("spk.fifo")
    alsa.speaker("testspk", fifo.path)
    alsa.mic("nullmic", Path("/dev/zero"))
    alsa.install("nullmic", "testspk")
    clock = kit.FakeClock()
    sink = PyAudioPlayback(
        device="testspk", rate=48000, stall_timeout=2.0, poll_interval=0.01, clock=clock
    )
    sink.play(kit.to_pcm(model_audio(kit, 2.0)), SPEAKER_RATE)  # far more than the pipe holds
    await sink.start()
    drain = None
    try:
        await wait_until(lambda: sink.stats.audio_handed > 0)
        draining = asyncio.ensure_future(sink.drain())
        with pytest.raises(DeviceStalledError) as caught:
            async with asyncio.timeout(PATIENCE):
                # Nobody reads the FIFO, so the device thread is (or soon will be) blocked.
                # Each step moves the clock past the limit; a callback that still slipped in
                # restarts the count, the next step catches it.
                for _ in itertools.count():
                    clock.advance(2.5)
                    await asyncio.wait({draining}, timeout=0.05)
                    if draining.done():
                        await draining
        assert "took no audio" in str(caught.value)
        drain = kit.FifoDrain(fifo)  # unblock the device thread so the stream can close
    finally:
        await sink.close()
        if drain:
            drain.stop()


async def test_a_missing_output_device_lists_the_candidates(alsa: Any, tmp_path: Path) -> None:
    alsa.speaker("hdmi_out", tmp_path / "out.raw")
    alsa.mic("nullmic", Path("/dev/zero"))
    alsa.install("nullmic", "hdmi_out")
    sink = PyAudioPlayback(device="USB speaker")
    with pytest.raises(DeviceNotFoundError) as caught:
        await sink.start()
    assert caught.value.kind == "output"
    assert "hdmi_out" in caught.value.candidates
    assert "audio.output_device" in str(caught.value)
    sink.play(b"\0\0" * 100, SPEAKER_RATE)  # not open: queued, no error
    await sink.drain()  # not open: returns at once
    await sink.close()


def test_volume_curve() -> None:
    assert volume_gain(100) == 1.0
    assert volume_gain(0) == 0.0
    assert volume_gain(50) == 0.25
    assert volume_gain(150) == 1.0 and volume_gain(-5) == 0.0


async def test_a_device_that_blocks_while_opening_raises_stalled_and_is_released_later(
    alsa: Any, kit: SimpleNamespace, tmp_path: Path
) -> None:
    """A speaker file that is a FIFO nobody reads: opening the stream waits for a reader. start()
    gives up after open_timeout with a retryable error naming the FIFO; once a reader comes,
    the late stream is closed (abandoned), and the device opens normally again."""
    fifo = tmp_path / "spk.fifo"
    os.mkfifo(fifo)  # not opened by the test: no reader
    alsa.speaker("testspk", fifo)
    alsa.mic("nullmic", Path("/dev/zero"))
    alsa.install("nullmic", "testspk")
    sink = PyAudioPlayback(device="testspk", rate=48000, open_timeout=0.5)
    with pytest.raises(DeviceStalledError) as caught:
        async with asyncio.timeout(PATIENCE):
            await sink.start()
    message = str(caught.value)
    assert message.startswith("playback device 'testspk' did not open within 0.5 s: ")
    assert f"'testspk' writes to {fifo}, a FIFO" in message
    assert "waits until a program reads from it" in message
    assert error_class_of(caught.value) is ErrorClass.TRANSIENT
    # A reader: the blocked open can now finish, and what the device writes is consumed.
    reader = kit.FifoDrain(SimpleNamespace(fd=os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)))
    try:
        again = PyAudioPlayback(device="testspk", rate=48000, open_timeout=PATIENCE)
        again.play(kit.to_pcm(model_audio(kit, 0.1)), SPEAKER_RATE)
        await again.start()
        await again.drain()
        await again.close()
        assert again.stats.audio_handed == 2 * 2400
    finally:
        reader.stop()
        os.close(reader.fifo.fd)


def test_the_sink_rate_range_is_what_the_resampler_converts() -> None:
    # ports is core without numpy, so it states the range; the resampler must cover it.
    from edgevoice.audio.resampler import SUPPORTED_RATE_RANGE

    assert SUPPORTED_RATE_RANGE == SINK_RATE_RANGE
