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

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgevoice.rig.datagrams import DatagramListener


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


class NotifyListener(DatagramListener):
    """An AF_UNIX datagram socket at `path`, read on the event loop (see the module docstring)."""

    def __init__(
        self, path: Path, on_notification: Callable[[Notification], None] | None = None
    ) -> None:
        super().__init__(path)
        self.on_notification = on_notification
        self.notifications: list[Notification] = []

    def on_datagram(self, data: bytes) -> None:
        notification = Notification(time.monotonic(), parse_datagram(data))
        self.notifications.append(notification)
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
        seen = start

        def found() -> Notification | None:
            nonlocal seen
            for notification in self.notifications[seen:]:
                if predicate(notification):
                    return notification
            seen = max(seen, len(self.notifications))
            return None

        return await self.wait_until(found, timeout_s, "matching notification")
