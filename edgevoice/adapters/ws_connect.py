"""Opening the WebSocket to the Live API: the endpoint, the rules for who gets the credential,
and a one-line error that names the fix for every way the opening can fail.

Policy decided here (docs/live-protocol.md sections 1 and 6):

- The API key goes in the `x-goog-api-key` header, an ephemeral token in `Authorization: Token`
  on the v1alpha `BidiGenerateContentConstrained` path. Neither ever goes in the URL. A
  credential that is not one line of visible ASCII is refused before anything is sent
  (websockets would reject the header and print the value).
- TLS is always verified (`wss://`); plain `ws://` is accepted only for loopback hosts, which is
  where the simulator runs (anything else is refused FATAL before any network I/O). A
  certificate that fails verification is FATAL (wrong endpoint, trust store or intercepting
  proxy), except one outside its validity period: on a Pi without a real-time clock that means
  NTP has not set the time yet, which heals by itself (TRANSIENT).
- Redirects are never followed: websockets would follow a 3xx with the same headers (the key
  included) to another host, and from `ws://` loopback to anywhere. The Live API does not
  redirect, so a redirect means live.endpoint is wrong: FATAL, with where it pointed.
- After a close frame went out (ours, or websockets' own when the server's bytes broke the
  protocol), the TCP connection is aborted at `close_timeout` if the server does not close it:
  websockets' asyncio client documents that deadline but leaves it to the caller, so a broken
  server could otherwise hold the connection until the setup or keepalive timeout.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidMessage, InvalidStatus
from websockets.protocol import State

from edgevoice.credentials import Credential, CredentialKind
from edgevoice.errors import ConfigError, ConnectError, ErrorClass
from edgevoice.live.endpoint import Endpoint
from edgevoice.redact import printable, redacted_logger

REDIRECTS = (300, 301, 302, 303, 307, 308)

# The logger websockets uses for our connections, with credential headers blanked at the source.
_wire_log = redacted_logger("websockets.client")


def auth_headers(credential: Credential) -> list[tuple[str, str]]:
    """The request header that carries `credential`. Raises ConfigError (never showing the
    value) when it cannot be a header value: a line break would inject headers, and websockets
    would refuse it with the whole value in its message (issue #7 section 4)."""
    problem = credential.problem()
    if problem is not None:
        raise ConfigError.single("auth", f"the credential from {credential.source} {problem}")
    if credential.kind is CredentialKind.TOKEN:
        return [("Authorization", f"Token {credential.secret.reveal()}")]
    return [("x-goog-api-key", credential.secret.reveal())]


class DeadlineConnection(ClientConnection):
    """websockets' client connection plus the close deadline it leaves to the caller: once a
    close frame went out (`close_expected()`), the TCP connection is aborted at
    `close_deadline` unless the server closed it first. Without it, a server that ignores our
    close (for example after websockets failed the connection over a 1009 or 1002) keeps
    `recv()` waiting until the setup or keepalive timeout, which then names the wrong cause."""

    _deadline_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.arm_close_deadline()

    def arm_close_deadline(self) -> None:
        """Schedule the abort when a close is under way (idempotent)."""
        if self._deadline_timer is not None or self.protocol.state is State.CLOSED:
            return
        if self.protocol.state is State.CLOSING and self.close_deadline is None:
            self.close_deadline = self.loop.time() + (self.close_timeout or 0.0)
        if self.close_deadline is not None:
            self._deadline_timer = self.loop.call_at(self.close_deadline, self._expire)

    def _expire(self) -> None:
        if self.protocol.state is not State.CLOSED:
            self.set_connection_exc(TimeoutError("the server did not close the connection"))
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        super().connection_lost(exc)


class _NoRedirects(connect):
    """websockets' connect, refusing every redirect instead of following it (see the module
    docstring): the 3xx response surfaces as InvalidStatus."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


async def open_websocket(
    url: str,
    endpoint: Endpoint,
    credential: Credential,
    ssl_context: ssl.SSLContext | None,
) -> DeadlineConnection:
    """Open the WebSocket. Raises ConnectError (classified, one line naming the fix) or
    ConfigError (a credential that cannot be sent)."""
    headers = auth_headers(credential)
    interval = endpoint.keepalive_interval or None
    kwargs: dict[str, Any] = {}
    if url.startswith("wss://"):
        # Verified TLS always: the default context checks the chain and the host name.
        kwargs["ssl"] = ssl_context or ssl.create_default_context()
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'wss' else 80)}"
    try:
        ws = await _NoRedirects(
            url,
            additional_headers=headers,
            user_agent_header="edgevoice",
            compression="deflate" if endpoint.deflate else None,
            open_timeout=endpoint.connect_timeout,
            ping_interval=interval,
            ping_timeout=endpoint.keepalive_timeout if interval else None,
            close_timeout=endpoint.close_timeout,
            max_size=endpoint.max_message_size,
            write_limit=(endpoint.send_buffer, endpoint.audio_backlog),
            proxy=None,
            logger=_wire_log,
            create_connection=DeadlineConnection,
            **kwargs,
        )
    except InvalidStatus as exc:
        raise http_refusal(exc, where, parts.path) from None
    except InvalidMessage as exc:
        if isinstance(exc.__cause__, (EOFError, ConnectionError)):
            raise ConnectError(
                f"{where} closed the connection before answering the WebSocket upgrade; "
                "retrying (if it persists, check live.endpoint)"
            ) from None
        raise ConnectError(
            f"{where} did not answer the WebSocket upgrade with HTTP; live.endpoint must name "
            "the Live API (wss://) or a local simulator (ws://)",
            error_class=ErrorClass.FATAL,
        ) from None
    except InvalidHandshake as exc:
        raise ConnectError(
            f"WebSocket handshake with {where} failed: {printable(str(exc), 200)}"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise untrusted_certificate(exc) from None
    except ssl.SSLError as exc:
        raise tls_failure(exc, where) from None
    except TimeoutError:
        raise ConnectError(
            f"no WebSocket connection to {where} within {endpoint.connect_timeout:g} s; check "
            "the network and live.endpoint"
        ) from None
    except socket.gaierror as exc:
        raise ConnectError(
            f"cannot resolve {printable(parts.hostname or '')} ({exc.strerror}); check "
            "live.endpoint and the network's DNS settings (is the network up?)"
        ) from None
    except ConnectionRefusedError:
        raise ConnectError(
            f"connection to {where} refused: nothing listens there; check live.endpoint "
            "(for a local simulator: is it running on that port?)"
        ) from None
    except OSError as exc:
        if parts.scheme == "wss" and isinstance(exc, ConnectionResetError):
            # A plain WebSocket or HTTP server reads the TLS ClientHello as a bad request and
            # hangs up: wss:// to the simulator looks like this. A network reset looks the same.
            raise ConnectError(
                f"{where} reset the connection during the TLS handshake; if it serves plain "
                "WebSocket (a local simulator), use ws:// (if not, the network dropped it: "
                "retrying)"
            ) from None
        cause = exc.strerror or type(exc).__name__
        raise ConnectError(f"cannot reach the Live API at {where}: {cause}") from None
    assert isinstance(ws, DeadlineConnection)
    return ws


def http_refusal(exc: InvalidStatus, where: str, path: str) -> ConnectError:
    """The error for an HTTP answer other than 101, naming what to fix."""
    status = exc.response.status_code
    if status in REDIRECTS:
        target = urlsplit(exc.response.headers.get("Location", ""))
        to = f"{target.scheme}://{target.netloc}" if target.netloc else "another address"
        return ConnectError(
            f"{where} redirected the WebSocket upgrade (HTTP {status}) to {printable(to, 120)}; "
            "not followed, so the credential goes nowhere else. The Live API does not redirect: "
            "point live.endpoint at it directly",
            http_status=status,
            error_class=ErrorClass.FATAL,
        )
    if status == 404:
        text = (
            f"{where} has no Live API at {path} (HTTP 404); check live.endpoint and "
            "live.api_version (v1beta, or v1alpha)"
        )
    elif status in (401, 403):
        text = f"{where} refused the credential (HTTP {status}); check the API key or token"
    elif status == 400:
        text = f"{where} refused the upgrade as a bad request (HTTP 400); check live.endpoint"
    elif status == 429:
        text = f"{where} answered HTTP 429 (too many requests); backing off"
    elif status >= 500:
        text = f"{where} answered HTTP {status} (a server error); retrying"
    else:
        text = f"{where} refused the WebSocket upgrade with HTTP {status}"
    return ConnectError(text, http_status=status)


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


def tls_failure(exc: ssl.SSLError, where: str) -> ConnectError:
    """A TLS handshake that failed before any certificate was checked. An answer that is not
    TLS at all (wss:// to a plain ws:// or HTTP server) will not change by retrying: FATAL."""
    reason = exc.reason or type(exc).__name__
    if reason in (
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",
        "HTTP_REQUEST",
        "UNKNOWN_PROTOCOL",
    ):
        return ConnectError(
            f"{where} does not speak TLS ({reason}); use wss:// for the Live API and ws:// "
            "only for a local simulator that serves plain WebSocket",
            error_class=ErrorClass.FATAL,
        )
    return ConnectError(f"TLS handshake with {where} failed ({printable(str(reason))})")
