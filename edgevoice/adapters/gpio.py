"""The push-to-talk button and the status LED, on gpiozero.

`open_button(...)` gives a `ButtonTrigger` (a `ports.TriggerSource`): press, release and long
press, each stamped with `time.monotonic()` at the edge. `open_led(...)` gives a `LedIndicator`
(a `ports.Indicator`): one pattern per `DeviceState` on a single LED (solid, blink, pulse on a
PWM pin, off) or one colour and pattern per state on an RGB LED.

gpiozero picks the pin library itself (lgpio on a Pi 5 and on older boards with bookworm; its
other factories where lgpio is missing); nothing here is RPi.GPIO-specific. Tests inject
gpiozero's own `MockFactory` through `pin_factory=`.

No GPIO (a laptop, a container, no /dev/gpiochip*, no permission): both open functions log
ONE warning line naming the fix and return None; the daemon runs on without the button or LED
(the voice trigger and `edgevoice ctl` still drive it).

Threads: gpiozero calls `when_pressed` / `when_released` from its pin thread (lgpio's callback
thread; MockPin calls them in the thread that drives the pin) and `when_held` from its own hold
thread. Those callbacks only stamp the time and hand the event to the loop with
`loop.call_soon_threadsafe`; they never touch asyncio objects directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from edgevoice.ports import DeviceState, TriggerEvent, TriggerKind

if TYPE_CHECKING:
    from edgevoice.ports import Indicator, TriggerSource

log = logging.getLogger("edgevoice.gpio")
_T = TypeVar("_T")

# A bouncing contact or a hostile pin cannot grow memory without bound: beyond this many
# undelivered edges the newest are dropped (and counted). A person presses a few times a second.
MAX_PENDING_EVENTS: Final = 64

_NO_GPIO_FIX = (
    "on a Raspberry Pi install lgpio in edgevoice's environment (pip install lgpio) and give "
    "the service user access to /dev/gpiochip* (group gpio); elsewhere set "
)


class _Closed:
    """The end-of-stream marker put in the event queue by `close()`."""


_CLOSED: Final = _Closed()


def _no_gpio_line(what: str, error: BaseException, fallbacks: Sequence[str], turn_off: str) -> str:
    """The one warning line for a device that cannot be opened, naming the fix."""
    name = type(error).__name__
    if isinstance(error, PermissionError):
        return (
            f"{what} disabled: no permission to use the GPIO chip ({error}); add the service "
            f"user to the gpio group, or set {turn_off} to run without it"
        )
    if name == "GPIOPinInUse":
        return (
            f"{what} disabled: its pin is already in use ({error}); stop whatever holds it or "
            f"choose another pin"
        )
    if _is_pin_error(error):
        return f"{what} disabled: {name}: {error}; choose another pin or setting"
    tried = f" (tried: {'; '.join(fallbacks)})" if fallbacks else ""
    return f"{what} disabled: no usable GPIO here: {name}: {error}{tried}; {_NO_GPIO_FIX}{turn_off}"


def _is_pin_error(error: BaseException) -> bool:
    """A gpiozero error about this pin (invalid, fixed pull, no PWM), not about the machine."""
    from gpiozero.exc import PinError, PinNoPins, PinUnknownPi

    return isinstance(error, PinError) and not isinstance(error, (PinNoPins, PinUnknownPi))


def _open_or_none(what: str, turn_off: str, build: Callable[[], _T]) -> _T | None:
    """Run `build()` (gpiozero device construction) and return what it made, or None after one
    warning line naming the fix when it failed.

    gpiozero's pin-factory fallback warnings are captured instead of printed (one per library
    it tried), and named in that line. Every failure counts: no GPIO, no permission, a pin in
    use, a pin library's own exception class (lgpio raises a bare `lgpio.error`); the daemon
    runs on without the device.
    """
    fallbacks: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: _T | None = build()
            failure: Exception | None = None
        except Exception as error:
            result, failure = None, error
    for warning in caught:
        category = warning.category.__name__
        if category == "PinFactoryFallback":
            fallbacks.append(str(warning.message))
        elif category == "NativePinFactoryFallback":
            log.warning(
                "gpiozero uses its experimental native pin factory (lgpio not found); "
                "install lgpio in edgevoice's environment (pip install lgpio)"
            )
        else:  # not ours to swallow
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if failure is not None:
        log.warning("%s", _no_gpio_line(what, failure, fallbacks, turn_off))
    return result


# --------------------------------------------------------------------------------------------
# The button


def _check_button(bounce_ms: int, long_press_s: float) -> None:
    if bounce_ms < 0:
        raise ValueError(f"bounce_ms must be >= 0, got {bounce_ms}")
    if not long_press_s > 0:
        raise ValueError(f"long_press_s must be > 0, got {long_press_s}")


class ButtonTrigger:
    """A push button on one GPIO pin as a `ports.TriggerSource`.

    Events, in the order of the edges: PRESS on press-down, RELEASE on release, and
    LONG_PRESS once the button has been held `long_press_s` (the RELEASE still follows when it
    is let go). Each carries `source="button"` and the `time.monotonic()` of the edge (taken in
    gpiozero's thread, so a busy loop does not shift it).

    `pull_up=True` (the default): the button connects the pin to ground and the internal
    pull-up holds it high, so pressed = low. `pull_up=False`: the button connects the pin to
    3.3 V, pressed = high. `bounce_ms` is gpiozero's debounce time (0 = none).

    Raises what gpiozero raises when the pin cannot be opened; `open_button()` turns the
    "no GPIO here" ones into a warning and None. Create it on the loop's thread.
    """

    def __init__(
        self,
        pin: int,
        *,
        loop: asyncio.AbstractEventLoop,
        pull_up: bool = True,
        bounce_ms: int = 30,
        long_press_s: float = 2.0,
        pin_factory: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_button(bounce_ms, long_press_s)
        from gpiozero import Button

        self._loop = loop
        self._clock = clock
        self._queue: asyncio.Queue[TriggerEvent | _Closed] = asyncio.Queue()
        self._pending = 0  # edges handed to the loop and not yet taken by events()
        self.dropped = 0  # edges dropped because MAX_PENDING_EVENTS were waiting
        self._closed = False
        self.pin = pin
        self._button = Button(
            pin,
            pull_up=pull_up,
            bounce_time=bounce_ms / 1000 if bounce_ms else None,
            hold_time=long_press_s,
            hold_repeat=False,
            pin_factory=pin_factory,
        )
        self._button.when_pressed = lambda: self._edge(TriggerKind.PRESS)
        self._button.when_released = lambda: self._edge(TriggerKind.RELEASE)
        self._button.when_held = lambda: self._edge(TriggerKind.LONG_PRESS)

    @property
    def is_pressed(self) -> bool:
        """Whether the button is down right now (read from the pin)."""
        return bool(self._button.is_pressed)

    def _edge(self, kind: TriggerKind) -> None:
        # gpiozero's thread: stamp now, hand over, never touch the queue from here.
        event = TriggerEvent(kind, "button", self._clock())
        try:
            self._loop.call_soon_threadsafe(self._deliver, event)
        except RuntimeError:  # the loop is closed: the daemon is shutting down
            pass

    def _deliver(self, event: TriggerEvent) -> None:
        if self._closed:
            return
        if self._pending >= MAX_PENDING_EVENTS:
            self.dropped += 1
            if self.dropped == 1:
                log.warning(
                    "button on GPIO%d: more than %d presses waiting; dropping edges (a bouncing "
                    "contact? raise button.bounce_ms)",
                    self.pin,
                    MAX_PENDING_EVENTS,
                )
            return
        self._pending += 1
        self._queue.put_nowait(event)

    async def events(self) -> AsyncIterator[TriggerEvent]:
        """Yield PRESS / RELEASE / LONG_PRESS in edge order until `close()`; one consumer."""
        while True:
            item = await self._queue.get()
            if isinstance(item, _Closed):
                self._queue.put_nowait(item)  # a later events() ends at once too
                return
            self._pending -= 1
            yield item

    async def close(self) -> None:
        """Stop listening, release the pin, end a running `events()`. Never raises; safe
        twice."""
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(_CLOSED)
        try:
            # Off the loop: gpiozero joins its hold thread, which waits out up to long_press_s
            # while the button is held.
            await asyncio.to_thread(self._button.close)
        except Exception as error:  # a pin library failing at shutdown must not stop it
            log.warning("button on GPIO%d: closing failed: %s", self.pin, error)


def open_button(
    pin: int,
    *,
    loop: asyncio.AbstractEventLoop,
    pull_up: bool = True,
    bounce_ms: int = 30,
    long_press_s: float = 2.0,
    pin_factory: Any = None,
) -> ButtonTrigger | None:
    """The button on BCM `pin`, or None (after one warning line naming the fix) when this
    machine has no usable GPIO. Bad parameters raise ValueError (the config checks them)."""

    _check_button(bounce_ms, long_press_s)
    return _open_or_none(
        f"button on GPIO{pin}",
        'trigger.mode = "voice" (the voice trigger and `edgevoice ctl` still work)',
        lambda: ButtonTrigger(
            pin,
            loop=loop,
            pull_up=pull_up,
            bounce_ms=bounce_ms,
            long_press_s=long_press_s,
            pin_factory=pin_factory,
        ),
    )


# --------------------------------------------------------------------------------------------
# The LED

PatternMode = Literal["off", "solid", "blink", "pulse"]
Color = tuple[float, float, float]


@dataclass(frozen=True)
class Pattern:
    """How the LED shows one state.

    `mode`: "off", "solid", "blink" (`on_s` lit, `off_s` dark, repeated) or "pulse" (fades
    in over `on_s` and out over `off_s`, repeated; needs PWM: without it the LED blinks with
    the same times instead). `color` applies to an RGB LED only (components 0..1; use 0 or 1
    unless the RGB LED is on PWM pins).
    """

    mode: PatternMode
    on_s: float = 0.0
    off_s: float = 0.0
    color: Color = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if self.mode not in ("off", "solid", "blink", "pulse"):
            raise ValueError(f"unknown LED pattern mode {self.mode!r}")
        if self.mode in ("blink", "pulse") and not (self.on_s > 0 and self.off_s > 0):
            raise ValueError(f"a {self.mode} pattern needs on_s > 0 and off_s > 0")
        if len(self.color) != 3 or not all(0.0 <= c <= 1.0 for c in self.color):
            raise ValueError(f"an LED colour is three values in 0..1, got {self.color!r}")


OFF: Final = Pattern("off")
RED: Final[Color] = (1.0, 0.0, 0.0)
GREEN: Final[Color] = (0.0, 1.0, 0.0)
BLUE: Final[Color] = (0.0, 0.0, 1.0)
YELLOW: Final[Color] = (1.0, 1.0, 0.0)

# One LED: "listening" is the only steady light, so a person can trust it (audio is leaving
# the device exactly while it is lit). The other states differ in rhythm.
SINGLE_PATTERNS: Final[Mapping[DeviceState, Pattern]] = MappingProxyType(
    {
        DeviceState.STARTING: OFF,
        DeviceState.IDLE: OFF,
        DeviceState.CONNECTING: Pattern("blink", 0.1, 0.1),  # rapid flicker
        DeviceState.LISTENING: Pattern("solid"),
        DeviceState.THINKING: Pattern("pulse", 0.5, 0.5),  # breathing, 1 per second
        DeviceState.SPEAKING: Pattern("pulse", 1.0, 1.0),  # slow breathing
        DeviceState.OFFLINE: Pattern("blink", 0.1, 1.9),  # a short flash every 2 s
        DeviceState.ERROR: Pattern("blink", 0.25, 0.25),  # steady 2 Hz blink: needs attention
        DeviceState.MUTED: Pattern("blink", 0.05, 0.95),  # a faint tick every second
    }
)

# An RGB LED: green only for listening (and only steady), red for mute and trouble.
RGB_PATTERNS: Final[Mapping[DeviceState, Pattern]] = MappingProxyType(
    {
        DeviceState.STARTING: OFF,
        DeviceState.IDLE: OFF,
        DeviceState.CONNECTING: Pattern("blink", 0.1, 0.1, BLUE),
        DeviceState.LISTENING: Pattern("solid", color=GREEN),
        DeviceState.THINKING: Pattern("pulse", 0.5, 0.5, BLUE),
        DeviceState.SPEAKING: Pattern("solid", color=BLUE),
        DeviceState.OFFLINE: Pattern("blink", 0.1, 1.9, YELLOW),
        DeviceState.ERROR: Pattern("blink", 0.25, 0.25, RED),
        DeviceState.MUTED: Pattern("solid", color=RED),
    }
)

LedKind = Literal["single", "rgb"]


def _check_led(
    pins: Sequence[int],
    kind: str,
    pwm: bool,
    patterns: Mapping[DeviceState, Pattern] | None,
) -> Mapping[DeviceState, Pattern]:
    """The pattern table to use; ValueError naming the problem for bad parameters."""
    if kind not in ("single", "rgb"):
        raise ValueError(f"unknown LED kind {kind!r}: use 'single' or 'rgb'")
    if kind == "single" and len(pins) != 1:
        raise ValueError(f"a single LED takes one pin, got {len(pins)}")
    if kind == "rgb" and len(pins) != 3:
        raise ValueError(f"an RGB LED takes three pins (red, green, blue), got {len(pins)}")
    default = SINGLE_PATTERNS if kind == "single" else RGB_PATTERNS
    table = MappingProxyType(dict(default if patterns is None else patterns))
    if kind == "rgb" and not pwm:
        for state, pattern in table.items():
            if any(c not in (0.0, 1.0) for c in pattern.color):
                raise ValueError(
                    f"LED pattern for {state.value}: colour {pattern.color} needs PWM "
                    "(use components 0 or 1 on a non-PWM RGB LED)"
                )
    return table


class LedIndicator:
    """A status LED as a `ports.Indicator`: `show(state)` switches to that state's pattern.

    `kind="single"`: one LED on `pins[0]` (a PWM LED when `pwm=True`: pulses fade; without
    PWM they blink). `kind="rgb"`: an RGB LED on `pins` = (red, green, blue) (`pwm=True` for
    colour fades). `active_high=False` for an LED wired to 3.3 V (lit when the pin is low) or
    a common-anode RGB LED. `patterns` overrides the default table (`SINGLE_PATTERNS` or
    `RGB_PATTERNS`); a state missing from it is shown as off.

    Blinks and pulses run in gpiozero's own thread; `show()` returns at once. Raises what
    gpiozero raises when the pins cannot be opened; `open_led()` turns that into None.
    """

    def __init__(
        self,
        pins: Sequence[int],
        *,
        kind: LedKind = "single",
        active_high: bool = True,
        pwm: bool = False,
        patterns: Mapping[DeviceState, Pattern] | None = None,
        pin_factory: Any = None,
    ) -> None:
        pins = tuple(pins)
        self.patterns: Mapping[DeviceState, Pattern] = _check_led(pins, kind, pwm, patterns)
        self.kind: LedKind = kind
        self.pins = pins
        self.pwm = pwm
        from gpiozero import LED, PWMLED, RGBLED

        self._device: Any
        if kind == "rgb":
            self._device = RGBLED(*pins, active_high=active_high, pwm=pwm, pin_factory=pin_factory)
        elif pwm:
            self._device = PWMLED(pins[0], active_high=active_high, pin_factory=pin_factory)
        else:
            self._device = LED(pins[0], active_high=active_high, pin_factory=pin_factory)
        self.state: DeviceState | None = None
        self.failures = 0
        self._closed = False

    def show(self, state: DeviceState) -> None:
        """Show `state` from now on (the same state again changes nothing, so a blink is not
        restarted). Never raises: a failing LED is logged once, the device keeps working."""
        if self._closed or state is self.state:
            return
        pattern = self.patterns.get(state, OFF)
        try:
            self._apply(pattern)
        except Exception as error:
            self.failures += 1
            if self.failures == 1:
                log.warning(
                    "status LED on GPIO%s failed (%s: %s); the device keeps working without it",
                    ",".join(map(str, self.pins)),
                    type(error).__name__,
                    error,
                )
            return
        self.state = state

    def _apply(self, pattern: Pattern) -> None:
        device = self._device
        rgb = self.kind == "rgb"
        mode = pattern.mode
        if mode == "pulse" and not self.pwm:
            mode = "blink"  # a plain pin cannot fade: same rhythm, hard edges
        if mode == "off":
            device.off()
        elif mode == "solid":
            if rgb:
                device.color = pattern.color
            else:
                device.on()
        elif mode == "blink":
            if rgb:
                device.blink(pattern.on_s, pattern.off_s, on_color=pattern.color)
            else:
                device.blink(pattern.on_s, pattern.off_s)
        elif rgb:
            device.pulse(pattern.on_s, pattern.off_s, on_color=pattern.color)
        else:
            device.pulse(pattern.on_s, pattern.off_s)

    def close(self) -> None:
        """Turn the LED off and release its pins. Never raises; safe twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._device.off()
            self._device.close()
        except Exception as error:
            log.warning("status LED: closing failed: %s", error)


def open_led(
    pins: Sequence[int],
    *,
    kind: LedKind = "single",
    active_high: bool = True,
    pwm: bool = False,
    patterns: Mapping[DeviceState, Pattern] | None = None,
    pin_factory: Any = None,
) -> LedIndicator | None:
    """The status LED, or None (after one warning line naming the fix) when this machine has
    no usable GPIO. Bad parameters raise ValueError (the config checks them)."""

    _check_led(pins, kind, pwm, patterns)
    return _open_or_none(
        f"status LED on GPIO{','.join(map(str, pins))}",
        "led.enabled = false",
        lambda: LedIndicator(
            pins,
            kind=kind,
            active_high=active_high,
            pwm=pwm,
            patterns=patterns,
            pin_factory=pin_factory,
        ),
    )


if TYPE_CHECKING:  # mypy checks that the adapters fit their ports

    def _fits(button: ButtonTrigger, led: LedIndicator) -> tuple[TriggerSource, Indicator]:
        return button, led
