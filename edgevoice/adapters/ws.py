"""The WebSocket shell around `LiveSession`: one `LiveConnection` is one Live API connection.

```
conn = await LiveConnection.open(endpoint, credential, setup)     # connect + setup + wait
await conn.send_audio(pcm16k)                                      # any LiveSession input
async for event in conn.events(): ...                               # decoded server events
await conn.close()                                                  # 1000, on shutdown
```

Policy decided here (docs/live-protocol.md sections 1 and 6):

- The API key goes in the `x-goog-api-key` header, an ephemeral token in `Authorization: Token`
  on the v1alpha `BidiGenerateContentConstrained` path. Neither ever goes in the URL.
- TLS is always verified (`wss://`); plain `ws://` is accepted only for loopback hosts, which is
  where the simulator runs (anything else is refused FATAL before any network I/O). A
  certificate that fails verification is FATAL (wrong endpoint, trust store or intercepting
  proxy), except one outside its validity period: on a Pi without a real-time clock that means
  NTP has not set the time yet, which heals by itself (TRANSIENT).
- Keepalive: the real server answers pings slowly (8-30 s in field reports), which trips the
  websockets default of 20 s. We ping every `keepalive_interval` s and give the pong
  `keepalive_timeout` s, so a dead link is found in about 1.5 minutes at most without false
  alarms; the supervisor's response timeout catches a live socket whose server stopped talking.
- permessage-deflate is offered (as the official SDK does) unless `deflate` is off: 20 ms
  base64 speech frames compress to about 59 % for 0.2 % of one x86 core (measured on 4.8 s of
  espeak speech with context takeover); a server that declines it simply gets plain frames.
- Every failure surfaces as a typed error from `edgevoice.errors` that the supervisor classifies:
  `ConnectError` (handshake), `SessionClosedError` (close code and reason, 1006 for a drop),
  `RemoteProtocolError` (a bad frame: the connection is closed first, with the close code and
  reason the session's `failure` names), `TimeoutError`-based
  `ConnectError` for a server that accepts but never answers setup.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.frames import Close

from edgevoice.credentials import Credential, CredentialKind
from edgevoice.errors import ConnectError, ErrorClass, RemoteProtocolError, SessionClosedError
from edgevoice.live.events import IgnoredFields, ServerEvent, SetupComplete
from edgevoice.live.frames import Setup
from edgevoice.live.session import LiveSession
from edgevoice.redact import redacted_logger

log = logging.getLogger("edgevoice.ws")

SERVICE = "google.ai.generativelanguage.{version}.GenerativeService.{method}"
# When the server breaks the protocol, the session chooses the close (`LiveSession.failure`:
# 1002, see edgevoice.live.session for why).
CLOSE_SETUP_TIMEOUT = 1000


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect. Built from `live.endpoint`, `live.api_version` and timeouts."""

    base_url: str = "wss://generativelanguage.googleapis.com"
    api_version: str = "v1beta"
    connect_timeout: float = 10.0  # s: TCP + TLS + WebSocket upgrade
    setup_timeout: float = 10.0  # s: setup sent -> setupComplete
    keepalive_interval: float | None = 30.0  # s between pings; None or 0 disables them
    keepalive_timeout: float = 60.0  # s to wait for a pong
    max_message_size: int = 4 * 1024 * 1024  # bytes; the server keeps its frames under 1 MiB
    deflate: bool = True  # offer permessage-deflate
    close_timeout: float = 5.0  # s to wait for the closing handshake

    def url(self, kind: CredentialKind) -> str:
        """The full WebSocket URL for a credential kind (tokens use the Constrained method)."""
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("wss", "ws") or not parts.hostname:
            raise ConnectError(f"live.endpoint {self.base_url!r} is not a ws(s):// URL")
        if parts.scheme == "ws" and not is_loopback(parts.hostname):
            raise ConnectError(
                f"refusing plain ws:// to {parts.hostname}: only loopback hosts may skip TLS; "
                "use wss://",
                error_class=ErrorClass.FATAL,  # retrying cannot help
            )
        if kind is CredentialKind.TOKEN:
            # Ephemeral tokens exist on v1alpha only (section 1.1 and 7).
            method, version = "BidiGenerateContentConstrained", "v1alpha"
        else:
            method, version = "BidiGenerateContent", self.api_version
        path = parts.path.rstrip("/") + "/ws/" + SERVICE.format(version=version, method=method)
        return f"{parts.scheme}://{parts.netloc}{path}"


