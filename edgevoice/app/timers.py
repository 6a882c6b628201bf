"""Named one-shot timers on an injected clock, delivered as inputs to the controller.

`Timers.set("follow_up", 10.0)` starts (or restarts) the timer of that name; when it runs out
the controller receives `TimerFired("follow_up", token)`. `cancel(name)` stops it, and
`is_current(fired)` tells a timer that was cancelled or restarted after it had already fired
(its input still in the queue) from the live one. Waiting goes through the injected `sleep`, so
tests run the follow-up window and the response watchdog on virtual time
(`edgevoice.sim.VirtualClock`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from edgevoice.app.inputs import Input, TimerFired

Sleep = Callable[[float], Awaitable[None]]


class Timers:
    """The controller's timers. `spawn` creates a task in the controller's TaskGroup; `post`
    hands an input to the controller's queue."""

    def __init__(
        self,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        post: Callable[[Input], None],
        sleep: Sleep,
    ) -> None:
        self._spawn = spawn
        self._post = post
        self._sleep = sleep
        self._tokens = itertools.count(1)
        self._running: dict[str, tuple[int, asyncio.Task[None]]] = {}

    def set(self, name: str, seconds: float) -> None:
        """Start the timer `name` to fire in `seconds` (a running one is restarted)."""
        self.cancel(name)
        token = next(self._tokens)
        task = self._spawn(self._run(name, token, max(0.0, seconds)))
        self._running[name] = (token, task)

    def cancel(self, name: str) -> None:
        entry = self._running.pop(name, None)
        if entry is not None:
            entry[1].cancel()

    def cancel_all(self) -> None:
        for name in list(self._running):
            self.cancel(name)

    def running(self, name: str) -> bool:
        return name in self._running

    def is_current(self, fired: TimerFired) -> bool:
        """True for the input of the timer still set under that name (and forgets it)."""
        entry = self._running.get(fired.name)
        if entry is None or entry[0] != fired.token:
            return False
        del self._running[fired.name]
        return True

    async def _run(self, name: str, token: int, seconds: float) -> None:
        await self._sleep(seconds)
        self._post(TimerFired(name, token))
