"""PortAudio plumbing shared by the capture and playback adapters and `edgevoice devices`.

- `list_devices(pa)`: the ALSA devices PortAudio sees, as typed `DeviceInfo` records.
- `find_device(devices, wanted, kind)`: the configured name, matched exactly or as a unique
  substring; otherwise `DeviceNotFoundError` listing the candidates.
- `open_stream(...)`: open at the configured rate, or at the device's default rate when it
  refuses that one (the open itself is the test: pyaudio's `is_format_supported` holds the GIL
  while it opens the device, so a device that blocks there would freeze every thread).
- `device_error(exc, ...)`: a PortAudio `OSError` turned into the typed, retryable error.
- `run_in_thread(fn, ...)`: run a blocking PortAudio call (open, close) off the event loop.
- `open_in_thread` / `start_in_thread` / `close_stream`: the same, bounded in time, for the
  capture and playback adapters. PortAudio itself is started and released by
  `edgevoice.adapters.portaudio_startup`.

pyaudio has no type stubs; every value read from it is converted to a plain type here, so the
rest of the package is typed. A PyAudio handle is `Any` (`PortAudio` below).

PortAudio builds its device list when the first PyAudio instance of the process is created and
keeps it until the last one is terminated: a USB device plugged in later appears only after every
PyAudio instance has been terminated and a new one created.

One PortAudio stream call at a time, process-wide: opening, starting and closing a stream run in
helper threads, and a call the caller gave up on (a device that blocks) keeps running there. The
helper threads take `_stream_calls` for the whole call, so an abandoned one can never run
alongside the next (two PortAudio calls at once aborted the process once). A call that cannot
get it within its own time limit fails with an AudioDeviceError saying an earlier call is still
stuck; if that never ends, the audio stays down and the watchdog gets the service restarted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import pyaudio

from edgevoice.adapters.portaudio_startup import (
    STARTUP_TIMEOUT,
    PortAudio,
    blocked_hint,
    start_portaudio,
    stop_portaudio,
)
from edgevoice.errors import (
    AudioDeviceError,
    DeviceBusyError,
    DeviceNotFoundError,
    DeviceStalledError,
)

log = logging.getLogger(__name__)

Kind = Literal["input", "output"]
T = TypeVar("T")

# The rates `edgevoice devices` probes: telephone, Live API input/output, and the usual card rates.
COMMON_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)

# PortAudio error codes (portaudio.h, PaErrorCode); pyaudio raises OSError(code, text).
PA_INVALID_CHANNEL_COUNT = -9998
PA_INVALID_SAMPLE_RATE = -9997
PA_DEVICE_UNAVAILABLE = -9985  # ALSA's EBUSY ("Device or resource busy") maps to this

SAMPLE_FORMAT = pyaudio.paInt16

# Held by the helper thread of every stream open, start and close (see the module docstring).
_stream_calls = threading.Lock()
# How long an abandoned stream's late close may wait for its turn (a helper thread, nobody
# waits for it).
ABANDON_WAIT_S = 60.0


def exclusive(fn: Callable[[], T], timeout: float, what: str) -> T:
    """Run `fn` (a blocking PortAudio stream call) holding `_stream_calls`, waiting at most
    `timeout` seconds for it; AudioDeviceError when an earlier call still holds it."""
    if not _stream_calls.acquire(timeout=max(0.0, timeout)):
        raise AudioDeviceError(
            f"cannot {what}: an earlier PortAudio call is still stuck (a device that blocks: "
            f"{blocked_hint()}); edgevoice retries, and is restarted by the watchdog if it "
            "never ends"
        )
    try:
        return fn()
    finally:
        _stream_calls.release()


@dataclass(frozen=True)
class DeviceInfo:
    """One PortAudio device: its index (what pyaudio opens), ALSA name and capabilities."""

    index: int
    name: str
    max_input_channels: int
    max_output_channels: int
    default_rate: int  # Hz

    def channels(self, kind: Kind) -> int:
        return self.max_input_channels if kind == "input" else self.max_output_channels


def _device_info(raw: dict[str, Any]) -> DeviceInfo:
    return DeviceInfo(
        index=int(raw["index"]),
        name=str(raw["name"]),
        max_input_channels=int(raw["maxInputChannels"]),
        max_output_channels=int(raw["maxOutputChannels"]),
        default_rate=round(float(raw["defaultSampleRate"])),
    )


def list_devices(pa: PortAudio) -> list[DeviceInfo]:
    """Every device of PortAudio's ALSA host API (or of the default host API off Linux)."""
    try:
        api = pa.get_host_api_info_by_type(pyaudio.paALSA)
    except OSError:  # no ALSA host API (a laptop running macOS, say): use the default one
        api = pa.get_default_host_api_info()
    api_index = int(api["index"])
    count = int(api["deviceCount"])
    return [
        _device_info(pa.get_device_info_by_host_api_device_index(api_index, i))
        for i in range(count)
    ]


