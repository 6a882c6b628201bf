"""A real ControlServer on a Unix socket in tmp_path, with a small recording handler."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from edgevoice.adapters.control_socket import ControlServer
from edgevoice.control_protocol import ControlError, Request

HANG_GUARD = 10.0  # seconds: only a hang trips it


@dataclass
class RecordingHandler:
    """Answers like a small daemon: status gives fields, volume above 90 is refused."""

    seen: list[Request] = field(default_factory=list)
    muted: bool = False
    volume: int = 50
    gate: asyncio.Event | None = None  # when given, requests wait for it (a slow daemon)
    gated: tuple[str, ...] = ()  # ... only these commands (all when empty)

    async def __call__(self, request: Request) -> Mapping[str, Any] | None:
        self.seen.append(request)
        name = type(request).__name__.lower()
        if self.gate is not None and (not self.gated or name in self.gated):
            await self.gate.wait()
        if name == "status":
            return {"state": "idle", "muted": self.muted, "volume": self.volume}
        if name == "mute":
            self.muted = True
        if name == "unmute":
            self.muted = False
        if name == "volume":
            percent = request.percent  # type: ignore[union-attr]
            if percent > 90:
                raise ControlError("volume above 90 % is locked by the operator")
            self.volume = percent
        if name == "cancel" and self.muted:
            raise RuntimeError("a bug in the handler")
        return None


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "run" / "control.sock"


@pytest.fixture
async def server(sock_path: Path, handler: RecordingHandler) -> AsyncIterator[ControlServer]:
    async with ControlServer(sock_path, handler) as running:
        yield running


class Conn:
    """A raw client connection: write bytes, read reply lines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, path: Path) -> Conn:
        async with asyncio.timeout(HANG_GUARD):
            reader, writer = await asyncio.open_unix_connection(path, limit=1 << 20)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self) -> dict[str, Any]:
        async with asyncio.timeout(HANG_GUARD):
            line = await self.reader.readline()
        assert line.endswith(b"\n"), f"no reply line (got {line!r})"
        reply = json.loads(line)
        assert isinstance(reply, dict)
        return reply

    async def ask(self, data: bytes) -> dict[str, Any]:
        await self.send(data)
        return await self.reply()

    async def closed_by_server(self) -> bool:
        """True once the server has closed the connection (everything it sent is read)."""
        try:
            async with asyncio.timeout(HANG_GUARD):
                await self.reader.read()
        except ConnectionResetError:
            return True
        return self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()
