"""The WebSocket shell around `LiveSession`: one `LiveConnection` is one Live API connection.

```
conn = await LiveConnection.open(endpoint, credential, setup)     # connect + setup + wait
sent = await conn.send_audio(pcm16k)                               # False: held back/dropped
async for event in conn.events(): ...                               # decoded server events
await conn.close()                                                  # 1000, on shutdown
```

Opening (endpoint, credential headers, TLS, redirects, handshake errors) is in
`edgevoice.adapters.ws_connect`. Policy decided here:

- Sending is cancellation-safe. websockets' `send()` writes an unfragmented message to the
  transport before its first await (only the wait for the network to drain can be cancelled),
  and frames leave the session's outbox one at a time, each written before anything awaits.
  So a cancelled send never loses a frame the session believes went out (a lost activityStart
  made the server close 1007 on the orphan activityEnd), and there is no lock to wait on.
- The microphone never waits on a slow uplink: while more than `Endpoint.audio_backlog`
  bytes wait in the socket's write buffer, `send_audio` drops the chunk, counts it
  (`audio_dropped`) and warns at most every `DROP_WARNING_INTERVAL_S` seconds. Dropping is
  the right loss for live speech: queueing it would only add delay the listener hears.
  Control frames (activityStart/End, text, tool responses) are always sent.
- Keepalive: the real server answers pings slowly (8-30 s in field reports), which trips the
  websockets default of 20 s. We ping every `keepalive_interval` s and give the pong
  `keepalive_timeout` s, so a dead link is found in about 1.5 minutes at most without false
  alarms; the supervisor's response timeout catches a live socket whose server stopped talking.
- permessage-deflate is offered (as the official SDK does) unless `deflate` is off: 20 ms
  base64 speech frames compress to about 59 % for 0.2 % of one x86 core (measured on 4.8 s of
  espeak speech with context takeover); a server that declines it simply gets plain frames.
- Every failure surfaces as a typed error from `edgevoice.errors` (see its policy):
  `ConnectError` (handshake, or no setupComplete in time), `SessionClosedError` (close code
  and reason, 1006 for a drop; `local=True` when websockets closed the connection itself
  because the server's bytes broke the WebSocket protocol: 1002, 1007 for a close reason that
  is not UTF-8, 1009 too big), `RemoteProtocolError` (a bad frame: the connection is closed
  first, with the close code and reason the session's `failure` names). `close_error` holds
  the classified close once the connection ended.

Blocking tool calls (docs/live-protocol.md 3.2) are the session's rule: while one is pending,
`send_audio` returns False and the session counts the chunk in `audio_held_back`; the app
reads `input_blocked` to stop offering microphone audio. A toolCallCancellation can release a
deferred activityStart, so frames are flushed after every received message too.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from edgevoice.adapters import trace
from edgevoice.adapters.ws_connect import (
    DeadlineConnection,
    auth_headers,
    open_websocket,
    untrusted_certificate,
)
from edgevoice.credentials import Credential
from edgevoice.errors import ConnectError, RemoteProtocolError, SessionClosedError
from edgevoice.live.endpoint import Endpoint, is_loopback
from edgevoice.live.events import AudioChunk, IgnoredFields, ServerEvent, SetupComplete
from edgevoice.live.frames import Scheduling, Setup
from edgevoice.live.session import HeldBack, LiveSession

log = logging.getLogger("edgevoice.ws")

__all__ = [
    "DROP_WARNING_INTERVAL_S",
    "Endpoint",
    "LiveConnection",
    "auth_headers",
    "is_loopback",
    "untrusted_certificate",
]

# When the server breaks the protocol, the session chooses the close (`LiveSession.failure`:
# 1002, see edgevoice.live.session for why); a setup that fails otherwise closes normally.
CLOSE_SETUP_FAILED = 1000
DROP_WARNING_INTERVAL_S = 10.0
# Codes websockets sends when it fails the connection itself (RFC 6455 7.4.1): protocol error,
# invalid UTF-8, message too big, and 1011 for an unanswered keepalive ping.
_OWN_FAILURES = frozenset({1002, 1007, 1009, 1011})


class LiveConnection:
    """A connected, set-up Live session. Create with `LiveConnection.open`."""

    def __init__(
        self,
        ws: DeadlineConnection,
        session: LiveSession,
        clock: Callable[[], float],
        endpoint: Endpoint | None = None,
    ) -> None:
        self._ws = ws
        self.session = session
        self._clock = clock
        self._endpoint = endpoint or Endpoint()
        self.setup: SetupComplete | None = None
        # Decoded events not yet handed out: one frame can carry several, and a caller may stop
        # iterating events() after any of them (or the frame came with setupComplete).
        self._pending: deque[ServerEvent] = deque()
        # Frames taken from the session's outbox and not yet written (see _flush).
        self._unsent: deque[str] = deque()
        self._close_error: SessionClosedError | None = None
        self.audio_dropped = 0  # chunks dropped because the uplink could not keep up
        self.audio_dropped_bytes = 0
        self._drops_unreported = 0
        self._last_drop_warning: float | None = None

    @classmethod
    async def open(
        cls,
        endpoint: Endpoint,
        credential: Credential,
        setup: Setup,
        *,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> LiveConnection:
        """Connect, send setup, and wait for setupComplete.

        Raises ConnectError (handshake refused, network, timeouts), SessionClosedError (the
        server closed during setup: bad key 1007, unknown model 1008, ...), RemoteProtocolError,
        ConfigError (a credential that cannot be sent, refused before any network I/O).
        """
        url = endpoint.url(credential.kind)
        ws = await open_websocket(url, endpoint, credential, ssl_context)
        conn = cls(ws, LiveSession(setup), clock, endpoint)
        try:
            await conn._setup(endpoint.setup_timeout)
        except BaseException:
            await conn._abort()
            raise
        return conn

    async def _setup(self, seconds: float) -> None:
        self.session.start()
        await self._flush()
        if (tracer := trace.TRACER) is not None:
            tracer.mark("ws.setup")
        try:
            async with asyncio.timeout(seconds):
                while self.setup is None:
                    frame = await self._recv()
                    received = tracer.clock() if tracer is not None else 0.0
                    self.session.receive(frame, self._clock())
                    for event in self.session.events():
                        if isinstance(event, SetupComplete):
                            self.setup = event
                            if tracer is not None:
                                tracer.mark("ws.setup_complete", at=received)
                        else:
                            self._pending.append(event)
        except TimeoutError:
            if self._ws.protocol.close_sent is not None:
                # A close is already under way (websockets failed the connection over the
                # server's bytes): that is the cause, not the setup timeout.
                raise await self._closed_now() from None
            raise ConnectError(
                f"no setupComplete within {seconds:g} s; the server accepted the connection but "
                "did not answer setup"
            ) from None

    # ---------------------------------------------------------------------------------------
    # Sending: each method calls the LiveSession input of the same name, then flushes.

    async def send_audio(self, pcm16k: bytes) -> bool:
        """Send a chunk of 16 kHz PCM16LE mono microphone audio.

        Returns True when it went out. Returns False, without queueing anything, when a
        blocking tool call is pending (the session counts it in `audio_held_back`), or when the
        uplink cannot keep up (more than `Endpoint.audio_backlog` bytes wait to be written:
        counted in `audio_dropped`). Never waits for the network.
        """
        self._check_open()
        if (
            not self.session.input_blocked
            and self._ws.transport.get_write_buffer_size() > self._endpoint.audio_backlog
        ):
            self._dropped(len(pcm16k))
            return False
        queued = self.session.send_audio(pcm16k)
        await self._flush()
        if queued and (tracer := trace.TRACER) is not None:
            tracer.mark("ws.audio")
        return queued

    @property
    def input_blocked(self) -> bool:
        """A blocking tool call is pending: stop offering microphone audio (it is not sent)."""
        return self.session.input_blocked

    @property
    def audio_held_back(self) -> HeldBack:
        """Microphone audio refused while a blocking tool call was pending (frames, bytes)."""
        return self.session.audio_held_back

    async def send_text(self, text: str) -> None:
        self._check_open()
        self.session.send_text(text)
        await self._flush()
        if (tracer := trace.TRACER) is not None:
            tracer.mark("ws.text")

    async def begin_activity(self) -> None:
        self._check_open()
        self.session.begin_activity()
        await self._flush()
        if (tracer := trace.TRACER) is not None:
            tracer.mark("ws.activity_start")

    async def end_activity(self) -> None:
        self._check_open()
        self.session.end_activity()
        await self._flush()
        if (tracer := trace.TRACER) is not None:
            tracer.mark("ws.activity_end")

    async def audio_stream_end(self) -> None:
        self._check_open()
        self.session.audio_stream_end()
        await self._flush()
        if (tracer := trace.TRACER) is not None:
            tracer.mark("ws.stream_end")

    async def send_tool_response(
        self,
        call_id: str,
        name: str,
        response: dict[str, Any],
        scheduling: Scheduling | None = None,
    ) -> None:
        """Answer a pending tool call (`LiveSession.send_tool_response`: `scheduling` only for a
        call that does not block; `live.tools.scheduling_for` picks it)."""
        self._check_open()
        self.session.send_tool_response(call_id, name, response, scheduling)
        await self._flush()

    def _check_open(self) -> None:
        # After the socket closed, sending is a dropped link (TRANSIENT), not misuse: raise why
        # it closed instead of the session's LocalProtocolError.
        error = self.close_error
        if error is not None:
            raise error

    async def _flush(self) -> None:
        """Write every frame the session queued, in order.

        Each frame is taken from `_unsent` and written by `send()` before anything awaits, so
        a cancellation (which can only land in the wait for the network to drain) never loses
        a frame the session already counts as sent; frames still in `_unsent` go out with the
        next flush from any task, still in order.
        """
        self._unsent.extend(self.session.data_to_send())
        while self._unsent:
            frame = self._unsent.popleft()
            try:
                await self._ws.send(frame)  # text frames, as the SDK sends them
            except ConnectionClosed as exc:
                raise self._closed(exc) from None

    def _dropped(self, size: int) -> None:
        self.audio_dropped += 1
        self.audio_dropped_bytes += size
        self._drops_unreported += 1
        now = self._clock()
        last = self._last_drop_warning
        if last is None or now - last >= DROP_WARNING_INTERVAL_S:
            log.warning(
                "uplink too slow: dropped %d microphone chunk(s) (%d in total on this "
                "connection); more than %d bytes were waiting to be sent",
                self._drops_unreported,
                self.audio_dropped,
                self._endpoint.audio_backlog,
            )
            self._last_drop_warning = now
            self._drops_unreported = 0

    # ---------------------------------------------------------------------------------------
    # Receiving

    async def events(self) -> AsyncIterator[ServerEvent]:
        """Yield server events until the connection ends, then raise why it ended.

        Iterate it from one task at a time. Breaking out of the loop loses nothing: the next
        call continues with the next event.

        Ends with SessionClosedError (even for a normal close, so the caller always learns the
        code), or RemoteProtocolError after closing the connection on a bad server frame.
        """
        while True:
            while self._pending:
                # Popped before it is yielded: a caller that breaks out of the loop after this
                # event finds the rest of the frame's events in its next events() call.
                event = self._pending.popleft()
                if isinstance(event, IgnoredFields):
                    log.debug("ignored server fields: %s", ", ".join(event.paths))
                    continue
                yield event
            frame = await self._recv()
            tracer = trace.TRACER
            received = tracer.clock() if tracer is not None else 0.0
            try:
                self.session.receive(frame, self._clock())
            except RemoteProtocolError as exc:
                log.warning("closing the connection: %s", exc, extra={"ERROR_CLASS": "transient"})
                await self._abort()
                raise
            events = self.session.events()
            if tracer is not None and any(isinstance(e, AudioChunk) for e in events):
                tracer.mark("ws.recv_audio", at=received)
            self._pending.extend(events)
            await self._flush()  # a cancellation may release a deferred activityStart

    async def _recv(self) -> bytes:
        try:
            frame = await self._ws.recv(decode=False)
        except ConnectionClosed as exc:
            raise self._closed(exc) from None
        return frame if isinstance(frame, bytes) else frame.encode()

    @property
    def close_error(self) -> SessionClosedError | None:
        """Once the connection ended: why, classified (read this, not the session's)."""
        return self._close_error or self.session.close_error

    def _closed(self, exc: ConnectionClosed) -> SessionClosedError:
        """Record the close in the session and return the typed error for it."""
        return self._record_close(exc.rcvd, exc.sent, exc.rcvd_then_sent)

    def _record_close(
        self, rcvd: Close | None, sent: Close | None, rcvd_then_sent: bool | None
    ) -> SessionClosedError:
        if self.close_error is not None:
            return self.close_error  # the first cause wins
        code, reason, local = self._describe_close(rcvd, sent, rcvd_then_sent)
        self.session.closed(code, reason)
        # The adapter's error carries what only it knows: whether websockets closed the
        # connection itself (`local`) and whether this connection resumed a session (a non-key
        # 1007 then means the handle is unusable, not a fatal setup: 3.8 field report).
        self._close_error = SessionClosedError(code, reason, local=local, resumed=self.resumed)
        return self._close_error

    @property
    def resumed(self) -> bool:
        """This connection's setup carried a resumption handle."""
        return self.session.setup.resumption_handle is not None

    def _describe_close(
        self, rcvd: Close | None, sent: Close | None, rcvd_then_sent: bool | None
    ) -> tuple[int, str, bool]:
        """(code, reason, local) for a closed connection: the server's close when it closed
        first; ours when we did (`local` when websockets failed the connection itself);
        1006 when no close frame came at all."""
        if sent is not None and not rcvd_then_sent:
            if sent.code not in _OWN_FAILURES:
                return sent.code, sent.reason, False
            return sent.code, self._failure_reason(sent), True
        if rcvd is not None:
            return rcvd.code, rcvd.reason, False
        return 1006, "connection dropped without a close frame", False

    def _failure_reason(self, sent: Close) -> str:
        """What made websockets fail the connection, in words that name the cause."""
        detail = sent.reason or "no detail"
        if sent.code == 1009:
            return (
                f"the server sent a message over live.max_message_size "
                f"({self._endpoint.max_message_size} bytes): {detail}"
            )
        if sent.code == 1007:
            return f"the server sent text that is not UTF-8 (a close reason?): {detail}"
        if sent.code == 1002:
            return f"the server broke the WebSocket protocol: {detail}"
        if "keepalive" in detail:
            return (
                f"no answer to a keepalive ping within {self._endpoint.keepalive_timeout:g} s "
                "(the network or the server stopped responding)"
            )
        return detail

    async def _closed_now(self) -> SessionClosedError:
        """Abort the transport and record the close as it stands (a close already under way)."""
        self._ws.transport.abort()
        await self._ws.wait_closed()
        protocol = self._ws.protocol
        return self._record_close(
            protocol.close_rcvd, protocol.close_sent, protocol.close_rcvd_then_sent
        )

    async def close(self) -> None:
        """Close normally (1000) and wait briefly for the server's close frame.

        If the server had closed first, the close error keeps the server's code and reason
        (the supervisor reads `close_error`), not our 1000.
        """
        await self._ws.close(1000, "client closing")
        protocol = self._ws.protocol
        self._record_close(protocol.close_rcvd, protocol.close_sent, protocol.close_rcvd_then_sent)

    async def _abort(self) -> None:
        """Close after a failed setup or a bad server frame: with the close the session's
        `failure` names (1002 for a protocol error), else 1000 "setup failed"."""
        failure = self.session.failure
        code, reason = (
            (failure.close_code, failure.close_reason)
            if failure is not None
            else (CLOSE_SETUP_FAILED, "setup failed")
        )
        if self.close_error is None:
            self.session.closed(code, reason)
            self._close_error = SessionClosedError(code, reason, resumed=self.resumed)
        await self._ws.close(code, reason)

    @property
    def latency(self) -> float:
        """Last measured ping round trip, in seconds (0 until a ping was answered)."""
        return float(self._ws.latency)
