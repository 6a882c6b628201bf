"""A notify socket like systemd's: the datagrams a `Type=notify` service sends, kept in order.

    listener = NotifyListener(path); await listener.open()   # bind; NOTIFY_SOCKET=path
    ...start the daemon with NOTIFY_SOCKET...
    ready = await listener.wait_for(lambda n: n.fields.get("READY") == "1")
    for n in listener.notifications: n.at, n.fields["STATUS"] ...
    listener.close()

Each datagram is `KEY=value` lines (sd_notify(3)); `Notification.fields` holds them. The
socket is read on the event loop (`add_reader`), so nothing blocks it; `on_notification` is
called for each datagram as it arrives (the demo prints STATUS= lines that way).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MAX_DATAGRAM = 65536


@dataclass(frozen=True)
class Notification:
    at: float  # time.monotonic() when it arrived
    fields: dict[str, str]

    @property
    def status(self) -> str | None:
        return self.fields.get("STATUS")


def parse_datagram(data: bytes) -> dict[str, str]:
    """`KEY=value` lines -> a dict (a line without `=` is kept with an empty value)."""
    fields: dict[str, str] = {}
    for line in data.decode("utf-8", errors="replace").split("\n"):
        if line:
            key, _, value = line.partition("=")
            fields[key] = value
    return fields


@dataclass
class NotifyListener:
    """An AF_UNIX datagram socket at `path`, read on the event loop (see the module docstring)."""

    path: Path
    on_notification: Callable[[Notification], None] | None = None
    notifications: list[Notification] = field(default_factory=list)
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
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data = self._sock.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            notification = Notification(time.monotonic(), parse_datagram(data))
            self.notifications.append(notification)
            self._changed.set()
            if self.on_notification is not None:
                self.on_notification(notification)

    def statuses(self) -> list[str]:
        """Every STATUS= text received, in order."""
        return [n.status for n in self.notifications if n.status is not None]

    async def wait_for(
        self, predicate: Callable[[Notification], bool], timeout_s: float = 30.0, start: int = 0
    ) -> Notification:
        """The first notification from index `start` on that matches; TimeoutError past
        `timeout_s` (a hang guard)."""
        deadline = time.monotonic() + timeout_s
        seen = start
        while True:
            for notification in self.notifications[seen:]:
                if predicate(notification):
                    return notification
            seen = max(seen, len(self.notifications))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching notification in {timeout_s:g} s")
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
