"""What the simulator saw and did, kept for tests to assert on.

Per connection: the request path (credentials redacted) and headers (minus the credential
headers), the frames received (raw and parsed) and sent, and how it closed. Across connections:
a list of events (open, refused, setup, turn, result, close) that tests can wait for. Nothing
here ever holds an API key or a token.

Memory is bounded, so a long or hostile run cannot grow the simulator without limit:
- each connection keeps its newest frames within `SimOptions.record_bytes_per_connection` (and
  `MAX_FRAMES_PER_CONNECTION`); `FrameLog.total` and `.dropped` still count every frame, and
  `ReceivedFrame.index` stays the frame's true position;
- all connections together keep `SimOptions.record_bytes_total`: past it, frames of closed
  connections go first (oldest connection first), then the oldest frames of open ones;
- at most `MAX_RECORDS` connection records (the oldest closed ones are dropped; `id`s go on
  counting) and `MAX_EVENTS` events (the oldest are dropped).
The close information, counts, setup body and path of a kept record are never dropped.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

SECRET_HEADERS = frozenset({"x-goog-api-key", "authorization", "cookie", "proxy-authorization"})

EventKind = Literal["open", "refused", "setup", "turn", "result", "close"]
MAX_FRAMES_PER_CONNECTION = 4096
MAX_RECORDS = 10_000
MAX_EVENTS = 100_000
FRAME_OVERHEAD = 200  # bytes a kept frame costs besides its payload (objects, parsed body)
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


Frame = TypeVar("Frame", bound=ReceivedFrame | SentFrame)


def frame_cost(frame: ReceivedFrame | SentFrame) -> int:
    """Bytes a kept frame holds, roughly: the payload twice (raw and parsed) plus objects."""
    return 2 * len(frame.raw) + FRAME_OVERHEAD


class Budget:
    """Bytes kept by every FrameLog of one simulator."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.trim: Callable[[], None] | None = None  # called when `used` goes past `limit`


class FrameLog(list[Frame], Generic[Frame]):
    """A connection's frames, newest kept: a list whose oldest entries are dropped past a budget.

    `total` counts every frame appended, `dropped` those no longer kept.
    """

    def __init__(self, limit: int = 1 << 62, budget: Budget | None = None) -> None:
        super().__init__()
        self.limit = limit
        self.budget = budget or Budget(1 << 62)
        self.bytes = 0
        self.total = 0
        self.dropped = 0

    def append(self, frame: Frame) -> None:
        cost = frame_cost(frame)
        super().append(frame)
        self.bytes += cost
        self.budget.used += cost
        self.total += 1
        while len(self) > 1 and (self.bytes > self.limit or len(self) > MAX_FRAMES_PER_CONNECTION):
            self.drop_oldest()
        if self.budget.used > self.budget.limit and self.budget.trim is not None:
            self.budget.trim()

    def drop_oldest(self, count: int = 1) -> None:
        gone = self[:count]
        del self[:count]
        cost = sum(frame_cost(frame) for frame in gone)
        self.bytes -= cost
        self.budget.used -= cost
        self.dropped += len(gone)

    def extend(self, frames: Iterable[Frame]) -> None:
        for frame in frames:
            self.append(frame)


@dataclass
class ConnectionRecord:
    id: int
    path: str  # as requested, with ?key= and ?access_token= values redacted
    api_version: str
    method: str  # "BidiGenerateContent" | "BidiGenerateContentConstrained"
    headers: list[tuple[str, str]]  # minus credential headers
    auth_source: str | None  # "header" | "query" | None: where the credential came from
    received: FrameLog[ReceivedFrame] = field(default_factory=FrameLog)
    sent: FrameLog[SentFrame] = field(default_factory=FrameLog)
    setup: dict[str, Any] | None = None  # the accepted setup body
    resumed: bool = False
    turns: int = 0  # turnComplete messages sent on this connection
    close_code: int | None = None
    close_reason: str | None = None
    close_detail: str = ""  # which rule made the simulator close (never on the wire)
    closed_by: ClosedBy | None = None
    open: bool = True  # the connection is still being served

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

    def __init__(self, bytes_per_connection: int = 1 << 62, bytes_total: int = 1 << 62) -> None:
        self.connections: list[ConnectionRecord] = []
        self.events: deque[SimEvent] = deque(maxlen=MAX_EVENTS)
        self.internal_errors: list[str] = []  # simulator bugs; a test should assert it is empty
        self.bytes_per_connection = bytes_per_connection
        self.budget = Budget(bytes_total)
        self.budget.trim = self.trim
        self._next_id = 1
        self._waiters: list[tuple[Callable[[SimEvent], bool], asyncio.Future[SimEvent]]] = []

    def new_record(self, **fields: Any) -> ConnectionRecord:
        """A record for a new connection, with bounded frame logs; kept in `connections`."""
        record = ConnectionRecord(
            id=self._next_id,
            received=FrameLog(self.bytes_per_connection, self.budget),
            sent=FrameLog(self.bytes_per_connection, self.budget),
            **fields,
        )
        self._next_id += 1
        self.connections.append(record)
        if len(self.connections) > MAX_RECORDS:
            closed = next((r for r in self.connections if not r.open), None)
            if closed is not None:
                self.forget(closed)
        return record

    def forget(self, record: ConnectionRecord) -> None:
        for log in (record.received, record.sent):
            log.drop_oldest(len(log))
        self.connections.remove(record)

    def trim(self) -> None:
        """Past the total budget: drop frames of closed connections, then the oldest frames."""
        if self.budget.used <= self.budget.limit:
            return
        for want_open in (False, True):
            for record in self.connections:
                if record.open is not want_open:
                    continue
                for log in (record.received, record.sent):
                    while log and self.budget.used > self.budget.limit:
                        log.drop_oldest(max(1, len(log) // 8))
                if self.budget.used <= self.budget.limit:
                    return

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
