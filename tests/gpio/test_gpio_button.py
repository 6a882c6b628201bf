"""The push-to-talk button on gpiozero's MockFactory: edges, pulls, long press, threads, close."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from gpiozero import Button
from gpiozero.pins.mock import MockFactory

from edgevoice.adapters.gpio import MAX_PENDING_EVENTS, ButtonTrigger, open_button
from edgevoice.ports import TriggerEvent, TriggerKind

from .conftest import HANG_GUARD

PIN = 17


async def next_event(events: AsyncIterator[TriggerEvent]) -> TriggerEvent:
    async with asyncio.timeout(HANG_GUARD):
        return await anext(events)


async def open_on(factory: MockFactory, **kw: object) -> ButtonTrigger:
    trigger = open_button(PIN, loop=asyncio.get_running_loop(), pin_factory=factory, **kw)  # type: ignore[arg-type]
    assert trigger is not None
    return trigger


async def test_pull_up_button_pressed_when_driven_low(factory: MockFactory) -> None:
    trigger = await open_on(factory, pull_up=True)
    events = trigger.events()
    pin = factory.pin(PIN)
    assert pin.pull == "up"
    pin.drive_low()
    pressed = await next_event(events)
    pin.drive_high()
    released = await next_event(events)
    assert (pressed.kind, released.kind) == (TriggerKind.PRESS, TriggerKind.RELEASE)
    assert pressed.source == released.source == "button"
    assert pressed.at <= released.at
    await trigger.close()


async def test_pull_down_button_pressed_when_driven_high(factory: MockFactory) -> None:
    trigger = await open_on(factory, pull_up=False)
    events = trigger.events()
    pin = factory.pin(PIN)
    assert pin.pull == "down"
    assert not trigger.is_pressed
    pin.drive_high()
    assert (await next_event(events)).kind is TriggerKind.PRESS
    assert trigger.is_pressed
    pin.drive_low()
    assert (await next_event(events)).kind is TriggerKind.RELEASE
    await trigger.close()


async def test_bounce_time_reaches_the_pin(factory: MockFactory) -> None:
    # MockPin does not debounce (environment.md), so what is checked is what gpiozero was told.
    trigger = await open_on(factory, bounce_ms=45)
    assert factory.pin(PIN).bounce == pytest.approx(0.045)
    await trigger.close()
    factory.reset()
    trigger = await open_on(factory, bounce_ms=0)
    assert factory.pin(PIN).bounce is None
    await trigger.close()


async def test_long_press_fires_once_while_held_then_release_follows(factory: MockFactory) -> None:
    trigger = await open_on(factory, long_press_s=0.05)
    events = trigger.events()
    pin = factory.pin(PIN)
    # A short press first: its release comes before any long press could fire.
    pin.drive_low()
    pin.drive_high()
    # Then a long one, held until gpiozero's hold thread reports it.
    pin.drive_low()
    kinds = [(await next_event(events)).kind for _ in range(4)]
    pin.drive_high()
    kinds.append((await next_event(events)).kind)
    assert kinds == [
        TriggerKind.PRESS,
        TriggerKind.RELEASE,
        TriggerKind.PRESS,
        TriggerKind.LONG_PRESS,
        TriggerKind.RELEASE,
    ]
    await trigger.close()


async def test_edges_from_another_thread_reach_the_loop_in_order(factory: MockFactory) -> None:
    """On a Pi, lgpio calls back from its own thread; the events still arrive on the loop."""
    trigger = await open_on(factory)
    events = trigger.events()
    pin = factory.pin(PIN)

    def press_three_times() -> None:
        for _ in range(3):
            pin.drive_low()
            pin.drive_high()

    await asyncio.to_thread(press_three_times)
    got = [await next_event(events) for _ in range(6)]
    assert [e.kind for e in got] == [TriggerKind.PRESS, TriggerKind.RELEASE] * 3
    assert [e.at for e in got] == sorted(e.at for e in got)
    await trigger.close()


async def test_a_flood_of_edges_is_bounded_and_counted(factory: MockFactory) -> None:
    trigger = await open_on(factory)
    pin = factory.pin(PIN)
    for _ in range(MAX_PENDING_EVENTS):  # 2 edges each, nobody reading
        pin.drive_low()
        pin.drive_high()
    await asyncio.sleep(0)  # let the handed-over callbacks run
    assert trigger.dropped == MAX_PENDING_EVENTS
    events = trigger.events()
    first = [await next_event(events) for _ in range(MAX_PENDING_EVENTS)]
    assert [e.kind for e in first[:2]] == [TriggerKind.PRESS, TriggerKind.RELEASE]
    # Once read, new edges get through again.
    pin.drive_low()
    assert (await next_event(events)).kind is TriggerKind.PRESS
    pin.drive_high()
    await trigger.close()


async def test_close_ends_events_and_frees_the_pin(factory: MockFactory) -> None:
    trigger = await open_on(factory)
    reader = asyncio.create_task(anext(trigger.events(), None))
    await asyncio.sleep(0)
    await trigger.close()
    async with asyncio.timeout(HANG_GUARD):
        assert await reader is None
    await trigger.close()  # twice is fine
    factory.pin(PIN).drive_low()  # edges after close go nowhere
    assert await anext(trigger.events(), None) is None
    Button(PIN, pin_factory=factory).close()  # the pin is free again


async def test_a_pin_in_use_gives_none_and_one_warning(
    factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    holder = Button(PIN, pin_factory=factory)
    with caplog.at_level(logging.WARNING, logger="edgevoice.gpio"):
        trigger = open_button(PIN, loop=asyncio.get_running_loop(), pin_factory=factory)
    assert trigger is None
    assert len(caplog.records) == 1
    line = caplog.records[0].getMessage()
    assert f"GPIO{PIN}" in line and "in use" in line and "another pin" in line
    holder.close()


async def test_a_fixed_pull_pin_names_the_setting(
    factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # GPIO2 carries a fixed pull-up on every Pi: a pull-down button cannot use it.
    with caplog.at_level(logging.WARNING, logger="edgevoice.gpio"):
        trigger = open_button(
            2, loop=asyncio.get_running_loop(), pull_up=False, pin_factory=factory
        )
    assert trigger is None
    [record] = caplog.records
    assert "GPIO2" in record.getMessage() and "PinFixedPull" in record.getMessage()


@pytest.mark.parametrize(("bounce_ms", "long_press_s"), [(-1, 2.0), (30, 0.0), (30, -1.0)])
async def test_bad_parameters_are_a_value_error(
    factory: MockFactory, bounce_ms: int, long_press_s: float
) -> None:
    with pytest.raises(ValueError, match=r"bounce_ms|long_press_s"):
        open_button(
            PIN,
            loop=asyncio.get_running_loop(),
            bounce_ms=bounce_ms,
            long_press_s=long_press_s,
            pin_factory=factory,
        )


NO_GPIO_SCRIPT = """
import asyncio, logging, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
from edgevoice.adapters.gpio import open_button, open_led

