"""A raw server on loopback for hostile-server tests: it answers the HTTP upgrade by hand (or
with any HTTP response) and then writes whatever bytes a test gives it, frames that websockets'
own server would never send (invalid UTF-8 close reasons, reserved bits, oversized frames),
and it can keep the TCP connection open after a close frame as a broken server does.

```
async def script(peer: RawPeer) -> None:
    await peer.upgrade()                      # 101 Switching Protocols, no extensions
    setup = await peer.read_message()         # the client's setup frame (unmasked for you)
    peer.send(frame(BINARY, b'{"setupComplete":{}}'))
    peer.send(close_frame(1000, b"\\xff"))     # a close reason that is not UTF-8
    await peer.hold()                         # never close the TCP connection

async with RawServer(script) as server:
    ... LiveConnection to server.url ...
```
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    length: int | None = None,
) -> bytes:
    """One WebSocket frame as raw bytes. `rsv` sets the RSV1-3 bits (0-7); `mask` masks the
    payload (servers must not); `length` overrides the declared payload length."""
    declared = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv & 7) << 4 | opcode])
    mask_bit = 0x80 if mask else 0
    if declared < 126:
        head += bytes([mask_bit | declared])
    elif declared < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", declared)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", declared)
    if mask:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def close_frame(code: int, reason: bytes = b"") -> bytes:
    return frame(CLOSE, struct.pack("!H", code) + reason)


def message(obj: Any) -> bytes:
    """A JSON server message as the real service sends it: a binary frame of UTF-8 JSON."""
    return frame(BINARY, json.dumps(obj).encode())


@dataclass
class RawPeer:
    """One accepted connection, as the script sees it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    request: bytes = b""
    received: list[tuple[int, bytes]] = field(default_factory=list)  # (opcode, payload)

    async def read_request(self) -> bytes:
        self.request = await self.reader.readuntil(b"\r\n\r\n")
        return self.request

    def header(self, name: str) -> str | None:
        for line in self.request.decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    async def upgrade(self) -> None:
        """Read the request and accept it (101, no extensions: frames go out as written)."""
        await self.read_request()
        key = self.header("Sec-WebSocket-Key") or ""
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.writer.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        await self.writer.drain()

    async def respond(self, status_line: str, headers: dict[str, str] | None = None) -> None:
        """Read the request (unless already read) and answer it with an HTTP response, then
        close."""
        if not self.request:
            await self.read_request()
        lines = [f"HTTP/1.1 {status_line}", "Content-Length: 0", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        self.writer.close()

    async def read_frame(self) -> tuple[int, bytes]:
        """The next client frame (opcode, unmasked payload); EOF raises IncompleteReadError."""
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        mask = await self.reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
        data = await self.reader.readexactly(length)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.received.append((first & 0x0F, payload))
        return first & 0x0F, payload

    async def read_message(self) -> Any:
        """The next client data frame, parsed as JSON (control frames are recorded, skipped)."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode in (TEXT, BINARY):
                return json.loads(payload)
            if opcode == CLOSE:
                raise ConnectionError(f"client closed: {payload!r}")

    async def read_until_close(self) -> tuple[int, bytes] | None:
        """Read client frames until its close frame (returned as (code, reason)) or EOF."""
        try:
            while True:
                opcode, payload = await self.read_frame()
                if opcode == CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    return code, payload[2:]
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def hold(self) -> None:
        """Keep the TCP connection open, reading and ignoring whatever comes, until the client
        drops it: a server that never completes the closing handshake."""
        try:
            while await self.reader.read(65536):
                pass
        except ConnectionError:
            pass


Script = Callable[[RawPeer], Awaitable[None]]


class RawServer:
    """Runs `script` for every connection on 127.0.0.1 (port 0); `peers` lists them."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self.peers: list[RawPeer] = []
        self.done = asyncio.Event()  # set when a script returned or failed
        self.failures: list[BaseException] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = RawPeer(reader, writer)
        self.peers.append(peer)
        try:
            await self._script(peer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away, or the server is shutting down
        except Exception as exc:
            self.failures.append(exc)
        finally:
            writer.close()
            self.done.set()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for peer in self.peers:
            peer.writer.close()
        await self._server.wait_closed()
