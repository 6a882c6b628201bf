"""The capture adapter through real pyaudio on file-backed ALSA PCMs."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from scipy.signal import resample_poly

from edgevoice.adapters.capture import FRAME_SAMPLES, PyAudioCapture
from edgevoice.errors import (
    AudioDeviceError,
    DeviceNotFoundError,
    DeviceStalledError,
    ErrorClass,
    error_class_of,
)

# Generous bounds for waits on a shared, noisy machine; never asserted as durations.
PATIENCE = 30.0


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll a counter the adapter updates on the loop (it offers no event for it)."""
    async with asyncio.timeout(PATIENCE):
        for _ in itertools.count():
            if predicate():
                return
            await asyncio.sleep(0.005)


async def take(capture: PyAudioCapture, count: int) -> bytes:
    frames: list[bytes] = []
    async with asyncio.timeout(PATIENCE):
        async for frame in capture.frames():
            assert len(frame) == 2 * FRAME_SAMPLES
            frames.append(frame)
            if len(frames) == count:
                break
    return b"".join(frames)


def reference_16k(signal: np.ndarray, rate: int) -> np.ndarray:
    """An independent resample of the same signal (scipy's polyphase FIR)."""
    g = np.gcd(rate, 16000)
    return np.asarray(resample_poly(signal, 16000 // g, rate // g))


@pytest.mark.parametrize(
    ("rate", "channels", "configured_rate"),
    [
        (48000, 2, 48000),
        (44100, 1, 44100),
        # The device refuses 768 kHz; the adapter falls back to its default rate (44.1 kHz).
        (44100, 1, 768000),
    ],
    ids=["48k-stereo", "44k1-mono", "fallback-to-default-rate"],
)
async def test_capture_delivers_the_signal_as_16k_mono_frames(
    alsa: Any, kit: SimpleNamespace, rate: int, channels: int, configured_rate: int
) -> None:
    seconds = 1.0
    left = kit.tones(rate, seconds, (300.0, 1100.0, 3100.0), 0.5)
    right = kit.tones(rate, seconds, (700.0, 2300.0), 0.3)
    device_signal = np.stack([left, right], axis=1) if channels == 2 else left
    expected_mono = (left + right) / 2 if channels == 2 else left  # "average" downmix
    pad = np.zeros((rate // 5, channels) if channels == 2 else rate // 5)
    fifo = alsa.fifo("mic.fifo", size=kit.BIG_PIPE)
    alsa.mic("testmic", fifo.path)
    alsa.speaker("nullspk", Path("/dev/null"))
    alsa.install("testmic", "nullspk")
    # The whole signal (plus silence) sits in the pipe before the stream starts; PortAudio's
    # thread then reads exactly these bytes and blocks, so nothing depends on timing.
    fifo.write(kit.to_pcm(np.concatenate([device_signal, pad])))

    capture = PyAudioCapture(
        device="testmic", rate=configured_rate, channels=channels, queue_frames=10_000
    )
    await capture.start()
    try:
        assert capture.rate == rate
        count = int(seconds * 16000) // FRAME_SAMPLES
        got = kit.from_pcm(await take(capture, count))
        assert capture.stats.dropped_frames == 0
    finally:
        fifo.close()  # EOF unblocks PortAudio's reader thread so the stream can close
        await capture.close()

    ref = reference_16k(expected_mono, rate)[: len(got)]
    lag, corr = kit.best_alignment(got, ref, max_lag=8)
    assert corr >= 0.999, (lag, corr)
    assert abs(lag) <= 2  # the resampler is time-aligned: no shift to speak of
    gain = np.std(got) / np.std(ref[: len(got)])
    assert 0.97 < gain < 1.03


async def test_a_missing_device_name_lists_the_candidates(alsa: Any) -> None:
    alsa.mic("usbmic", Path("/dev/zero"))
    alsa.speaker("nullspk", Path("/dev/null"))
    alsa.install("usbmic", "nullspk")
    capture = PyAudioCapture(device="Blue Yeti")
    with pytest.raises(DeviceNotFoundError) as caught:
        await capture.start()
    err = caught.value
    assert err.wanted == "Blue Yeti" and err.kind == "input"
    assert {"usbmic", "default"} <= set(err.candidates)
    assert "'usbmic'" in str(err) and "audio.input_device" in str(err)
    assert error_class_of(err) is ErrorClass.TRANSIENT  # retried: the USB mic may appear later
    await capture.close()  # nothing open: a no-op


async def test_a_unique_substring_selects_the_device(alsa: Any, kit: SimpleNamespace) -> None:
    fifo = alsa.fifo("mic.fifo", size=kit.BIG_PIPE)
    alsa.mic("usb_pnp_mic", fifo.path)
    alsa.speaker("nullspk", Path("/dev/null"))
    alsa.install("nullspk", "nullspk")
    fifo.write(bytes(2 * 48000 // 5))
    capture = PyAudioCapture(device="PNP", rate=48000)
    await capture.start()
    try:
        assert capture.device is not None and capture.device.name == "usb_pnp_mic"
        await take(capture, 2)
    finally:
        fifo.close()
        await capture.close()


async def test_a_stream_that_stops_delivering_raises_stalled(
    alsa: Any, kit: SimpleNamespace
) -> None:
    fifo = alsa.fifo("mic.fifo", size=kit.BIG_PIPE)
    alsa.mic("testmic", fifo.path)
    alsa.speaker("nullspk", Path("/dev/null"))
    alsa.install("testmic", "nullspk")
    clock = kit.FakeClock()
    periods = 10
    fifo.write(kit.to_pcm(kit.tones(48000, 0.02 * periods, (440.0,), 0.5)))
    capture = PyAudioCapture(
        device="testmic", rate=48000, stall_timeout=2.0, poll_interval=0.01, clock=clock
    )
    await capture.start()
    try:
        # Everything written arrives; then PortAudio's thread blocks in read(): a stall.
        await wait_until(lambda: capture.stats.device_frames == 960 * periods)
        received = 0
        clock.advance(1.9)  # not yet past the limit: still waiting, no error
        async with asyncio.timeout(PATIENCE):
            frames = capture.frames()
            while received < periods - 1:
                await anext(frames)
                received += 1
        assert not capture.stats.digital_silence
        clock.advance(0.2)
        with pytest.raises(DeviceStalledError) as caught:
            async with asyncio.timeout(PATIENCE):
                async for _ in frames:
                    received += 1
        assert received <= periods
        assert "delivered nothing" in str(caught.value) and "'testmic'" in str(caught.value)
        assert error_class_of(caught.value) is ErrorClass.TRANSIENT
    finally:
        fifo.close()
        await capture.close()


async def test_a_device_that_fails_mid_stream_raises_a_recoverable_error_and_reopens(
    alsa: Any, kit: SimpleNamespace, tmp_path: Path
) -> None:
    """The capture PCM also copies what it captures to `file`; when that write fails (the
    FIFO's reader goes away), alsa-lib fails the period and PortAudio ends the stream, just as
    when a USB microphone is pulled out."""
    infile = tmp_path / "in.raw"
    infile.write_bytes(kit.to_pcm(kit.tones(48000, 2.0, (440.0,), 0.5)))
    tee = alsa.fifo("tee.fifo")
    alsa.mic("testmic", infile, tee=tee.path)
    alsa.speaker("nullspk", Path("/dev/null"))
    alsa.install("testmic", "nullspk")
    clock = kit.FakeClock()  # never advanced: the error must not be a stall
    capture = PyAudioCapture(device="testmic", rate=48000, poll_interval=0.01, clock=clock)
    await capture.start()
    try:
        frames = capture.frames()
        async with asyncio.timeout(PATIENCE):
            await anext(frames)  # it works; PortAudio now blocks on the full tee FIFO
        tee.close()  # the reader goes away: the next write fails with EPIPE
        with pytest.raises(AudioDeviceError) as caught:
            async with asyncio.timeout(PATIENCE):
                async for _ in frames:
                    pass
        assert not isinstance(caught.value, DeviceStalledError)
        assert "stopped" in str(caught.value) and "'testmic'" in str(caught.value)
        assert error_class_of(caught.value) is ErrorClass.TRANSIENT
    finally:
        await capture.close()

    # Recovery: what the supervisor does, close and start again once the device is back.
    tee2 = alsa.fifo("tee2.fifo")
    alsa.mic("testmic", infile, tee=tee2.path)
    alsa.install("testmic", "nullspk")
    drain = kit.FifoDrain(tee2)
    await capture.start()
    try:
        got = kit.from_pcm(await take(capture, 20))
        assert np.max(np.abs(got)) > 0.3
    finally:
        await capture.close()
        drain.stop()


async def test_drop_oldest_when_the_consumer_falls_behind_with_a_rate_limited_warning(
    alsa: Any, kit: SimpleNamespace, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A plain infile floods: the file plugin delivers far faster than real time, and this test
    # does not read, so the queue overflows at once.
    infile = tmp_path / "in.raw"
    infile.write_bytes(kit.to_pcm(kit.tones(16000, 1.0, (440.0,), 0.5)))
    alsa.mic("testmic", infile)
    alsa.speaker("nullspk", Path("/dev/null"))
    alsa.install("testmic", "nullspk")
    clock = kit.FakeClock()
    capture = PyAudioCapture(
        device="testmic", rate=16000, queue_frames=5, overflow_log_interval=10.0, clock=clock
    )
    caplog.set_level(logging.WARNING, logger="edgevoice.adapters.capture")
    await capture.start()
    try:
        await wait_until(lambda: capture.stats.dropped_frames >= 100)
        first_warnings = [r for r in caplog.records if "dropped" in r.getMessage()]
        assert len(first_warnings) == 1  # hundreds of drops, one warning while the clock stands
        clock.advance(10.0)
        seen = capture.stats.dropped_frames
        await wait_until(lambda: capture.stats.dropped_frames > seen + 10)
        warnings = [r for r in caplog.records if "dropped" in r.getMessage()]
        assert len(warnings) == 2
        assert int(warnings[1].getMessage().split("oldest ")[1].split()[0]) >= 20  # in ms
        frames = capture.frames()
        assert len([await anext(frames) for _ in range(5)]) == 5
        assert capture.stats.frames_out - capture.stats.dropped_frames >= 5
    finally:
        await capture.close()


async def test_all_zero_input_is_flagged_once(
    alsa: Any, kit: SimpleNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    fifo = alsa.fifo("mic.fifo", size=kit.BIG_PIPE)
    alsa.mic("testmic", fifo.path)
    alsa.speaker("nullspk", Path("/dev/null"))
    alsa.install("testmic", "nullspk")
    rate = 16000
    # 0.5 s of digital silence, then sound, then silence again.
    fifo.write(bytes(2 * rate // 2))
    capture = PyAudioCapture(device="testmic", rate=rate, silence_warning=0.3, queue_frames=1000)
    caplog.set_level(logging.INFO, logger="edgevoice.adapters.capture")
    await capture.start()
    try:
        await wait_until(lambda: capture.stats.device_frames == rate // 2)
        assert capture.stats.digital_silence
        fifo.write(kit.to_pcm(kit.tones(rate, 0.1, (440.0,), 0.5)))
        await wait_until(lambda: capture.stats.device_frames == rate * 6 // 10)
        assert not capture.stats.digital_silence
        fifo.write(bytes(2 * rate // 5))  # 0.2 s: shorter than the limit
        await wait_until(lambda: capture.stats.device_frames == rate * 8 // 10)
        assert not capture.stats.digital_silence
    finally:
        fifo.close()
        await capture.close()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("only zeros" in m for m in messages) == 1
    assert sum("delivers sound again" in m for m in messages) == 1


async def test_a_stuck_event_loop_costs_bounded_memory_and_drops_the_oldest_chunks(
    alsa: Any, kit: SimpleNamespace, tmp_path: Path
) -> None:
    infile = tmp_path / "in.raw"
    infile.write_bytes(kit.to_pcm(kit.tones(16000, 1.0, (440.0,), 0.5)))
    alsa.mic("testmic", infile)
    alsa.speaker("nullspk", Path("/dev/null"))
    alsa.install("testmic", "nullspk")
    capture = PyAudioCapture(device="testmic", rate=16000, queue_frames=5)
    await capture.start()
    try:
        # Block the loop itself (as a long synchronous call would): the flooding device keeps
        # calling back meanwhile, but only the newest 5 periods wait in the inbox.
        chunks, dropped = capture.stats.chunks, capture.stats.dropped_device_frames
        threading.Event().wait(0.2)
        assert capture.stats.chunks == chunks  # nothing was processed while the loop was stuck
        await wait_until(lambda: capture.stats.chunks > chunks)
        # The first batch is at most the inbox's 5 periods; all older ones were dropped.
        assert capture.stats.dropped_device_frames > dropped
        assert capture.stats.dropped_device_frames % 320 == 0  # whole 20 ms periods
    finally:
        await capture.close()


async def test_peak_and_full_scale_samples_are_counted_exactly(
    alsa: Any, kit: SimpleNamespace
) -> None:
    fifo = alsa.fifo("mic.fifo", size=kit.BIG_PIPE)
    alsa.mic("testmic", fifo.path)
    alsa.speaker("nullspk", Path("/dev/null"))
    alsa.install("testmic", "nullspk")
    rate = 16000
    # 0.1 s at half scale, then 0.1 s holding 7 samples at +32767 and 5 at -32768 (the value
    # whose magnitude does not fit in int16), the rest quiet.
    quiet = np.full(rate // 10, 12000, dtype="<i2")
    loud = np.full(rate // 10, -100, dtype="<i2")
    loud[:7] = 32767
    loud[100:105] = -32768
    capture = PyAudioCapture(device="testmic", rate=rate, queue_frames=1000)
    fifo.write(quiet.tobytes())
    await capture.start()
    try:
        await wait_until(lambda: capture.stats.device_frames == rate // 10)
        assert capture.stats.raw_peak == 12000
        assert capture.stats.raw_clipped_samples == 0
        fifo.write(loud.tobytes())
        await wait_until(lambda: capture.stats.device_frames == rate // 5)
        assert capture.stats.raw_peak == 32768
        assert capture.stats.raw_clipped_samples == 12
    finally:
        fifo.close()
        await capture.close()
