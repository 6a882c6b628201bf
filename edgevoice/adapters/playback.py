"""The speaker: an ALSA playback device through PyAudio, as an `AudioSink`.

`play(pcm, rate)` takes mono int16 audio at the rate it came with (the Live API's 24 kHz,
`ports.SPEAKER_RATE`; any rate in `ports.SINK_RATE_RANGE`), resamples it to the device rate on
the event loop and queues it in a jitter buffer (`edgevoice.audio.jitter`). A change of rate
between calls ends the previous stretch (its resampler tail is queued) and starts a new one.
PortAudio's callback thread pulls one period at a time from that buffer, applies the volume and
plays silence whenever nothing is due, so the event loop never waits for the device. Playback
starts once `prebuffer_ms` of audio is queued, or at once after `drain()`.

`clear()` (barge-in) empties the buffer; the next callback plays only a fade-out of `fade_ms`,
so the speaker is quiet within one device period. `drain()` returns when the last queued sample
has been handed to the device. A stream that died (device unplugged, ALSA error) makes `play()`
and `drain()` raise AudioDeviceError; one that stopped pulling for `stall_timeout` seconds makes
`drain()` raise DeviceStalledError. Both are retryable: close and `start()` again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyaudio

from edgevoice.adapters import trace
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
from edgevoice.audio.jitter import Float32Array, JitterBuffer
from edgevoice.errors import AudioDeviceError, DeviceStalledError
from edgevoice.ports import SINK_RATE_RANGE, AudioSink

log = logging.getLogger(__name__)


def volume_gain(percent: int) -> float:
    """Amplitude factor for a volume in percent: (percent/100)**2, so 50 % is about -12 dB.

    A square law sounds closer to even steps than a linear one; 0 mutes, 100 is unity.
    """
    clamped = min(100, max(0, percent))
    return (clamped / 100.0) ** 2


@dataclass(frozen=True)
class PlaybackStats:
    """A snapshot of the playback counters (samples are at the device rate, per channel)."""

    rate: int  # device rate in Hz
    buffered: int  # samples queued, not yet handed to the device
    handed: int  # samples handed to the device since start(), silence included
    audio_handed: int  # of those, samples that came from played audio (fade-outs included)
    underruns: int  # times the buffer ran dry mid-stream (playback then re-buffers)
    dropped: int  # samples refused because the buffer was full
    device_underflows: int  # callbacks PortAudio flagged with an output underflow
    audio_before_clear: int  # audio_handed at the moment of the latest clear()


class PyAudioPlayback:
    """An ALSA playback device fed with model audio through a jitter buffer (an `AudioSink`).

    Parameters: `device`: ALSA name or unique substring; `rate`: wanted device rate (Hz; the
    device's default is used when it refuses); `channels`: 1 or 2 (mono is copied to both);
    `volume`: percent 0-100; `prebuffer_ms`: audio queued before playback starts; `period_ms`:
    device period; `fade_ms`: barge-in fade-out (at most one period); `max_buffer_seconds`:
    jitter buffer capacity; `stall_timeout`: seconds without a callback before `drain()` raises;
    `open_timeout` / `close_timeout`: real seconds `start()` / `close()` may take (a device that
    blocks is reported or abandoned); `clock`: monotonic seconds (injectable);
    `pyaudio_factory`: creates the PyAudio handle.
    """

    def __init__(
        self,
        *,
        device: str = "default",
        rate: int = 48000,
        channels: int = 1,
        volume: int = 80,
        prebuffer_ms: int = 100,
        period_ms: int = 20,
        fade_ms: float = 4.0,
        max_buffer_seconds: float = 600.0,
        stall_timeout: float = 2.0,
        underrun_log_interval: float = 10.0,
        poll_interval: float = 0.1,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        pyaudio_factory: Callable[[], PortAudio] = pyaudio.PyAudio,
    ) -> None:
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, not {channels}")
        self.device_name = device
        self.wanted_rate = rate
        self.channels = channels
        self.prebuffer_ms = prebuffer_ms
        self.period_ms = period_ms
        self.fade_ms = fade_ms
        self.max_buffer_seconds = max_buffer_seconds
        self.stall_timeout = stall_timeout
        self.poll_interval = poll_interval
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self._clock = clock
        self._factory = pyaudio_factory
        self.device: DeviceInfo | None = None
        self._lock = threading.Lock()  # guards _buffer, _gain, _last_callback, counters
        self._gain = volume_gain(volume)
        self.volume = volume
        self._opened: OpenedStream | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0
        self._wakeup = asyncio.Event()
        self._last_callback = 0.0
        self._device_underflows = 0
        self._audio_before_clear = 0
        self._underrun_log = ThrottledWarning(
            log,
            "playback ran dry %d time(s): audio arrives slower than it plays (network?)",
            interval=underrun_log_interval,
            clock=clock,
        )
        self._build_pipeline(rate)

    @property
    def rate(self) -> int:
        """The device rate in use (the configured one until `start()` picks the real one)."""
        return self._rate

    def _build_pipeline(self, rate: int) -> None:
        self._rate = rate
        self._period = max(1, rate * self.period_ms // 1000)
        # Made by play() for the rate its audio comes with; kept while that rate stays.
        self._resampler: dsp.StreamingResampler | None = None
        with self._lock:
            self._buffer = JitterBuffer(
                prebuffer=rate * self.prebuffer_ms // 1000,
                fade=min(self._period, round(rate * self.fade_ms / 1000)),
                capacity=max(round(rate * self.max_buffer_seconds), self._period),
            )

    # ---------------------------------------------------------------------------------------
    # AudioSink

    async def start(self) -> None:
        """Open and start the device, within `open_timeout` seconds.

        Raises DeviceNotFoundError, DeviceBusyError, DeviceStalledError (it did not open in
        time: the message names what most likely blocks it) or AudioDeviceError, all
        retryable. Audio queued before start plays once it is open."""
        if self._opened is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._generation += 1
        generation = self._generation
        opened = await open_in_thread(
            lambda: self._open_blocking(generation), "output", self.device_name, self.open_timeout
        )
        if opened.rate != self._rate:
            with self._lock:
                pending = self._buffer.buffered
            if pending:
                log.warning("playback rate changed; %d queued samples dropped", pending)
            self._build_pipeline(opened.rate)
        self._opened = opened
        self.device = opened.device
        with self._lock:
            self._last_callback = self._clock()
        try:
            await start_in_thread(opened, self.open_timeout)
        except AudioDeviceError:
            await self.close()
            raise
        log.info(
            "playback: %r at %d Hz, %d channel(s), %d ms periods, %d ms prebuffer",
            opened.device.name,
            opened.rate,
            self.channels,
            self.period_ms,
            self.prebuffer_ms,
        )

    def play(self, pcm: bytes, rate: int) -> None:
        """Queue int16 mono audio at `rate` Hz (resampled to the device rate); returns at once.

        Raises ValueError for a rate outside ports.SINK_RATE_RANGE (nothing is queued) and
        AudioDeviceError when the device has failed (close and start again). A trailing odd
        byte (half a sample) is dropped.
        """
        check_play_rate(rate)
        if self._opened is not None:
            self._raise_if_failed(self._opened, check_stall=False)
        if len(pcm) % 2:
            pcm = pcm[:-1]  # half a sample cannot be played
        if not pcm:
            return
        resampler = self._resampler
        if resampler is None or resampler.in_rate != rate:
            self._finish_stretch()
            resampler = self._resampler = dsp.StreamingResampler(rate, self._rate)
        self._push(resampler.process(dsp.int16_to_float32(pcm)))

    def clear(self) -> None:
        """Barge-in: drop all queued audio; the device goes quiet within one period.

        The next callback plays a `fade_ms` fade-out of where playback stood, then silence.
        Playback of audio queued afterwards starts again once `prebuffer_ms` is queued."""
        with self._lock:
            self._audio_before_clear = self._buffer.audio_out
            discarded = self._buffer.clear()
        if (tracer := trace.TRACER) is not None:
            tracer.mark("play.clear", discarded)
        if self._resampler is not None:
            self._resampler.reset()
        if discarded:
            log.debug("playback cleared: %d ms dropped", discarded * 1000 // self._rate)

    async def drain(self) -> None:
        """Wait until every queued sample has been handed to the device.

        Marks the end of the answer (the resampler's last few samples are released) and starts
        playback even below the prebuffer threshold. When the device is not open it returns at
        once; the queued audio then plays out after `start()`. Raises AudioDeviceError or
        DeviceStalledError when the device fails meanwhile.
        """
        self._finish_stretch()
        with self._lock:
            nothing_left = self._buffer.drain()
        if nothing_left:
            return
        while True:
            self._wakeup.clear()
            with self._lock:
                if not self._buffer.draining:
                    return
            opened = self._opened
            if opened is None:
                return
            self._raise_if_failed(opened, check_stall=True)
            # asyncio.timeout, not wait_for: cancelling a wait_for whose inner wait has just
            # completed could lose the cancellation on Python 3.11 (the pump then hung).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval):
                    await self._wakeup.wait()

    async def close(self) -> None:
        """Stop the device at once (queued audio is dropped) and release it. Safe to call twice."""
        opened, self._opened = self._opened, None
        self._generation += 1
        with self._lock:
            self._buffer.reset()
        self._resampler = None
        self._wakeup.set()
        if opened is None:
            return
        await close_stream(opened, self.close_timeout)

    # ---------------------------------------------------------------------------------------
    # Extras

    def set_volume(self, percent: int) -> None:
        """Change the volume (0-100 %); takes effect at the next device period."""
        self.volume = min(100, max(0, percent))
        with self._lock:
            self._gain = volume_gain(self.volume)

    @property
    def output_latency(self) -> float:
        """Seconds from handing a sample to the device until it is heard (0.0 when closed).

        `drain()` returns once the last sample is handed over; wait this long before `close()`
        when the very end must be heard (closing aborts whatever the device still holds)."""
        opened = self._opened
        if opened is None:
            return 0.0
        return float(opened.stream.get_output_latency())

    @property
    def stats(self) -> PlaybackStats:
        with self._lock:
            buffer = self._buffer
            return PlaybackStats(
                rate=self._rate,
                buffered=buffer.buffered,
                handed=buffer.pulled,
                audio_handed=buffer.audio_out,
                underruns=buffer.underruns,
                dropped=buffer.dropped,
                device_underflows=self._device_underflows,
                audio_before_clear=self._audio_before_clear,
            )

    # ---------------------------------------------------------------------------------------
    # Internals

    def _finish_stretch(self) -> None:
        """Queue the resampler's last few samples (the audio so far ends here)."""
        resampler, self._resampler = self._resampler, None
        if resampler is not None:
            tail = resampler.flush()
            if len(tail):
                self._push(tail)

    def _push(self, samples: Float32Array) -> None:
        with self._lock:
            accepted = self._buffer.push(samples)
        if (tracer := trace.TRACER) is not None:
            tracer.mark("play.push", accepted)
        if accepted < len(samples):
            log.warning(
                "playback buffer full (%.0f s): %d samples dropped",
                self.max_buffer_seconds,
                len(samples) - accepted,
            )

    def _open_blocking(self, generation: int) -> OpenedStream:
        return open_stream(
            self._factory,
            "output",
            self.device_name,
            self.wanted_rate,
            self.channels,
            self.period_ms,
            self._make_callback(generation),
            startup_timeout=self.open_timeout,
        )

    def _make_callback(
        self, generation: int
    ) -> Callable[[bytes | None, int, Any, int], tuple[bytes, int]]:
        loop = self._loop
        assert loop is not None
        channels = self.channels
        # Most periods are silence (the device is idle between answers): one shared block of
        # zeros per period length instead of converting zeros (`edgevoice bench`, idle CPU).
        silences: dict[int, bytes] = {}

        def callback(_in: bytes | None, frames: int, _time: Any, status: int) -> tuple[bytes, int]:
            # PortAudio's thread: pull under the lock, never wait on the event loop.
            with self._lock:
                pulled = self._buffer.pull(frames)
                gain = self._gain
                self._last_callback = self._clock()
                if status & pyaudio.paOutputUnderflow:
                    self._device_underflows += 1
            if (tracer := trace.TRACER) is not None:  # an append, no I/O (adapters/trace.py)
                tracer.pulls.append((tracer.clock(), pulled.audio, frames))
            if pulled.audio == 0:  # nothing from queued audio, no fade: silence
                n = len(pulled.samples) * channels
                data = silences.get(n)
                if data is None:
                    data = silences[n] = bytes(2 * n)
            else:
                out = pulled.samples if gain == 1.0 else pulled.samples * np.float32(gain)
                if channels == 2:
                    out = np.repeat(out, 2)
                data = dsp.float32_to_int16(out).tobytes()
            if pulled.underrun or pulled.drained:
                try:
                    loop.call_soon_threadsafe(self._on_event, generation, pulled.underrun)
                except RuntimeError:  # the event loop is closed: stop the stream
                    return data, pyaudio.paAbort
            return data, pyaudio.paContinue

        return callback

    def _on_event(self, generation: int, underrun: bool) -> None:
        if generation != self._generation:
            return
        if underrun:
            self._underrun_log.note()
        self._wakeup.set()

    def _raise_if_failed(self, opened: OpenedStream, *, check_stall: bool) -> None:
        check_alive(opened)
        name = opened.device.name
        if check_stall:
            with self._lock:
                idle_for = self._clock() - self._last_callback
            if idle_for > self.stall_timeout:
                raise DeviceStalledError(
                    f"playback device {name!r} took no audio for {idle_for:.1f} s "
                    f"(limit {self.stall_timeout:g} s); reopening"
                )


def check_play_rate(rate: int) -> None:
    """Raise ValueError unless `rate` is a whole number of Hz in ports.SINK_RATE_RANGE."""
    lo, hi = SINK_RATE_RANGE
    if isinstance(rate, bool) or not isinstance(rate, int) or not lo <= rate <= hi:
        raise ValueError(
            f"cannot play audio at {rate!r} Hz: the speaker takes {lo} to {hi} Hz "
            "(the Live API sends 24000)"
        )


if TYPE_CHECKING:  # mypy checks that the adapter satisfies its port
    _port: AudioSink = PyAudioPlayback()