# The logger websockets uses for our connections, with credential headers blanked at the source.
_wire_log = redacted_logger("websockets.client")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_headers(credential: Credential) -> list[tuple[str, str]]:
    if credential.kind is CredentialKind.TOKEN:
        return [("Authorization", f"Token {credential.secret.reveal()}")]
    return [("x-goog-api-key", credential.secret.reveal())]


class LiveConnection:
    """A connected, set-up Live session. Create with `LiveConnection.open`."""

    def __init__(
        self,
        ws: ClientConnection,
        session: LiveSession,
        clock: Callable[[], float],
    ) -> None:
        self._ws = ws
        self.session = session
        self._clock = clock
        self._send_lock = asyncio.Lock()
        self.setup: SetupComplete | None = None
        # Decoded events not yet handed out: one frame can carry several, and a caller may stop
        # iterating events() after any of them (or the frame came with setupComplete).
        self._pending: deque[ServerEvent] = deque()

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
        server closed during setup: bad key 1007, unknown model 1008, ...), RemoteProtocolError.
        """
        url = endpoint.url(credential.kind)
        ws = await _connect(url, endpoint, credential, ssl_context)
        conn = cls(ws, LiveSession(setup), clock)
        try:
            await conn._setup(endpoint.setup_timeout)
        except BaseException:
            await conn._abort()
            raise
        return conn

    async def _setup(self, seconds: float) -> None:
        self.session.start()
        await self._flush()
        try:
            async with asyncio.timeout(seconds):
                while self.setup is None:
                    frame = await self._recv()
                    self.session.receive(frame, self._clock())
                    for event in self.session.events():
                        if isinstance(event, SetupComplete):
                            self.setup = event
                        else:
                            self._pending.append(event)
        except TimeoutError:
            raise ConnectError(
                f"no setupComplete within {seconds:g} s; the server accepted the connection but "
                "did not answer setup"
            ) from None

    # ---------------------------------------------------------------------------------------
    # Sending: each method calls the LiveSession input of the same name, then flushes.

    async def send_audio(self, pcm16k: bytes) -> bool:
        """False when a blocking tool call held the audio back (LiveSession.send_audio)."""
        self._check_open()
        queued = self.session.send_audio(pcm16k)
        await self._flush()
        return queued

    async def send_text(self, text: str) -> None:
        self._check_open()
        self.session.send_text(text)
        await self._flush()

    async def begin_activity(self) -> None:
        self._check_open()
        self.session.begin_activity()
        await self._flush()

    async def end_activity(self) -> None:
        self._check_open()
        self.session.end_activity()
        await self._flush()

    async def audio_stream_end(self) -> None:
        self._check_open()
        self.session.audio_stream_end()
        await self._flush()

    async def send_tool_response(self, call_id: str, name: str, response: dict[str, Any]) -> None:
        self._check_open()
        self.session.send_tool_response(call_id, name, response)
        await self._flush()

    def _check_open(self) -> None:
        # After the socket closed, sending is a dropped link (TRANSIENT), not misuse: raise why
        # it closed instead of the session's LocalProtocolError, which would read as FATAL.
        error = self.session.close_error
        if error is not None:
            raise error

    async def _flush(self) -> None:
        frames = self.session.data_to_send()
        if not frames:
            return
        async with self._send_lock:
            try:
                for frame in frames:
                    await self._ws.send(frame)  # text frames, as the SDK sends them
            except ConnectionClosed as exc:
                raise self._closed(exc) from None

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
            try:
                self.session.receive(frame, self._clock())
            except RemoteProtocolError as exc:
                log.warning("closing the connection: %s", exc, extra={"ERROR_CLASS": "transient"})
                failure = self.session.failure
                assert failure is not None
                await self._ws.close(failure.close_code, failure.close_reason)
                self.session.closed(failure.close_code, failure.close_reason)
                raise
            self._pending.extend(self.session.events())
            await self._flush()  # a cancellation may release a deferred activityStart

    async def _recv(self) -> bytes:
        try:
            frame = await self._ws.recv(decode=False)
        except ConnectionClosed as exc:
            raise self._closed(exc) from None
        return frame if isinstance(frame, bytes) else frame.encode()

    def _closed(self, exc: ConnectionClosed) -> SessionClosedError:
        """Record the close in the session and return the typed error for it."""
        self.session.closed(*_close_of(exc.rcvd, exc.sent))
        error = self.session.close_error
        assert error is not None
        return error

    async def close(self) -> None:
        """Close normally (1000) and wait briefly for the server's close frame.

        If the server had closed first, the session keeps the server's code and reason (the
        supervisor reads `session.close_error`), not our 1000.
        """
        await self._ws.close(1000, "client closing")
        if self.session.close_error is None:
            protocol = self._ws.protocol
            self.session.closed(*_close_of(protocol.close_rcvd, protocol.close_sent))

    async def _abort(self) -> None:
        failure = self.session.failure
        code, reason = (
            (failure.close_code, failure.close_reason)
            if failure
            else (CLOSE_SETUP_TIMEOUT, "setup failed")
        )
        try:
            await self._ws.close(code, reason)
        finally:
            if self.session.close_error is None:
                self.session.closed(code, reason)

    @property
    def latency(self) -> float:
        """Last measured ping round trip, in seconds (0 until a ping was answered)."""
        return float(self._ws.latency)


# OpenSSL verify codes for a certificate outside its validity period.
X509_V_ERR_CERT_NOT_YET_VALID = 9
X509_V_ERR_CERT_HAS_EXPIRED = 10


def untrusted_certificate(exc: ssl.SSLCertVerificationError) -> ConnectError:
    """The error for a certificate that failed verification, classified for the supervisor.

    A certificate outside its validity period is almost always our clock, not the server: a
    Pi has no real-time clock, and until NTP sets the time after boot every certificate looks
    expired or not yet valid. That heals by itself, so it is TRANSIENT. Any other failure
    (unknown or self-signed issuer, missing CA bundle, a TLS-intercepting proxy, a host name
    the certificate does not name) stays until a person fixes the endpoint, the trust store
    or the network, and retrying cannot help: FATAL.
    """
    reason = exc.verify_message or exc.reason or "verification failed"
    if exc.verify_code in (X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED):
        return ConnectError(
            f"TLS certificate rejected: {reason}; check the system clock "
            "(timedatectl: is NTP synchronized?)",
            error_class=ErrorClass.TRANSIENT,
        )
    return ConnectError(
        f"TLS certificate not trusted: {reason}; live.endpoint must present a certificate for "
        "its host name from a CA this system trusts (check the endpoint, the CA bundle, and "
        "any proxy that intercepts TLS)",
        error_class=ErrorClass.FATAL,
    )


def _close_of(rcvd: Close | None, sent: Close | None) -> tuple[int, str]:
    """The code and reason that describe a closed connection: the peer's close frame when one
    came (the server's reason, or its echo of ours), else ours, else 1006 for a dropped link."""
    if rcvd is not None:
        return rcvd.code, rcvd.reason
    if sent is not None:
        return sent.code, sent.reason
    return 1006, "connection dropped without a close frame"


async def _connect(
    url: str,
    endpoint: Endpoint,
    credential: Credential,
    ssl_context: ssl.SSLContext | None,
) -> ClientConnection:
    interval = endpoint.keepalive_interval or None
    kwargs: dict[str, Any] = {}
    if url.startswith("wss://"):
        # Verified TLS always: the default context checks the chain and the host name.
        kwargs["ssl"] = ssl_context or ssl.create_default_context()
    try:
        return await connect(
            url,
            additional_headers=auth_headers(credential),
            user_agent_header="edgevoice",
            compression="deflate" if endpoint.deflate else None,
            open_timeout=endpoint.connect_timeout,
            ping_interval=interval,
            ping_timeout=endpoint.keepalive_timeout if interval else None,
            close_timeout=endpoint.close_timeout,
            max_size=endpoint.max_message_size,
            proxy=None,
            logger=_wire_log,
            **kwargs,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise ConnectError(
            f"the server refused the WebSocket upgrade with HTTP {status}", http_status=status
        ) from None
    except InvalidHandshake as exc:
        raise ConnectError(f"WebSocket handshake failed: {exc}") from None
    except ssl.SSLCertVerificationError as exc:
        raise untrusted_certificate(exc) from None
    except TimeoutError:
        raise ConnectError(
            f"no WebSocket connection within {endpoint.connect_timeout:g} s"
        ) from None
    except OSError as exc:
        raise ConnectError(f"cannot reach the Live API: {exc.strerror or exc}") from None
