"""The ports: what the app needs from the outside world, as `typing.Protocol`s.

Adapters (`edgevoice/adapters/`) implement these; the app and supervisor only see the ports, so
the whole daemon runs against file-backed audio, gpiozero's MockFactory and a local simulator
with the same code paths as on the device. Core module: no I/O, no third-party imports.

Threads. The daemon runs one asyncio event loop; every port method is called from that loop's
thread unless its docstring says otherwise. No method blocks the loop: device and disk work runs
in helper threads (awaited), and library threads (PortAudio, gpiozero) reach the loop only
through `call_soon_threadsafe`. Each method says what ends it and what it raises; a method that
"never raises" logs its failure instead, because the device must keep working without it.

Audio crossing these ports is 16-bit signed little-endian mono PCM in `bytes`: 16 kHz from the
microphone (`MIC_RATE`), and at the rate it came with to the speaker (`AudioSink.play` takes
it; the Live API sends `SPEAKER_RATE`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Final, Protocol

from edgevoice.limits import DayUsage

MIC_RATE: Final = 16_000  # Hz: what the Live API takes natively (audio/pcm;rate=16000)
SPEAKER_RATE: Final = 24_000  # Hz: what the Live API sends (audio/pcm;rate=24000)
FRAME_MS: Final = 20  # ms per microphone frame handed to the rest of the daemon
# Hz: the rates every AudioSink accepts in play() (it resamples them to the device rate). A rate
# outside is refused with ValueError; check a rate that came from outside against this first.
SINK_RATE_RANGE: Final = (8_000, 192_000)


class DeviceState(enum.Enum):
    """What the device is doing, as the LED, STATUS= and the journal show it."""

    STARTING = "starting"
    IDLE = "idle"  # ready; waiting for a press or speech
    CONNECTING = "connecting"
    LISTENING = "listening"  # streaming the user's speech
    THINKING = "thinking"  # user turn ended; waiting for the answer
    SPEAKING = "speaking"  # playing the answer
    OFFLINE = "offline"  # network or server unavailable; retrying
    ERROR = "error"  # a fatal problem a person must fix
    MUTED = "muted"  # the microphone is muted: nothing leaves the device until unmuted


class TriggerKind(enum.Enum):
    PRESS = "press"  # button down (hold mode) or a click that starts a turn (toggle mode)
    RELEASE = "release"  # button up (hold mode) or a click that ends a turn (toggle mode)
    # held for button.long_press_s: end the conversation (the RELEASE still follows)
    LONG_PRESS = "long_press"


@dataclass(frozen=True)
class TriggerEvent:
    kind: TriggerKind
    source: str  # "button", "voice" or "control"
    at: float  # monotonic seconds when it happened


class AudioSource(Protocol):
    """A microphone delivering 16 kHz mono int16 frames of FRAME_MS each."""

    async def start(self) -> None:
        """Open and start the device; returns once audio flows.

        The blocking open runs in a helper thread and is bounded by the adapter's open
        timeout. Raises AudioDeviceError (retryable: DeviceNotFoundError, DeviceBusyError, or a
        device that did not open in time); a second call while open does nothing.
        """

    def frames(self) -> AsyncIterator[bytes]:
        """Yield each frame (FRAME_MS of MIC_RATE mono int16) as it arrives; one consumer.

        Ends (returns) when `close()` is called. Raises AudioDeviceError when the device fails
        and DeviceStalledError when it stops delivering; `close()` then `start()` to recover.
        When the consumer falls behind, the oldest frames are dropped (and counted).
        """
        ...

    async def close(self) -> None:
        """Stop and release the device; pending frames are dropped; a running `frames()` ends.

        Bounded by the adapter's close timeout (a stuck device is abandoned and logged). Never
        raises; safe to call twice.
        """


class AudioSink(Protocol):
    """A speaker playing mono int16 audio at whatever rate it comes with."""

    async def start(self) -> None:
        """Open and start the device (helper thread, bounded by the open timeout).

        Raises AudioDeviceError (retryable). Audio queued before `start()` plays once open.
        """

    def play(self, pcm: bytes, rate: int) -> None:
        """Queue `pcm` (mono int16 at `rate` Hz) and return at once; never blocks the loop.

        The sink resamples from `rate` to its device rate; a change of rate between calls
        ends the previous stretch of audio cleanly and starts a new one. Raises ValueError for
        a rate outside SINK_RATE_RANGE (the audio is not queued) and AudioDeviceError when the
        device has failed (close and `start()` again).
        """

    def clear(self) -> None:
        """Barge-in: drop everything queued; the speaker is silent within one device period
        (after a short fade). Never blocks, never raises."""

    async def drain(self) -> None:
        """Wait until every queued sample has been handed to the device.

        Returns at once when nothing is queued or the device is not open, and when `close()` is
        called meanwhile. Raises AudioDeviceError or DeviceStalledError when the device fails
        while draining.
        """

    async def close(self) -> None:
        """Stop at once (queued audio is dropped) and release the device. Bounded by the close
        timeout; never raises; safe to call twice."""


class TriggerSource(Protocol):
    """Where presses come from: a GPIO button, the voice trigger, or the control socket."""

    def events(self) -> AsyncIterator[TriggerEvent]:
        """Yield presses and releases in the order they happened; one consumer.

        Library callbacks (gpiozero's pin thread) are handed to the loop with
        `call_soon_threadsafe`, never awaited from there. Ends (returns) when `close()` is
        called; raises only for a trigger that can no longer work (e.g. the pin is gone).
        """
        ...

    async def close(self) -> None:
        """Stop listening and release the pin or socket; a running `events()` ends. Never
        raises; safe to call twice."""


class Indicator(Protocol):
    """An LED (or anything else) that shows the device state."""

    def show(self, state: DeviceState) -> None:
        """Show `state` from now on; returns at once (a blink pattern runs in the library's own
        thread). Never raises: a failing LED is logged, the device keeps working."""

    def close(self) -> None:
        """Turn the LED off and release the pin. Never raises; safe to call twice."""


class ServiceNotifier(Protocol):
    """The service manager (systemd's sd_notify); a no-op when not running under it.

    Every method sends one datagram to a local socket and returns at once; none raises (a
    missing or broken notify socket is logged once and then ignored).
    """

    def ready(self, status: str | None = None) -> None:
        """READY=1: start-up is complete (devices open, config valid); with STATUS= when
        `status` is given."""

    def status(self, text: str) -> None:
        """STATUS=<text>: the one line `systemctl status` shows (outside text made printable)."""

    def reloading(self, status: str | None = None) -> None:
        """RELOADING=1, then `ready()` again once the new config is in use."""

    def stopping(self, status: str | None = None) -> None:
        """STOPPING=1: shutdown has begun."""

    def watchdog(self) -> None:
        """WATCHDOG=1: the loop is alive (call at half of WATCHDOG_USEC)."""

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog() calls (half of WATCHDOG_USEC), or None when the
        watchdog is off."""


@dataclass(frozen=True)
class ResumptionHandle:
    """The newest resumable session handle and when the server issued it.

    `issued_at` is wall-clock time (seconds since the Unix epoch, `time.time()`), not
    monotonic, so it still means something after a restart. The handle is a credential for the
    conversation: it is left out of `repr` and must never reach a log line.
    """

    value: str = field(repr=False)
    issued_at: float
    # The bare model id of the session that issued it (a handle resumes only on that model,
    # protocol doc 6.3); None when not known (a state file from before it was saved).
    model: str | None = None

    def __post_init__(self) -> None:
        if not self.value:
            raise ValueError("a resumption handle cannot be empty")
        if self.model is not None and not self.model:
            raise ValueError("a resumption handle's model cannot be empty")
        if not math.isfinite(self.issued_at) or self.issued_at < 0:
            raise ValueError("issued_at must be a finite, non-negative Unix time")

    def age(self, now: float) -> float:
        """Seconds since the handle was issued, at wall-clock time `now` (negative if the clock
        went backwards since)."""
        return now - self.issued_at


@dataclass(frozen=True)
class SavedState:
    """What survives a restart. `volume` is None until someone changed it at run time (the
    config's audio.volume applies then). `usage` is the day's usage (`limits.DayUsage`), so a
    restart does not reset the daily cap; None until the first turn."""

    resumption: ResumptionHandle | None = None
    muted: bool = False
    volume: int | None = None  # percent, 0-100
    usage: DayUsage | None = None


class StateStore(Protocol):
    """Keeps `SavedState` across restarts.

    Any thread may call it (calls are serialised by a lock). The `save_*` methods update the
    state in memory at once and write it out at most every few seconds (coalescing bursts, such
    as a handle every 0.9 s), without fsync: they may do one small file write, never an fsync.
    `write_if_due()` writes a pending change whose interval has passed; `flush()` and `close()`
    write and fsync, so they may block for tens of ms on an SD card: call them off the loop
    (`asyncio.to_thread`) or at shutdown. A failing disk is logged (throttled), never raised.
    """

    def load(self) -> SavedState:
        """Read the saved state (once, at start-up). A missing, unreadable or hostile file
        gives the defaults (and one warning line); never raises, never blocks on a FIFO."""
        ...

    def save_resumption(self, handle: ResumptionHandle | None) -> None:
        """Remember the newest resumable handle (None forgets it, e.g. after the server
        refused it)."""

    def save_muted(self, muted: bool) -> None:
        """Remember whether the microphone is muted."""

    def save_volume(self, percent: int) -> None:
        """Remember the playback volume (0-100 %); raises ValueError outside that range."""

    def save_usage(self, usage: DayUsage) -> None:
        """Remember the day's usage (audio seconds sent, tokens, turns)."""

    def write_if_due(self) -> None:
        """Write a pending change once the write interval has passed (call it periodically,
        e.g. once a second, so the last change of a burst is not held back for long)."""

    def flush(self) -> None:
        """Write any pending change now and fsync it (file and directory)."""

    def close(self) -> None:
        """`flush()`, then refuse further writes (saves are kept in memory only). Safe twice."""
