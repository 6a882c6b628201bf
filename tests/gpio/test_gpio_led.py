"""The status LED on gpiozero's MockFactory: the pin levels each pattern produces."""

from __future__ import annotations

import logging

import pytest
from gpiozero.pins.mock import MockFactory

from edgevoice.adapters.gpio import (
    RGB_PATTERNS,
    SINGLE_PATTERNS,
    LedIndicator,
    Pattern,
    open_led,
)
from edgevoice.ports import DeviceState

from .conftest import wait_until

PIN = 27
RGB = (5, 6, 13)


def levels(factory: MockFactory, pin: int) -> list[float]:
    return [float(s.state) for s in factory.pin(pin).states]


def toggled(factory: MockFactory, pin: int, times: int) -> bool:
    """The pin changed level at least `times` times since it was cleared."""
    return len(factory.pin(pin).states) > times


def single(factory: MockFactory, **kw: object) -> LedIndicator:
    led = open_led([PIN], pin_factory=factory, **kw)  # type: ignore[arg-type]
    assert led is not None
    return led


def test_every_state_has_a_pattern_and_only_listening_is_steady_on_one_led() -> None:
    # The privacy promise: a single LED lit steadily means audio is leaving the device.
    assert set(SINGLE_PATTERNS) == set(DeviceState) == set(RGB_PATTERNS)
    steady = [s for s, p in SINGLE_PATTERNS.items() if p.mode == "solid"]
    assert steady == [DeviceState.LISTENING]
    green = [s for s, p in RGB_PATTERNS.items() if p.color == (0, 1, 0) and p.mode != "off"]
    assert green == [DeviceState.LISTENING]
    assert RGB_PATTERNS[DeviceState.LISTENING].mode == "solid"
    # Every state a person must tell apart looks different.
    lit = [s for s in DeviceState if SINGLE_PATTERNS[s].mode != "off"]
    assert len({SINGLE_PATTERNS[s] for s in lit}) == len(lit)
    assert len({RGB_PATTERNS[s] for s in lit}) == len(lit)


async def test_listening_is_lit_idle_is_dark(factory: MockFactory) -> None:
    led = single(factory)
    pin = factory.pin(PIN)
    assert pin.state is False
    led.show(DeviceState.LISTENING)
    assert pin.state is True
    led.show(DeviceState.IDLE)
    assert pin.state is False
    led.close()


async def test_active_low_led_inverts_the_pin(factory: MockFactory) -> None:
    led = single(factory, active_high=False)
    pin = factory.pin(PIN)
    assert pin.state is True  # dark
    led.show(DeviceState.LISTENING)
    assert pin.state is False
    led.close()
    assert pin.state is True  # closed: dark again (gpiozero leaves the pin as it was)


async def test_blink_toggles_the_pin_and_the_next_state_stops_it(factory: MockFactory) -> None:
    led = single(factory)
    factory.pin(PIN).clear_states()
    led.show(DeviceState.CONNECTING)
    await wait_until(lambda: toggled(factory, PIN, 4), "the LED blinks")
    assert set(levels(factory, PIN)) == {0.0, 1.0}
    led.show(DeviceState.LISTENING)
    assert factory.pin(PIN).state is True
    factory.pin(PIN).clear_states()
    led.show(DeviceState.IDLE)
    led.show(DeviceState.IDLE)
    assert levels(factory, PIN) == [1.0, 0.0]  # the blink thread is gone: one edge, no more
    led.close()


async def test_showing_the_same_state_again_does_not_restart_it(factory: MockFactory) -> None:
    led = single(factory, patterns={DeviceState.CONNECTING: Pattern("blink", 5.0, 5.0)})
    factory.pin(PIN).clear_states()
    led.show(DeviceState.CONNECTING)
    led.show(DeviceState.CONNECTING)
    led.show(DeviceState.CONNECTING)
    # A restart would have switched the LED off and on again within its 5 s "on" phase.
    assert levels(factory, PIN) == [0.0, 1.0]
    led.close()


