"""What the simulator saw and did, kept for tests to assert on.

Per connection: the request path (credentials redacted) and headers (minus the credential
headers), every frame received (raw and parsed), every frame sent, and how it closed. Across
connections: a list of events (open, refused, setup, turn, close) that tests can wait for.
Nothing here ever holds an API key or a token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

SECRET_HEADERS = frozenset({"x-goog-api-key", "authorization", "cookie", "proxy-authorization"})

EventKind = Literal["open", "refused", "setup", "turn", "close"]
ClosedBy = Literal["server", "client", "abort"]


@dataclass
class ReceivedFrame:
    index: int  # 1-based, per connection; setup is frame 1
    raw: str | bytes
    is_text: bool  # a text frame (the SDK sends text); False for a binary frame
    kind: str | None = None  # "setup" | "clientContent" | "realtimeInput" | "toolResponse"
    body: dict[str, Any] | None = None  # canonical body: camelCase keys, bytes decoded
    error: str | None = None  # why it was refused, when it was

    @property
    def json(self) -> Any:
        """The frame as JSON, exactly as sent (spelling and base64 untouched)."""
        return json.loads(self.raw)


@dataclass
class SentFrame:
    raw: str | bytes
    message: dict[str, Any] | None  # None for a deliberately malformed frame


@dataclass
class ConnectionRecord:
    id: int
    path: str  # as requested, with ?key= and ?access_token= values redacted
    api_version: str
    method: str  # "BidiGenerateContent" | "BidiGenerateContentConstrained"
    headers: list[tuple[str, str]]  # minus credential headers
    auth_source: str | None  # "header" | "query" | None: where the credential came from
    received: list[ReceivedFrame] = field(default_factory=list)
    sent: list[SentFrame] = field(default_factory=list)
    setup: dict[str, Any] | None = None  # the accepted setup body
    resumed: bool = False
    turns: int = 0  # turnComplete messages sent on this connection
    close_code: int | None = None
    close_reason: str | None = None
    close_detail: str = ""  # which rule made the simulator close (never on the wire)
    closed_by: ClosedBy | None = None

    def frames(self, kind: str | None = None) -> list[ReceivedFrame]:
        """Received frames, optionally only those of one message type."""
        return [f for f in self.received if kind is None or f.kind == kind]

    def sent_messages(self, key: str | None = None) -> list[dict[str, Any]]:
        """Sent JSON messages, optionally only those with a top-level `key`."""
        return [
            f.message
            for f in self.sent
            if f.message is not None and (key is None or key in f.message)
        ]

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


@dataclass(frozen=True)
class SimEvent:
    kind: EventKind
    connection: int
    code: int | None = None  # close: the close code (1006 for an abort)
    reason: str = ""  # close: the close reason on the wire
    detail: str = ""  # close: why; setup: "new" or "resumed"
    closed_by: ClosedBy | None = None
    turn: int = 0  # turn: the conversation's turn number
    interrupted: bool = False  # turn: ended by barge-in


class Recorder:
    """Holds the records; lets tests wait for events without sleeping."""

    def __init__(self) -> None:
        self.connections: list[ConnectionRecord] = []
        self.events: list[SimEvent] = []
        self.internal_errors: list[str] = []  # simulator bugs; a test should assert it is empty
        self._waiters: list[tuple[Callable[[SimEvent], bool], asyncio.Future[SimEvent]]] = []

    def add(self, event: SimEvent) -> None:
        self.events.append(event)
        for waiter in list(self._waiters):
            predicate, future = waiter
            if not future.done() and predicate(event):
                future.set_result(event)
                self._waiters.remove(waiter)

    async def wait_for(
        self, predicate: Callable[[SimEvent], bool], timeout_s: float = 30.0
    ) -> SimEvent:
        """The first event (already seen or still to come) that matches; TimeoutError if none."""
        for event in self.events:
            if predicate(event):
                return event
        future: asyncio.Future[SimEvent] = asyncio.get_running_loop().create_future()
        waiter = (predicate, future)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout_s)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
