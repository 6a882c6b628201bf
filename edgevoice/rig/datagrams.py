"""A Unix datagram socket read on the event loop: the base of the rig's listeners for what a
daemon sends out of band (its sd_notify messages, `edgevoice.rig.notify`; its trace,
`edgevoice.bench.trace_read`).

A subclass implements `on_datagram(data)`; `open()` binds `path` (a stale file there is
replaced) and reads every datagram as it arrives (`add_reader`: nothing blocks the loop);
`wait_until(found, timeout_s, what)` waits for what the subclass collected; `close()` stops
reading and removes the socket file.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

MAX_DATAGRAM = 65536

_T = TypeVar("_T")


class DatagramListener:
    """See the module docstring. `receive_buffer`: SO_RCVBUF to ask for (None: the default),
    room for bursts while the measuring loop is busy (the kernel may cap it lower)."""

    def __init__(self, path: Path, *, receive_buffer: int | None = None) -> None:
        self.path = path
        self._receive_buffer = receive_buffer
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()

    def on_datagram(self, data: bytes) -> None:
        raise NotImplementedError

    async def open(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(str(self.path))
            sock.setblocking(False)
            if self._receive_buffer is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._receive_buffer)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self.read_pending)

    def read_pending(self) -> None:
        """Read every datagram queued on the socket now (the loop does it as they come)."""
        while self._sock is not None:
            try:
                data = self._sock.recv(MAX_DATAGRAM)
            except OSError:  # nothing more now (BlockingIOError), or the socket is gone
                return
            self.on_datagram(data)
            self._changed.set()

    async def wait_until(self, found: Callable[[], _T | None], timeout_s: float, what: str) -> _T:
        """The first non-None `found()`, checked after each datagram; TimeoutError naming
        `what` past `timeout_s` (a hang guard)."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = found()
            if result is not None:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {what} within {timeout_s:g} s")
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
