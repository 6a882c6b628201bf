"""Time for the simulator: the real clock by default, a virtual one for tests.

Everything timed in the simulator (reply pacing, connection lifetime and goAway, the setup
timeout, handle expiry) reads `SimOptions.now` and waits with `SimOptions.sleep`. Tests that must
not wait real seconds pass a `VirtualClock`:

    clock = VirtualClock()
    options = SimOptions(now=clock.now, sleep=clock.sleep)
    ...
    await clock.advance(590)      # sleepers due by then wake, in time order

Without `autojump` time moves only through `advance()`: a 10-minute connection lifetime passes
in two calls and milliseconds. With `autojump=True` every sleep moves time forward itself and
returns at once, so *every* timer fires at once too (the setup timeout included: set
`setup_timeout_s=None` with it); use it where only the order of events matters.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class VirtualClock:
    """A clock whose time moves only when told to (or by itself, with `autojump`)."""

    def __init__(self, start: float = 1000.0, *, autojump: bool = False) -> None:
        self._now = start
        self.autojump = autojump
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._asleep = asyncio.Event()  # set whenever a sleep begins

    def now(self) -> float:
        return self._now

    @property
    def sleeping(self) -> int:
        """How many sleeps are waiting for time to move (a test can wait for one to begin)."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    async def until_sleeping(self, count: int = 1, timeout_s: float = 30.0) -> None:
        """Wait until `count` sleeps are waiting (`timeout_s` of real time is a hang guard)."""
        async with asyncio.timeout(timeout_s):
            while self.sleeping < count:
                self._asleep.clear()
                await self._asleep.wait()

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of virtual time (at least one pass of the event loop)."""
        if self.autojump:
            self._now += max(0.0, seconds)
            self._wake()
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._order), future))
        self._asleep.set()
        self._wake()
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own deadline, in order.

        Between two deadlines the event loop runs until it is quiet, so a woken task can start
        its next sleep before later sleepers are considered.
        """
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            self._now = max(self._now, self._sleepers[0][0])
            self._wake()
            await _settle()
        self._now = target
        await _settle()

    def _wake(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)


async def _settle(passes: int = 20) -> None:
    for _ in range(passes):
        await asyncio.sleep(0)
