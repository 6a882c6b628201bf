"""Helpers for the WebSocket client tests: credentials, setups, audio, and an event reader.

Imported by the test modules as `wskit` (conftest.py puts this directory on sys.path). The
client under test is always the real `LiveConnection` against the real simulator on loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import numpy as np
import pytest

from edgevoice.adapters.ws import Endpoint, LiveConnection
from edgevoice.credentials import Credential, CredentialKind
from edgevoice.errors import EdgevoiceError, ErrorClass, error_class_of
from edgevoice.live.events import OutputTranscription, ServerEvent, TurnComplete
from edgevoice.live.frames import ActivityDetection, Setup
from edgevoice.redact import Secret
from edgevoice.sim import Simulator

KEY = "AQ.ws-loopback-key-3c9e7a15d2b84f60"  # distinctive, so a leak is easy to find
TOKEN = "auth_tokens/ws-loopback-token-9b27e4"
MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
TIMEOUT = 20.0  # generous: the machine is shared; nothing asserts on durations
FRAME_BYTES = 640  # 20 ms of 16 kHz PCM16

E = TypeVar("E", bound=BaseException)


def api_key(value: str = KEY) -> Credential:
    return Credential(CredentialKind.API_KEY, Secret(value), "test")


def token(value: str = TOKEN) -> Credential:
    return Credential(CredentialKind.TOKEN, Secret(value), "test")


def endpoint(target: Simulator | str, **overrides: Any) -> Endpoint:
    """An Endpoint for the simulator (or a base URL); keepalive off unless a test wants it."""
    base_url = target if isinstance(target, str) else target.url
    settings: dict[str, Any] = {
        "connect_timeout": TIMEOUT,
        "setup_timeout": TIMEOUT,
        "keepalive_interval": None,
        "close_timeout": TIMEOUT,
    }
    settings.update(overrides)
    return Endpoint(base_url=base_url, **settings)


MANUAL = ActivityDetection(disabled=True)
SERVER_VAD = ActivityDetection(disabled=False)


def make_setup(**overrides: Any) -> Setup:
    """Manual turns, both transcripts, resumption on: what the button path asks for."""
    settings: dict[str, Any] = {
        "model": MODEL,
        "input_transcription": True,
        "output_transcription": True,
        "session_resumption": True,
        "activity_detection": MANUAL,
    }
    settings.update(overrides)
    return Setup(**settings)


async def open_connection(
    target: Simulator | str | Endpoint,
    credential: Credential | None = None,
    session_setup: Setup | None = None,
    **kw: Any,
) -> LiveConnection:
    """LiveConnection.open with the test defaults; `kw` goes to open() (ssl_context, clock)."""
    async with asyncio.timeout(TIMEOUT * 2):
        return await LiveConnection.open(
            endpoint(target) if not isinstance(target, Endpoint) else target,
            credential or api_key(),
            session_setup or make_setup(),
            **kw,
        )


def tone(seconds: float, freq: float = 300.0, level: float = 0.3) -> bytes:
    """16 kHz PCM16LE mono sine, well above the simulator's -40 dBFS speech threshold."""
    t = np.arange(round(seconds * 16_000)) / 16_000
    return (level * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2").tobytes()


def silence(seconds: float) -> bytes:
    return bytes(2 * round(seconds * 16_000))


async def send_pcm(conn: LiveConnection, pcm: bytes) -> None:
    """Send PCM in 20 ms frames, as the daemon does."""
    for start in range(0, len(pcm), FRAME_BYTES):
        await conn.send_audio(pcm[start : start + FRAME_BYTES])


async def manual_turn(conn: LiveConnection, pcm: bytes) -> None:
    """One button turn: activityStart, the audio, activityEnd."""
    await conn.begin_activity()
    await send_pcm(conn, pcm)
    await conn.end_activity()


class Reader:
    """Reads one connection's events through a single `events()` iterator, with timeouts."""

    def __init__(self, conn: LiveConnection) -> None:
        self.conn = conn
        self.seen: list[ServerEvent] = []
        self._events: AsyncIterator[ServerEvent] = conn.events()

    async def next(self) -> ServerEvent:
        async with asyncio.timeout(TIMEOUT):
            event = await anext(self._events)
        self.seen.append(event)
        return event

    async def until(self, done: Callable[[ServerEvent], bool]) -> list[ServerEvent]:
        """Events up to and including the first one for which `done` is true."""
        got: list[ServerEvent] = []
        while True:
            event = await self.next()
            got.append(event)
            if done(event):
                return got

    async def turn(self) -> list[ServerEvent]:
        """Events up to and including the next TurnComplete."""
        return await self.until(lambda e: isinstance(e, TurnComplete))

    async def end(self, expected: type[E]) -> E:
        """Read until the iterator raises; the exception must be an `expected`."""
        with pytest.raises(expected) as caught:
            while True:
                await self.next()
        return caught.value


def of_type(events: list[ServerEvent], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def transcript(events: list[ServerEvent]) -> str:
    return "".join(e.text for e in of_type(events, OutputTranscription)).strip()


def assert_class(error: BaseException, expected: ErrorClass) -> None:
    """The class the supervisor will see, both on the error and through error_class_of."""
    assert isinstance(error, EdgevoiceError)
    assert error.error_class is expected
    assert error_class_of(error) is expected
