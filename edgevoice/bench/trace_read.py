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

import bisect
from dataclasses import dataclass
from pathlib import Path

from edgevoice.rig.datagrams import DatagramListener


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


class TraceListener(DatagramListener):
    """An AF_UNIX datagram socket at `path` collecting the daemon's trace (see the module
    docstring). `events` stays sorted by time (datagrams from the daemon's threads can
    interleave a little)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, receive_buffer=1 << 20)
        self.events: list[Event] = []
        self.bad_lines = 0

    def on_datagram(self, data: bytes) -> None:
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
        return await self.wait_until(
            lambda: self.find(name, after), timeout_s, f"{name!r} in the daemon's trace"
        )
