"""Helpers of the supervisor tests.

- `TaggedMicrophone`: wraps the daemon's real microphone and writes a running number into the
  first two samples of every frame it hands on, so a test can tell exactly which captured
  frames reached the simulator, on which connection, and how often ("every captured frame
  exactly once").
- `Gate`: wraps the daemon's connector; `hold()` makes the next connection attempts wait until
  `open()`, so a test can act while a new connection is on its way (the switch of a goAway
  rotation).
- `fixed_delays(...)`: a backoff whose random part is pinned (`backoff(..., random=...)`).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from appkit import Item, Rig

from edgevoice.app.backoff import backoff
from edgevoice.app.link import Connector
from edgevoice.live.frames import Setup
from edgevoice.ports import AudioSource

TAG = struct.Struct("<I")  # the running number, in the first 4 bytes (2 samples) of a frame


class TaggedMicrophone:
    """An `AudioSource` around the real one (see the module docstring). `count` is the number
    of frames handed on so far (the next frame's tag)."""

    def __init__(self, inner: AudioSource) -> None:
        self.inner = inner
        self.count = 0
        self.stats = getattr(inner, "stats", None)

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def frames(self) -> AsyncIterator[bytes]:
        async for frame in self.inner.frames():
            tagged = TAG.pack(self.count) + frame[TAG.size :]
            self.count += 1
            yield tagged


def tag_of(frame: bytes) -> int:
    return int(TAG.unpack(frame[: TAG.size])[0])


def tags(items: list[Item]) -> list[tuple[int, int]]:
    """(connection, tag) of every audio frame the simulator received, in order."""
    return [(i.connection, tag_of(i.value)) for i in items if i.kind == "audio"]


def turn_tags(items: list[Item], connection: int) -> list[list[int]]:
    """The tags of the audio frames of each activityStart..activityEnd on a connection."""
    turns: list[list[int]] = []
    current: list[int] | None = None
    for item in items:
        if item.connection != connection:
            continue
        if item.kind == "activityStart":
            current = []
            turns.append(current)
        elif item.kind == "activityEnd":
            current = None
        elif item.kind == "audio":
            assert current is not None, "audio outside a turn"
            current.append(tag_of(item.value))
    return turns


def contiguous(numbers: list[int]) -> bool:
    return bool(numbers) and numbers == list(range(numbers[0], numbers[0] + len(numbers)))


class Gate:
    """A connector that can be held (see the module docstring)."""

    def __init__(self) -> None:
        self.inner: Connector | None = None
        self._open = asyncio.Event()
        self._open.set()
        self.waiting = 0  # attempts waiting at the gate now
        self.attempts: list[Setup] = []

    def wrap(self, inner: Connector) -> Connector:
        self.inner = inner

        async def connect(setup: Setup) -> Any:
            self.attempts.append(setup)
            self.waiting += 1
            try:
                await self._open.wait()
            finally:
                self.waiting -= 1
            assert self.inner is not None
            return await self.inner(setup)

        return connect

    def hold(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()


def fixed_delays(
    initial: float = 0.5, maximum: float = 30.0, multiplier: float = 2.0, *, random: float = 0.5
) -> Callable[[], Iterator[float]]:
    """The reconnect backoff with full jitter whose random draw is always `random`."""
    return lambda: backoff(initial, maximum, multiplier, 1.0, random=lambda: random)


def state_dir_of(rig: Rig) -> Any:
    return rig.state_dir