def find_device(devices: Sequence[DeviceInfo], wanted: str, kind: Kind) -> DeviceInfo:
    """The device named `wanted` (exact name, else a unique case-insensitive substring).

    Only devices with `kind` channels (input: capture, output: playback) are considered.
    Raises DeviceNotFoundError naming the candidates when nothing or more than one matches.
    """
    usable = [d for d in devices if d.channels(kind) > 0]
    for device in usable:
        if device.name == wanted:
            return device
    needle = wanted.lower()
    matches = [d for d in usable if needle in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        error = DeviceNotFoundError(kind, wanted, [d.name for d in matches])
        names = ", ".join(repr(d.name) for d in matches)
        error.args = (
            f"{wanted!r} matches several {kind} devices: {names}. "
            f"Set audio.{kind}_device to the full name (see `edgevoice devices`)",
        )
        raise error
    raise DeviceNotFoundError(kind, wanted, [d.name for d in usable])


def rate_supported(pa: PortAudio, device: DeviceInfo, kind: Kind, rate: int, channels: int) -> bool:
    """Whether the device opens as 16-bit `channels` at `rate` (PortAudio asks ALSA)."""
    try:
        if kind == "input":
            ok = pa.is_format_supported(
                rate,
                input_device=device.index,
                input_channels=channels,
                input_format=SAMPLE_FORMAT,
            )
        else:
            ok = pa.is_format_supported(
                rate,
                output_device=device.index,
                output_channels=channels,
                output_format=SAMPLE_FORMAT,
            )
    except ValueError:  # pyaudio reports "not supported" (and a busy device) as ValueError
        return False
    return bool(ok)


def device_error(exc: OSError, kind: Kind, name: str, action: str) -> AudioDeviceError:
    """The typed error for a PortAudio failure while doing `action` ("open", "start", ...)."""
    if isinstance(exc, AudioDeviceError):
        return exc
    code = exc.errno
    text = exc.strerror or str(exc)
    if code == PA_DEVICE_UNAVAILABLE or "busy" in text.lower():
        return DeviceBusyError(
            f"{kind} device {name!r} is busy (Device or resource busy): another program holds "
            f"it; stop that program or use a shared device (dsnoop/dmix, pulse)"
        )
    if code == PA_INVALID_CHANNEL_COUNT:
        return AudioDeviceError(
            f"{kind} device {name!r} does not take that channel count; "
            f"set audio.{kind}_channels to what `edgevoice devices` lists"
        )
    return AudioDeviceError(f"cannot {action} {kind} device {name!r}: {text} (PortAudio {code})")


async def run_in_thread(
    fn: Callable[[], T],
    *,
    name: str,
    abandon: Callable[[T], None] | None = None,
) -> T:
    """Run a blocking call in a fresh daemon thread and await its result.

    A fresh daemon thread (not the loop's default executor) so a device stuck inside PortAudio
    can neither exhaust the executor nor hold up interpreter exit. Wrap it in
    `asyncio.timeout()` to bound the wait (a timed-out thread is left behind). If the caller
    stops waiting (timeout, cancellation) and the call later succeeds, `abandon(result)` runs
    in a thread of its own, so an opened stream is not leaked.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(result: T) -> None:
        if future.done():
            if abandon is not None:
                threading.Thread(target=abandon, args=(result,), daemon=True).start()
        else:
            future.set_result(result)

    def fail(exc: BaseException) -> None:
        if not future.done():
            future.set_exception(exc)

    def target() -> None:
        try:
            result = fn()
        except BaseException as exc:
            try:
                loop.call_soon_threadsafe(fail, exc)
            except RuntimeError:  # the loop is gone; nobody is waiting
                pass
            return
        try:
            loop.call_soon_threadsafe(deliver, result)
        except RuntimeError:
            if abandon is not None:
                abandon(result)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


class ThrottledWarning:
    """Counts a recurring problem and logs it at most once per `interval` seconds, with the count.

    `note(n)` runs on the event loop; `clock` is injectable so tests need no sleeps.
    """

    def __init__(
        self,
        logger: logging.Logger,
        message: str,
        *,
        interval: float,
        clock: Callable[[], float],
    ) -> None:
        self._logger = logger
        self._message = message  # %-format with one %d: the count since the last warning
        self._interval = interval
        self._clock = clock
        self._last: float | None = None
        self._pending = 0
        self.total = 0
        self.logged = 0

    def note(self, n: int = 1) -> None:
        self._pending += n
        self.total += n
        now = self._clock()
        if self._last is None or now - self._last >= self._interval:
            self._logger.warning(self._message, self._pending)
            self._pending = 0
            self._last = now
            self.logged += 1


# --------------------------------------------------------------------------------------------
# One PortAudio stream: opened, checked and closed the same way for capture and playback.

_LABEL: dict[Kind, str] = {"input": "capture", "output": "playback"}


@dataclass(frozen=True)
class OpenedStream:
    """A started-or-ready PortAudio stream and the PyAudio instance that owns it."""

    pa: PortAudio
    stream: Any  # pyaudio.Stream
    device: DeviceInfo
    rate: int
    kind: Kind


def open_stream(
    factory: Callable[[], PortAudio],
    kind: Kind,
    device_name: str,
    wanted_rate: int,
    channels: int,
    period_ms: int,
    callback: Callable[..., Any],
    *,
    startup_timeout: float = STARTUP_TIMEOUT,
) -> OpenedStream:
    """Find the device and open a callback stream (not started). Blocking; any thread.

    Opens at `wanted_rate`, or, with a warning, at the device's default rate when PortAudio
    says the rate is invalid for it. Raises DeviceNotFoundError, DeviceBusyError or
    AudioDeviceError; PortAudio is released on failure.
    """
    pa = start_portaudio(factory, timeout=startup_timeout)
    try:
        device = find_device(list_devices(pa), device_name, kind)
        direction: dict[str, Any] = (
            {"input": True, "input_device_index": device.index}
            if kind == "input"
            else {"output": True, "output_device_index": device.index}
        )

        def attempt(rate: int) -> Any:
            return pa.open(
                format=SAMPLE_FORMAT,
                channels=channels,
                rate=rate,
                frames_per_buffer=max(1, rate * period_ms // 1000),
                stream_callback=callback,
                start=False,
                **direction,
            )

        rate = wanted_rate
        try:
            try:
                stream = attempt(rate)
            except OSError as exc:
                if exc.errno != PA_INVALID_SAMPLE_RATE or device.default_rate == wanted_rate:
                    raise
                rate = device.default_rate
                stream = attempt(rate)
                log.warning(
                    "%s device %r refused %d Hz; using its default rate %d Hz",
                    _LABEL[kind],
                    device.name,
                    wanted_rate,
                    rate,
                )
        except OSError as exc:
            if exc.errno == PA_INVALID_SAMPLE_RATE:
                raise AudioDeviceError(
                    f"{kind} device {device.name!r} accepts neither {wanted_rate} Hz nor its "
                    f"default {device.default_rate} Hz with {channels} channel(s); check "
                    f"audio.{kind}_rate and audio.{kind}_channels against `edgevoice devices`"
                ) from exc
            raise device_error(exc, kind, device.name, "open") from exc
    except BaseException:
        stop_portaudio(pa)
        raise
    return OpenedStream(pa, stream, device, rate, kind)


async def open_in_thread(
    open_blocking: Callable[[], OpenedStream], kind: Kind, device_name: str, timeout_s: float
) -> OpenedStream:
    """Run `open_blocking` (which calls open_stream) in a helper thread, bounded by `timeout_s`.

    A device that has not opened by then raises DeviceStalledError naming what most likely
    blocks it; the helper thread is left behind, and a stream it still opens is closed.
    """
    label = _LABEL[kind]
    try:
        async with asyncio.timeout(timeout_s):
            return await run_in_thread(
                lambda: exclusive(open_blocking, timeout_s, f"open the {label} device"),
                name=f"edgevoice-{label}-open",
                abandon=_close_abandoned,
            )
    except TimeoutError:
        raise DeviceStalledError(
            f"{label} device {device_name!r} did not open within {timeout_s:g} s: "
            f"{blocked_hint(device_name)}"
        ) from None


async def start_in_thread(opened: OpenedStream, timeout_s: float) -> None:
    """Start the stream in a helper thread, bounded by `timeout_s` (DeviceStalledError)."""
    label = _LABEL[opened.kind]
    try:
        async with asyncio.timeout(timeout_s):
            await run_in_thread(
                lambda: exclusive(opened.stream.start_stream, timeout_s, f"start the {label}"),
                name=f"edgevoice-{label}-start",
            )
    except TimeoutError:
        raise DeviceStalledError(
            f"{label} device {opened.device.name!r} did not start within {timeout_s:g} s: "
            f"{blocked_hint(opened.device.name)}"
        ) from None
    except OSError as exc:
        raise device_error(exc, opened.kind, opened.device.name, "start") from exc


def close_stream_blocking(opened: OpenedStream) -> None:
    """Abort and close the stream, then release PortAudio (blocking; helper thread; the
    caller holds `_stream_calls`)."""
    try:
        opened.stream.close()  # an active stream is aborted: pending buffers are discarded
    finally:
        stop_portaudio(opened.pa)


def _close_abandoned(opened: OpenedStream) -> None:
    """Close a stream whose open finished after its caller gave up (helper thread)."""
    try:
        exclusive(lambda: close_stream_blocking(opened), ABANDON_WAIT_S, "close a late stream")
    except (AudioDeviceError, OSError) as exc:
        log.warning("a %s stream opened too late could not be closed: %s", opened.kind, exc)


async def close_stream(opened: OpenedStream, timeout_s: float) -> None:
    """Close in a helper thread; a device that does not stop within `timeout_s` is abandoned
    (logged), and a failing close is logged, never raised: closing must always succeed."""
    label = _LABEL[opened.kind]
    try:
        async with asyncio.timeout(timeout_s):
            await run_in_thread(
                lambda: exclusive(
                    lambda: close_stream_blocking(opened), timeout_s, f"close the {label}"
                ),
                name=f"edgevoice-{label}-close",
            )
    except TimeoutError:
        log.warning(
            "%s device %r did not close within %.0f s; abandoned",
            label,
            opened.device.name,
            timeout_s,
        )
    except AudioDeviceError as exc:
        log.warning("%s device %r left unclosed: %s", label, opened.device.name, exc)
    except OSError as exc:
        log.warning("%s device %r failed to close cleanly: %s", label, opened.device.name, exc)


def check_alive(opened: OpenedStream) -> None:
    """Raise AudioDeviceError when the stream has ended with an error (unplugged, failed)."""
    name = opened.device.name
    try:
        active = bool(opened.stream.is_active())
    except OSError as exc:
        raise device_error(exc, opened.kind, name, "poll") from exc
    if not active:
        raise AudioDeviceError(
            f"{_LABEL[opened.kind]} device {name!r} stopped: its stream ended with an error "
            f"(unplugged, or the ALSA device failed); reopening"
        )
