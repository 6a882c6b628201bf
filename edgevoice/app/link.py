"""One connection of the conversation: its opening, its outbox, its sender and its reader.

The controller never awaits the network. It puts what is to be sent into the link's `Outbox`
(activityStart, audio frames, activityEnd, text, tool responses, the close) the moment it
decides to, even before the connection is open: that is how the pre-roll and everything said
while connecting are held until `setupComplete` and then sent in order. The link's task

1. opens the connection (`connect(setup)`: credential, WebSocket, setup, setupComplete),
2. runs a sender, which takes the outbox's items in order and hands each to the
   `LiveConnection` (whose sends are cancellation-safe and drop audio on a slow uplink), and a
   reader, which hands every server event to the controller,
3. and reports back to the controller as inputs: `LinkUp`, `LinkEvent`, `Sent` (audio started
   or stopped leaving the device; a turn's end or a tool response went out) and `LinkEnded`
   with the reason.

`close()` ends the link gracefully (what is queued before it still goes out, then close 1000);
`drop()` cancels it at once, closing the socket with 1000 on the way out. Either way the
controller forgets the link at that moment, so its later inputs are stale and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeAlias

from edgevoice.adapters.ws import LiveConnection
from edgevoice.app.inputs import Input, LinkEnded, LinkEvent, LinkUp, Sent
from edgevoice.errors import RemoteProtocolError, SessionClosedError
from edgevoice.live.frames import Scheduling, Setup
from edgevoice.live.json_view import JsonValue
from edgevoice.live.session import LiveSession
from edgevoice.ports import MIC_RATE

log = logging.getLogger("edgevoice.link")

Connector = Callable[[Setup], Awaitable[LiveConnection]]
BYTES_PER_SECOND = MIC_RATE * 2
# Audio waiting in an outbox, at most (60 s): while connecting, the turn's audio waits here; on
# a stalled uplink the newest frames are dropped past it (and counted) rather than piling up.
MAX_QUEUED_AUDIO = 3000


# --------------------------------------------------------------------------------------------
# What the outbox holds


@dataclass(frozen=True, slots=True)
class BeginActivity:
    pass


@dataclass(frozen=True, slots=True)
class Audio:
    frame: bytes


@dataclass(frozen=True, slots=True)
class EndActivity:
    pass


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """audioStreamEnd: the end of a voice turn under server VAD."""


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class ToolAnswer:
    call_id: str
    name: str
    response: dict[str, JsonValue]
    scheduling: Scheduling | None
    blocking: bool  # the model waits for this answer


@dataclass(frozen=True, slots=True)
class CloseLink:
    pass


Op: TypeAlias = BeginActivity | Audio | EndActivity | StreamEnd | Text | ToolAnswer | CloseLink


class Outbox:
    """What a link is to send, in order. Audio beyond `max_audio` waiting frames is dropped
    (counted in `dropped`); everything else is always kept."""

    def __init__(self, max_audio: int = MAX_QUEUED_AUDIO) -> None:
        self._items: deque[Op] = deque()
        self._ready = asyncio.Event()
        self._audio = 0
        self._closed = False
        self.max_audio = max_audio
        self.dropped = 0

    def put(self, op: Op) -> bool:
        """Queue `op`; False when it was audio dropped because too much waits already."""
        if self._closed:
            return False
        if isinstance(op, Audio):
            if self._audio >= self.max_audio:
                self.dropped += 1
                return False
            self._audio += 1
        self._items.append(op)
        self._ready.set()
        return True

    def clear(self) -> None:
        """Forget everything not yet sent."""
        self._items.clear()
        self._audio = 0

    def take(self) -> list[Op]:
        """Everything not yet sent, in order (the outbox is empty afterwards)."""
        items = list(self._items)
        self.clear()
        return items

    def close(self) -> None:
        """No more items: a waiting `get()` returns None."""
        self._closed = True
        self._ready.set()

    async def get(self) -> Op | None:
        """The next item, or None once closed."""
        while not self._items:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        op = self._items.popleft()
        if isinstance(op, Audio):
            self._audio -= 1
        return op

    def __len__(self) -> int:
        return len(self._items)


# --------------------------------------------------------------------------------------------
# The link


class Link:
    """One connection attempt and, once open, the connection. Create it, then run `run()` as a
    task of the controller's TaskGroup (and keep the task in `task`).

    `on_audio_sent(seconds)` is called for every microphone frame that went out (the usage
    ledger counts it); `post` hands inputs to the controller.
    """

    def __init__(
        self,
        number: int,
        setup: Callable[[], Setup],
        connect: Connector,
        post: Callable[[Input], None],
        on_audio_sent: Callable[[float], None],
        *,
        delay: float = 0.0,
        after: Link | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.number = number
        # Asked again right before connecting: the newest handle (one that arrived on the
        # connection this one replaces) goes into the setup that is sent.
        self._setup_source = setup
        self.setup = setup()
        self.outbox = Outbox()
        self.conn: LiveConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.opened_at: float | None = None  # the controller's clock at LinkUp
        self.closing = False  # the controller closed or dropped it
        self.going_away = False  # the server sent goAway: rotate at the next idle moment
        self.delay = delay  # backoff: seconds to wait before connecting
        self.after = after  # a connection that must have ended first (rotation: section 6.3)
        self.waiting = delay > 0 or after is not None  # not connecting yet
        self.error: BaseException | None = None
        self._connect = connect
        self._post = post
        self._on_audio_sent = on_audio_sent
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"<Link {self.number}{' up' if self.up else ''}>"

    @property
    def up(self) -> bool:
        """The connection is open and set up."""
        return self.conn is not None and self.conn.close_error is None

    @property
    def resumed(self) -> bool:
        return self.setup.resumption_handle is not None

    @property
    def session(self) -> LiveSession | None:
        return self.conn.session if self.conn is not None else None

    def close(self) -> None:
        """End gracefully: what is queued goes out first, then close 1000."""
        self.closing = True
        if self.up:
            self.outbox.put(CloseLink())
        elif self.task is not None:
            self.task.cancel()

    def drop(self) -> None:
        """End now: nothing queued is sent; the socket is closed with 1000 on the way out."""
        self.closing = True
        self.outbox.clear()
        if self.task is not None:
            self.task.cancel()

    async def run(self) -> None:
        """Wait (for the connection this one replaces to end, then for the backoff delay),
        open, send and read until the connection ends; then post `LinkEnded`. When cancelled,
        close the connection (1000) and re-raise (nothing is posted)."""
        before = self.after
        if before is not None and before.task is not None and not before.task.done():
            # Resuming while the old socket is open gives 1011 (protocol doc 6.3): close first.
            await asyncio.wait([before.task])
        self.after = None
        if self.delay > 0:
            await self._sleep(self.delay)
        self.waiting = False
        self.setup = self._setup_source()
        log.info(
            "connecting (%s, %s)",
            self.setup.bare_model,
            "resuming the conversation" if self.resumed else "new conversation",
        )
        try:
            conn = await self._connect(self.setup)
        except Exception as exc:  # credential, network, handshake, setup refused
            self._post(LinkEnded(self, exc))
            return
        error: BaseException | None = None
        try:
            self.conn = conn
            self._post(LinkUp(self))
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._send(conn))
                    group.create_task(self._read(conn))
            except* Exception as failures:  # a bug in the sender or the reader
                error = failures.exceptions[0]
            else:
                error = self.error or conn.close_error
        finally:  # also when cancelled: the socket is closed with 1000, never left open
            with contextlib.suppress(Exception):
                await conn.close()
        self._post(LinkEnded(self, error))

    async def _read(self, conn: LiveConnection) -> None:
        try:
            async for event in conn.events():
                self._post(LinkEvent(self, event))
        except (SessionClosedError, RemoteProtocolError) as exc:
            if self.error is None:
                self.error = exc
        finally:
            self.outbox.close()  # the sender has nothing more to do

    async def _send(self, conn: LiveConnection) -> None:
        flowing = False

        def flow(now_flowing: bool) -> None:
            nonlocal flowing
            if now_flowing != flowing:
                flowing = now_flowing
                self._post(Sent(self, "flowing" if now_flowing else "stopped"))

        try:
            while (op := await self.outbox.get()) is not None:
                match op:
                    case Audio(frame=frame):
                        sent = await conn.send_audio(frame)
                        if sent:
                            self._on_audio_sent(len(frame) / BYTES_PER_SECOND)
                        flow(sent)
                    case BeginActivity():
                        await conn.begin_activity()
                    case EndActivity():
                        await conn.end_activity()
                        flow(False)
                        self._post(Sent(self, "turn_end"))
                    case StreamEnd():
                        await conn.audio_stream_end()
                        flow(False)
                        self._post(Sent(self, "turn_end"))
                    case Text(text=text):
                        await conn.send_text(text)
                        self._post(Sent(self, "turn_end"))
                    case ToolAnswer():
                        # The call may have been cancelled (toolCallCancellation) while it ran:
                        # an answer to it now would be refused; drop it.
                        if op.call_id not in conn.session.pending_tool_calls:
                            log.info("tool %s: answer dropped (the call was cancelled)", op.name)
                            continue
                        await conn.send_tool_response(
                            op.call_id, op.name, op.response, op.scheduling
                        )
                        self._post(Sent(self, "tool_response", blocking=op.blocking))
                    case CloseLink():
                        await conn.close()
                        return
        except SessionClosedError:
            return  # the reader reports why
        except Exception as exc:  # our own bug (LocalProtocolError): drop the connection
            log.exception("sending on the Live connection failed (a bug in edgevoice)")
            self.error = exc
            await conn.close()
