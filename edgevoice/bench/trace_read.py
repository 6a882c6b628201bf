"""The measuring side of the daemon's trace (edgevoice.adapters.trace): a datagram socket the
daemon sends its trace lines to, read on the event loop.

    listener = TraceListener(path); await listener.open()   # EDGEVOICE_TRACE_SOCKET=path
    ...run the daemon with that variable...
    await listener.wait_for("ws.activity_end", after=t)     # the first such event after t
    listener.events                                          # every event, in time order

Lines that do not parse are counted in `bad_lines` (never raised): the trace is a measurement
aid, and a daemon of another version must not break the bench.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

MAX_DATAGRAM = 65536


@dataclass(frozen=True, order=True)
class Event:
    """One trace line: `at` (monotonic seconds), `name`, `value` ("" when none)."""

    at: float
    name: str
    value: str = ""


def parse_lines(data: bytes) -> tuple[list[Event], int]:
    """The events of one datagram, and how many of its lines did not parse."""
    events: list[Event] = []
    bad = 0
    for line in data.decode("utf-8", errors="replace").splitlines():
        parts = line.split(" ", 2)
        if len(parts) < 2 or not parts[0]:
            bad += 1 if line.strip() else 0
            continue
        try:
            at = float(parts[1])
        except ValueError:
            bad += 1
            continue
        events.append(Event(at, parts[0], parts[2] if len(parts) > 2 else ""))
    return events, bad


@dataclass
class TraceListener:
    """An AF_UNIX datagram socket at `path` collecting the daemon's trace (see the module
    docstring). `events` stays sorted by time (datagrams from the daemon's threads can
    interleave a little)."""

    path: Path
    events: list[Event] = field(default_factory=list)
    bad_lines: int = 0
    _sock: socket.socket | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def open(self) -> None:
        """Bind the socket (a stale file at `path` is replaced) and start reading it."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(str(self.path))
            sock.setblocking(False)
            # Room for bursts while the bench's loop is busy (the kernel may cap it lower).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        self.read_pending()

    def read_pending(self) -> None:
        """Read every datagram queued on the socket now (the loop does it as they come)."""
        if self._sock is None:
            return
        while True:
            try:
                data = self._sock.recv(MAX_DATAGRAM)
            except OSError:  # nothing more now (BlockingIOError), or the socket is gone
                return
            events, bad = parse_lines(data)
            self.bad_lines += bad
            self.add(events)

    def add(self, events: list[Event]) -> None:
        """Insert `events`, keeping `events` in time order."""
        for event in events:
            if not self.events or event >= self.events[-1]:
                self.events.append(event)
            else:
                bisect.insort(self.events, event)
        if events:
            self._changed.set()

    def since(self, after: float) -> list[Event]:
        """The events at or after `after` (monotonic seconds)."""
        start = bisect.bisect_left(self.events, Event(after, ""))
        return self.events[start:]

    def find(self, name: str, after: float) -> Event | None:
        """The first `name` event at or after `after`, or None."""
        for event in self.since(after):
            if event.name == name:
                return event
        return None

    async def wait_for(self, name: str, after: float, timeout_s: float = 30.0) -> Event:
        """The first `name` event at or after `after`; TimeoutError past `timeout_s` (a hang
        guard)."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.find(name, after)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {name!r} in the daemon's trace within {timeout_s:g} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def close(self) -> None:
        if self._sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
            with contextlib.suppress(OSError):
                self.path.unlink()