async def main():
    button = open_button(17, loop=asyncio.get_running_loop())
    led = open_led([27])
    print(button is None, led is None)

asyncio.run(main())
"""


def test_no_gpio_on_this_machine_gives_one_warning_line_each() -> None:
    """A real process on this container (no /dev/gpiochip*, no pin library): gpiozero picks its
    factory itself and fails; each device is one warning line naming the fix, nothing else."""
    if any(name.startswith("gpiochip") for name in os.listdir("/dev")):
        pytest.skip("this machine has a GPIO chip")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPIOZERO_")}
    done = subprocess.run(
        [sys.executable, "-c", NO_GPIO_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    button_line, led_line = lines
    assert button_line.startswith("WARNING button on GPIO17 disabled")
    assert "pip install lgpio" in button_line and 'trigger.mode = "voice"' in button_line
    assert "lgpio" in button_line.split("tried:")[1]  # the factories gpiozero tried are named
    assert led_line.startswith("WARNING status LED on GPIO27 disabled")
    assert "led.enabled = false" in led_line


async def test_closing_a_held_button_does_not_block_the_loop(factory: MockFactory) -> None:
    # gpiozero's close waits for its hold thread, up to long_press_s while the button is held.
    trigger = await open_on(factory, long_press_s=1.0)
    factory.pin(PIN).drive_low()
    # gpiozero's hold thread notices a press by polling every 0.1 s; only once it waits out the
    # hold time does close() block. Give it that poll (three times over) before closing.
    await asyncio.sleep(0.3)
    closing = asyncio.create_task(trigger.close())
    ran_while_closing = False
    async with asyncio.timeout(HANG_GUARD):
        while not closing.done():
            await asyncio.sleep(0.01)
            ran_while_closing = ran_while_closing or not closing.done()
    await closing
    assert ran_while_closing
