"""The microphone: an ALSA capture device through PyAudio, as an `AudioSource`.

The device is opened at its configured rate (or its default rate when it refuses that one),
mono or stereo. PortAudio's callback thread puts every chunk into a small bounded inbox and, if
the event loop has not been told yet, wakes it with `call_soon_threadsafe` (one wake-up per
batch, so a device that runs ahead can never flood the loop). On the loop each chunk is
downmixed, gained, resampled to 16 kHz and cut into 20 ms frames (640 bytes of int16 mono,
`ports.MIC_RATE` / `ports.FRAME_MS`), which wait in a bounded queue for `frames()`. When the
daemon falls behind, the oldest audio is dropped and counted (a warning at most every
`overflow_log_interval` seconds).

Failures surface from `frames()` as typed, retryable errors (the supervisor closes and reopens
with backoff): a stream that ended with an error (unplugged USB microphone) raises
AudioDeviceError, a stream that stops delivering for `stall_timeout` seconds raises
DeviceStalledError, a busy device raises DeviceBusyError from `start()`. An input of nothing but
zeros for `silence_warning` seconds (a muted or broken microphone) is logged once and shown in
`stats.digital_silence`; it does not stop capture.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyaudio

from edgevoice.adapters.audio_devices import (
    DeviceInfo,
    OpenedStream,
    ThrottledWarning,
    check_alive,
    close_stream,
    open_in_thread,
    open_stream,
    start_in_thread,
)
from edgevoice.adapters.portaudio_startup import PortAudio
from edgevoice.audio import dsp
from edgevoice.config import AudioConfig
from edgevoice.errors import AudioDeviceError, DeviceStalledError
from edgevoice.ports import FRAME_MS, MIC_RATE, AudioSource

log = logging.getLogger(__name__)

FRAME_SAMPLES = MIC_RATE * FRAME_MS // 1000  # 320 samples = 640 bytes
INT16_MAX = 32767
INT16_MIN = -32768


@dataclass
class CaptureStats:
    """Counters since `start()`; read them on the event loop."""

    chunks: int = 0  # PortAudio callbacks processed
    device_frames: int = 0  # samples per channel processed from the device
    frames_out: int = 0  # 16 kHz frames produced (queued)
    dropped_frames: int = 0  # frames dropped because the queue was full (oldest first)
    dropped_device_frames: int = 0  # device samples dropped before processing (loop too late)
    overflows: int = 0  # callbacks that PortAudio flagged with an input overflow
    digital_silence: bool = False  # True while the input has been all zeros for too long
    zero_run_samples: int = 0  # length of the current all-zero run, in device samples
    raw_peak: int = 0  # largest absolute raw sample seen
    raw_clipped_samples: int = 0  # raw samples at full scale (+32767 or -32768)


class _Inbox:
    """Chunks on their way from PortAudio's thread to the event loop: bounded, drop-oldest.

    `callback` runs in PortAudio's thread. It never waits on the loop: it appends under a lock
    and schedules `on_ready` with `call_soon_threadsafe` only when no wake-up is pending yet.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, limit: int, on_ready: Callable[[], None]
    ) -> None:
        self._loop = loop
        self._limit = limit
        self._on_ready = on_ready
        self._lock = threading.Lock()
        self._chunks: deque[tuple[bytes, int]] = deque()
        self._dropped_bytes = 0
        self._wake_pending = False

    def callback(
        self, data: bytes | None, _frames: int, _time: Any, status: int
    ) -> tuple[None, int]:
        with self._lock:
            if len(self._chunks) >= self._limit:
                self._dropped_bytes += len(self._chunks.popleft()[0])
            self._chunks.append((data or b"", status))
            if self._wake_pending:
                return None, pyaudio.paContinue
            self._wake_pending = True
        try:
            self._loop.call_soon_threadsafe(self._on_ready)
        except RuntimeError:  # the event loop is closed: stop the stream
            return None, pyaudio.paAbort
        return None, pyaudio.paContinue

    def take(self) -> tuple[list[tuple[bytes, int]], int]:
        """Everything waiting (oldest first) and the bytes dropped since the last call."""
        with self._lock:
            chunks = list(self._chunks)
            self._chunks.clear()
            dropped, self._dropped_bytes = self._dropped_bytes, 0
            self._wake_pending = False
        return chunks, dropped