async def test_pulse_fades_on_a_pwm_pin(pwm_factory: MockFactory) -> None:
    led = single(pwm_factory, pwm=True)
    pwm_factory.pin(PIN).clear_states()
    led.show(DeviceState.THINKING)
    await wait_until(
        lambda: any(0.0 < v < 1.0 for v in levels(pwm_factory, PIN)), "intermediate levels"
    )
    led.show(DeviceState.LISTENING)
    assert pwm_factory.pin(PIN).state == 1.0
    led.close()


async def test_pulse_without_pwm_blinks_at_the_same_rhythm(factory: MockFactory) -> None:
    led = single(factory, pwm=False)
    factory.pin(PIN).clear_states()
    led.show(DeviceState.THINKING)
    await wait_until(lambda: toggled(factory, PIN, 3), "the LED blinks")
    assert set(levels(factory, PIN)) == {0.0, 1.0}
    led.close()


async def test_rgb_led_colours(factory: MockFactory) -> None:
    led = open_led(RGB, kind="rgb", pin_factory=factory)
    assert led is not None
    red, green, blue = (factory.pin(p) for p in RGB)
    led.show(DeviceState.LISTENING)
    assert (red.state, green.state, blue.state) == (False, True, False)
    led.show(DeviceState.MUTED)
    assert (red.state, green.state, blue.state) == (True, False, False)
    led.show(DeviceState.ERROR)  # blinking red
    red.clear_states()
    await wait_until(lambda: len(red.states) > 3, "red blinks")
    assert green.state is False and blue.state is False
    led.close()
    assert (red.state, green.state, blue.state) == (False, False, False)


async def test_rgb_pwm_led_takes_any_colour(pwm_factory: MockFactory) -> None:
    orange = Pattern("solid", color=(1.0, 0.5, 0.0))
    led = open_led(
        RGB, kind="rgb", pwm=True, patterns={DeviceState.IDLE: orange}, pin_factory=pwm_factory
    )
    assert led is not None
    led.show(DeviceState.IDLE)
    assert [pwm_factory.pin(p).state for p in RGB] == [1.0, 0.5, 0.0]
    led.show(DeviceState.SPEAKING)  # not in the table: off
    assert [pwm_factory.pin(p).state for p in RGB] == [0.0, 0.0, 0.0]
    led.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pins": [1, 2]}, "one pin"),
        ({"pins": [1], "kind": "rgb"}, "three pins"),
        ({"pins": [1], "kind": "matrix"}, "unknown LED kind"),
        (
            {
                "pins": RGB,
                "kind": "rgb",
                "patterns": {DeviceState.IDLE: Pattern("solid", color=(0.5, 0, 0))},
            },
            "needs PWM",
        ),
    ],
)
def test_bad_led_parameters_are_a_value_error(
    factory: MockFactory, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        open_led(pin_factory=factory, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "on_s", "off_s", "color"),
    [("glow", 0, 0, (1, 1, 1)), ("blink", 0, 1, (1, 1, 1)), ("solid", 0, 0, (2, 0, 0))],
)
def test_bad_patterns_are_refused(mode: str, on_s: float, off_s: float, color: object) -> None:
    with pytest.raises(ValueError):
        Pattern(mode, on_s, off_s, color)  # type: ignore[arg-type]


def test_pwm_led_on_a_pin_without_pwm_gives_none(
    factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="edgevoice.gpio"):
        assert open_led([PIN], pwm=True, pin_factory=factory) is None
    [record] = caplog.records
    assert f"GPIO{PIN}" in record.getMessage() and "PinPWMUnsupported" in record.getMessage()


async def test_a_failing_led_never_raises_and_is_logged_once(
    factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    led = single(factory)
    factory.pin(PIN).close()  # the pin is taken away (set back to an input) under the LED
    with caplog.at_level(logging.WARNING, logger="edgevoice.gpio"):
        led.show(DeviceState.LISTENING)
        led.show(DeviceState.IDLE)
        led.show(DeviceState.LISTENING)
    assert led.failures == 3
    [record] = caplog.records
    assert "status LED" in record.getMessage() and "keeps working" in record.getMessage()
    led.close()
    led.close()


async def test_show_after_close_does_nothing(factory: MockFactory) -> None:
    led = single(factory)
    led.close()
    led.show(DeviceState.LISTENING)
    assert factory.pin(PIN).state is False
