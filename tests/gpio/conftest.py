"""gpiozero's own MockFactory, injected through `pin_factory=` (never set globally)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

HANG_GUARD = 10.0  # seconds: only a hang trips it; nothing is timed against it


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    made = MockFactory()
    yield made
    made.reset()


@pytest.fixture
def pwm_factory() -> Iterator[MockFactory]:
    made = MockFactory(pin_class=MockPWMPin)
    yield made
    made.reset()


async def wait_until(predicate: Callable[[], Any], what: str) -> None:
    """Poll `predicate` (pin states change in gpiozero's blink thread) until it holds."""
    try:
        async with asyncio.timeout(HANG_GUARD):
            while True:
                if predicate():
                    return
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"not within {HANG_GUARD} s: {what}") from None