class PyAudioCapture:
    """An ALSA capture device delivering 16 kHz mono int16 frames (implements `AudioSource`).

    Parameters (all explicit; the app maps the config's `audio` section onto them):
    `device`: ALSA name or unique substring; `rate`: wanted device rate in Hz; `channels`: 1 or
    2; `downmix`: "average" | "left" | "right" | "channel:N"; `gain_db`: gain applied before
    resampling; `period_ms`: device period (one callback); `queue_frames`: frames held before the
    oldest are dropped; `stall_timeout`: seconds without a callback before DeviceStalledError
    (2 s = 100 periods of 20 ms by default; measured with `clock`);
    `silence_warning`: seconds of all-zero input before the digital-silence warning;
    `poll_interval`: how often (real seconds) `frames()` checks the stream while it waits;
    `open_timeout` / `close_timeout`: real seconds `start()` / `close()` may take (a device that
    blocks is reported or abandoned); `clock`: monotonic seconds (injectable);
    `pyaudio_factory`: creates the PyAudio handle.
    """

    @classmethod
    def from_config(cls, audio: AudioConfig, **overrides: Any) -> PyAudioCapture:
        """The microphone `[audio]` describes; `overrides` replace single arguments."""
        kwargs: dict[str, Any] = {
            "device": audio.input_device,
            "rate": audio.input_rate,
            "channels": audio.input_channels,
            "downmix": audio.downmix,
            "gain_db": audio.input_gain_db,
            "period_ms": audio.period_ms,
            "queue_frames": audio.capture_queue_frames,
        }
        return cls(**(kwargs | overrides))

    def __init__(
        self,
        *,
        device: str = "default",
        rate: int = 48000,
        channels: int = 1,
        downmix: str = "average",
        gain_db: float = 0.0,
        period_ms: int = 20,
        queue_frames: int = 50,
        stall_timeout: float = 2.0,
        silence_warning: float = 10.0,
        overflow_log_interval: float = 10.0,
        poll_interval: float = 0.1,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        pyaudio_factory: Callable[[], PortAudio] = pyaudio.PyAudio,
    ) -> None:
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, not {channels}")
        if queue_frames < 1:
            raise ValueError("queue_frames must be >= 1")
        self.device_name = device
        self.wanted_rate = rate
        self.channels = channels
        self.downmix = downmix
        self.gain_db = gain_db
        self.period_ms = period_ms
        self.queue_frames = queue_frames
        self.stall_timeout = stall_timeout
        self.silence_warning = silence_warning
        self.poll_interval = poll_interval
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self._clock = clock
        self._factory = pyaudio_factory
        self.rate: int | None = None  # the rate actually used, once started
        self.device: DeviceInfo | None = None
        self.stats = CaptureStats()
        self._opened: OpenedStream | None = None
        self._inbox: _Inbox | None = None
        self._queue: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self._last_chunk = 0.0
        self._resampler: dsp.StreamingResampler | None = None
        self._framer = dsp.Framer(FRAME_SAMPLES)
        self._drops = ThrottledWarning(
            log,
            "capture fell behind: dropped the oldest %d ms of audio (is the machine overloaded?)",
            interval=overflow_log_interval,
            clock=clock,
        )
        self._overflow_log = ThrottledWarning(
            log,
            "capture device overflowed %d time(s): audio was lost before it reached edgevoice",
            interval=overflow_log_interval,
            clock=clock,
        )

    # ---------------------------------------------------------------------------------------
    # AudioSource

    async def start(self) -> None:
        """Open and start the device, within `open_timeout` seconds.

        Raises DeviceNotFoundError, DeviceBusyError, DeviceStalledError (it did not open in
        time: the message names what most likely blocks it) or AudioDeviceError, all
        retryable; a second call while open does nothing."""
        if self._opened is not None:
            return
        # The inbox holds about as much audio as the frame queue, in device periods.
        limit = max(2, math.ceil(self.queue_frames * FRAME_MS / self.period_ms))
        inbox = _Inbox(asyncio.get_running_loop(), limit, lambda: self._drain_inbox(inbox))
        opened = await open_in_thread(
            lambda: self._open_blocking(inbox), "input", self.device_name, self.open_timeout
        )
        self._opened = opened
        self._inbox = inbox
        self.rate = opened.rate
        self.device = opened.device
        self.stats = CaptureStats()
        self._queue.clear()
        self._resampler = dsp.StreamingResampler(opened.rate, MIC_RATE)
        self._framer = dsp.Framer(FRAME_SAMPLES)
        self._last_chunk = self._clock()
        try:
            await start_in_thread(opened, self.open_timeout)
        except AudioDeviceError:
            await self.close()
            raise
        log.info(
            "capture: %r at %d Hz, %d channel(s), %d ms periods",
            opened.device.name,
            opened.rate,
            self.channels,
            self.period_ms,
        )

    async def frames(self) -> AsyncIterator[bytes]:
        """Yield 640-byte frames (20 ms of 16 kHz mono int16) as they arrive.

        Ends when `close()` is called. Raises AudioDeviceError when the stream has died and
        DeviceStalledError when it stopped delivering; close and `start()` again to recover.
        """
        while True:
            if self._queue:
                yield self._queue.popleft()
                continue
            if self._opened is None:
                return
            self._raise_if_failed(self._opened)
            self._wakeup.clear()
            if self._queue:
                continue
            # asyncio.timeout, not wait_for: cancelling a wait_for whose inner wait has just
            # completed could lose the cancellation on Python 3.11 (the pump then hung).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval):
                    await self._wakeup.wait()

    async def close(self) -> None:
        """Stop and release the device; pending frames are discarded. Safe to call twice.

        A device that does not stop within `close_timeout` seconds is abandoned (logged)."""
        opened, self._opened = self._opened, None
        self._inbox = None  # late callbacks from this stream are ignored
        self._queue.clear()
        self._wakeup.set()  # a waiting frames() sees the close and ends
        if opened is None:
            return
        await close_stream(opened, self.close_timeout)

    # ---------------------------------------------------------------------------------------
    # Blocking side (runs in a helper thread)

    def _open_blocking(self, inbox: _Inbox) -> OpenedStream:
        return open_stream(
            self._factory,
            "input",
            self.device_name,
            self.wanted_rate,
            self.channels,
            self.period_ms,
            inbox.callback,
            startup_timeout=self.open_timeout,
        )

    # ---------------------------------------------------------------------------------------
    # Event-loop side

    def _drain_inbox(self, inbox: _Inbox) -> None:
        if inbox is not self._inbox:
            return  # a late wake-up from a stream that has been closed
        chunks, dropped_bytes = inbox.take()
        if dropped_bytes:
            assert self.rate is not None
            samples = dropped_bytes // (2 * self.channels)
            self.stats.dropped_device_frames += samples
            self._drops.note(samples * 1000 // self.rate)
        for data, status in chunks:
            self._on_chunk(data, status)

    def _on_chunk(self, data: bytes, status: int) -> None:
        assert self._resampler is not None
        stats = self.stats
        self._last_chunk = self._clock()
        stats.chunks += 1
        if status & pyaudio.paInputOverflow:
            stats.overflows += 1
            self._overflow_log.note()
        pcm = dsp.deinterleave(data, self.channels)
        samples = int(pcm.shape[0])
        if samples == 0:
            return
        stats.device_frames += samples
        self._watch_levels(pcm, samples)
        x = dsp.int16_to_float32(pcm)
        mono = dsp.downmix(x, self.downmix) if self.channels > 1 else x.reshape(-1)
        if self.gain_db:
            mono = dsp.apply_gain(mono, self.gain_db)
        for frame in self._framer.push(self._resampler.process(mono)):
            self._enqueue(dsp.float32_to_int16(frame).tobytes())

    def _watch_levels(self, pcm: Any, samples: int) -> None:
        stats = self.stats
        # Straight from the int16 chunk (no widened copy): -min covers -32768, which abs()
        # on int16 would wrap; clipped samples are exactly the two extreme values.
        low, high = int(pcm.min()), int(pcm.max())
        peak = max(high, -low)
        stats.raw_peak = max(stats.raw_peak, peak)
        if high == INT16_MAX or low == INT16_MIN:
            stats.raw_clipped_samples += int(np.count_nonzero(pcm == INT16_MAX)) + int(
                np.count_nonzero(pcm == INT16_MIN)
            )
        assert self.rate is not None
        if peak == 0:
            stats.zero_run_samples += samples
            if not stats.digital_silence and stats.zero_run_samples >= self.silence_warning * (
                self.rate
            ):
                stats.digital_silence = True
                log.warning(
                    "capture device %r has delivered only zeros for %.0f s: is the microphone "
                    "muted (alsamixer) or broken?",
                    self.device_name,
                    stats.zero_run_samples / self.rate,
                )
        else:
            if stats.digital_silence:
                log.info("capture device %r delivers sound again", self.device_name)
            stats.digital_silence = False
            stats.zero_run_samples = 0

    def _enqueue(self, frame: bytes) -> None:
        if len(self._queue) >= self.queue_frames:
            self._queue.popleft()
            self.stats.dropped_frames += 1
            self._drops.note(FRAME_MS)
        self._queue.append(frame)
        self.stats.frames_out += 1
        self._wakeup.set()

    def _raise_if_failed(self, opened: OpenedStream) -> None:
        check_alive(opened)
        name = opened.device.name
        silent_for = self._clock() - self._last_chunk
        if silent_for > self.stall_timeout:
            raise DeviceStalledError(
                f"capture device {name!r} delivered nothing for {silent_for:.1f} s "
                f"(limit {self.stall_timeout:g} s); reopening"
            )


if TYPE_CHECKING:  # mypy checks that the adapter satisfies its port
    _port: AudioSource = PyAudioCapture()
