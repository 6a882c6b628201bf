"""The ports: what the app needs from the outside world, as `typing.Protocol`s.

Adapters (`edgevoice/adapters/`) implement these; the app and supervisor only see the ports, so
the whole daemon runs against file-backed audio, gpiozero's MockFactory and a local simulator
with the same code paths as on the device. Core module: no I/O, no third-party imports.

Audio crossing these ports is always 16-bit signed little-endian mono PCM in `bytes`:
16 kHz from the microphone side, 24 kHz (the Live API's output rate) to the speaker side.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

MIC_RATE = 16_000  # Hz: what the Live API takes natively (audio/pcm;rate=16000)
SPEAKER_RATE = 24_000  # Hz: what the Live API always sends (audio/pcm;rate=24000)
FRAME_MS = 20  # ms per microphone frame handed to the rest of the daemon


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


class TriggerKind(enum.Enum):
    PRESS = "press"  # button down (hold mode) or a click that starts a turn (toggle mode)
    RELEASE = "release"  # button up (hold mode) or a click that ends a turn (toggle mode)


@dataclass(frozen=True)
class TriggerEvent:
    kind: TriggerKind
    source: str  # "button", "voice" or "control"
    at: float  # monotonic seconds when it happened


class AudioSource(Protocol):
    """A microphone delivering 16 kHz mono int16 frames of FRAME_MS each."""

    async def start(self) -> None:
        """Open the device. Raises AudioDeviceError (retryable) when it cannot."""

    def frames(self) -> AsyncIterator[bytes]:
        """Yield frames as they arrive; raises AudioDeviceError when the device fails."""
        ...

    async def close(self) -> None:
        """Stop and release the device. Safe to call twice."""


class AudioSink(Protocol):
    """A speaker taking 24 kHz mono int16 model audio."""

    async def start(self) -> None:
        """Open the device. Raises AudioDeviceError (retryable) when it cannot."""

    def play(self, pcm: bytes) -> None:
        """Queue audio for playback; never blocks the event loop."""

    def clear(self) -> None:
        """Barge-in: silence playback within one device period (with a short fade)."""

    async def drain(self) -> None:
        """Wait until every queued sample has been handed to the device."""

    async def close(self) -> None:
        """Stop and release the device. Safe to call twice."""


class TriggerSource(Protocol):
    """Where presses come from: a GPIO button, the voice trigger, or the control socket."""

    def events(self) -> AsyncIterator[TriggerEvent]: ...

    async def close(self) -> None: ...


class Indicator(Protocol):
    """An LED (or anything else) that shows the device state."""

    def show(self, state: DeviceState) -> None: ...

    def close(self) -> None: ...


class ServiceNotifier(Protocol):
    """The service manager (systemd's sd_notify); a no-op when not running under it."""

    def ready(self) -> None: ...

    def status(self, text: str) -> None: ...

    def reloading(self) -> None: ...

    def stopping(self) -> None: ...

    def watchdog(self) -> None: ...
