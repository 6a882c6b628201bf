"""A TCP proxy on loopback whose uplink can be stalled: a real slow or frozen network between
the client and the simulator, for tests of what the client does when the socket cannot keep up.

```
async with PausableProxy(sim.port) as proxy:
    conn = await open_connection(proxy.url)
    proxy.pause()      # stop reading from the client: its socket buffers fill, then ours
    ...
    proxy.resume()     # forward everything that waited, in order
```

The proxy's listening socket has a small receive buffer (inherited by accepted sockets) and its
stream reader a small limit, so a stalled uplink backs up into the client within a few hundred
kilobytes instead of the megabytes Linux would buffer on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

RECEIVE_BUFFER = 4096  # bytes; the kernel doubles it


class PausableProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.uplink_bytes = 0  # forwarded client -> server

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def pause(self) -> None:
        """Stop forwarding (and reading) client -> server bytes."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, uplink: bool
    ) -> None:
        try:
            while True:
                if uplink:
                    await self._flowing.wait()
                data = await reader.read(1024 if uplink else 65536)
                if not data:
                    break
                if uplink:
                    self.uplink_bytes += len(data)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _on_connect(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self._target)
        pumps = [
            asyncio.create_task(self._pump(client_reader, server_writer, uplink=True)),
            asyncio.create_task(self._pump(server_reader, client_writer, uplink=False)),
        ]
        self._tasks.update(pumps)
        await asyncio.gather(*pumps, return_exceptions=True)

    async def __aenter__(self) -> PausableProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        listener.bind(("127.0.0.1", 0))
        self._server = await asyncio.start_server(self._on_connect, sock=listener, limit=1024)
        self.port = int(listener.getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._flowing.set()
        self._server.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._server.wait_closed()
