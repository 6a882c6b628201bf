"""Opening a connection that cannot work: each failure is one line that names the fix, carries
the right retry class, and never shows or forwards the key (issue #7 sections 4 and 5).

Every server here is real and on loopback: a raw server answering with any HTTP response, a
listener that counts connection attempts, the simulator for TLS mismatches.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest
from rawkit import RawPeer, RawServer
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage
from wskit import (
    KEY,
    TIMEOUT,
    api_key,
    assert_class,
    endpoint,
    make_setup,
    open_connection,
    token,
)

from edgevoice.adapters.ws import Endpoint, LiveConnection
from edgevoice.credentials import Credential, CredentialKind
from edgevoice.errors import Action, ConfigError, ConnectError, ErrorClass, disposition
from edgevoice.redact import Secret

SimFactory = Callable[..., Any]


class Listener:
    """A TCP listener on loopback that records every connection attempt and its first bytes."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.requests.append(await asyncio.wait_for(reader.read(65536), TIMEOUT))
        except (TimeoutError, ConnectionError):
            self.requests.append(b"")
        writer.close()

    async def __aenter__(self) -> Listener:
        self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def answering(status_line: str, headers: dict[str, str] | None = None) -> Any:
    async def script(peer: RawPeer) -> None:
        await peer.respond(status_line, headers)

    return script


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("credential", [api_key(), token()], ids=["key", "token"])
async def test_a_redirect_is_not_followed_with_the_credential(
    status: int, credential: Credential
) -> None:
    # websockets strips only Authorization on a cross-origin redirect, never x-goog-api-key,
    # and it follows ws:// loopback -> ws:// anywhere, bypassing the loopback-only rule.
    async with Listener() as elsewhere:
        location = f"ws://localhost:{elsewhere.port}/ws/other?x=1"
        async with RawServer(answering(f"{status} Moved", {"Location": location})) as server:
            with pytest.raises(ConnectError) as caught:
                await open_connection(server.url, credential)
        await asyncio.sleep(0.05)  # a followed redirect would have connected by now

    error = caught.value
    assert elsewhere.requests == []  # nothing, let alone the key, went to the other address
    assert error.http_status == status
    assert_class(error, ErrorClass.FATAL)
    text = str(error)
    assert f"HTTP {status}" in text and f"ws://localhost:{elsewhere.port}" in text
    assert "live.endpoint" in text and "?x=1" not in text
    assert credential.secret.reveal() not in text
    assert disposition(error).action is Action.ATTENTION


async def test_control_plain_websockets_would_carry_the_key_to_the_redirect_target() -> None:
    # Shows the test above can fail: the same redirect, followed by websockets' own connect
    # with our header, delivers the key to the other port.
    async with Listener() as elsewhere:
        location = f"ws://localhost:{elsewhere.port}/ws/other"
        async with RawServer(answering("302 Found", {"Location": location})) as server:
            with pytest.raises(InvalidMessage):  # the listener is not a WebSocket server
                await connect(server.url, additional_headers={"x-goog-api-key": KEY})
    assert len(elsewhere.requests) == 1 and KEY.encode() in elsewhere.requests[0]


async def test_a_same_origin_redirect_is_not_followed_either() -> None:
    paths: list[str] = []

    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        paths.append(peer.request.split(b" ")[1].decode())
        await peer.respond("307 Temporary Redirect", {"Location": "/ws/elsewhere"})

    async with RawServer(script) as server:
        with pytest.raises(ConnectError, match="HTTP 307"):
            await open_connection(server.url)
        await asyncio.sleep(0.05)  # a followed redirect would have come back by now
    assert len(paths) == 1 and paths[0].endswith("BidiGenerateContent")


@pytest.mark.parametrize(
    ("status", "error_class", "words"),
    [
        ("404 Not Found", ErrorClass.FATAL, ("HTTP 404", "live.endpoint", "live.api_version")),
        ("403 Forbidden", ErrorClass.FATAL, ("HTTP 403", "API key")),
        ("401 Unauthorized", ErrorClass.FATAL, ("HTTP 401", "API key")),
        ("400 Bad Request", ErrorClass.FATAL, ("HTTP 400", "live.endpoint")),
        ("429 Too Many Requests", ErrorClass.THROTTLED, ("HTTP 429",)),
        ("503 Service Unavailable", ErrorClass.TRANSIENT, ("HTTP 503",)),
    ],
)
async def test_http_refusals_name_the_fix(
    status: str, error_class: ErrorClass, words: tuple[str, ...]
) -> None:
    async with RawServer(answering(status)) as server:
        with pytest.raises(ConnectError) as caught:
            await open_connection(server.url)
    assert_class(caught.value, error_class)
    for word in words:
        assert word in str(caught.value)
    assert f"127.0.0.1:{server.port}" in str(caught.value)
    assert KEY not in str(caught.value)


async def test_connection_refused_names_the_fix() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectError) as caught:
        await open_connection(f"ws://127.0.0.1:{port}")
    text = str(caught.value)
    assert f"connection to 127.0.0.1:{port} refused" in text and "live.endpoint" in text
    assert_class(caught.value, ErrorClass.TRANSIENT)


async def test_dns_failure_names_the_fix() -> None:
    # The .invalid top-level domain never resolves (RFC 6761).
    with pytest.raises(ConnectError) as caught:
        await open_connection("wss://live-api.edgevoice.invalid")
    text = str(caught.value)
    assert text.startswith("cannot resolve live-api.edgevoice.invalid (")
    assert "DNS" in text and "live.endpoint" in text
    assert_class(caught.value, ErrorClass.TRANSIENT)


async def test_wss_to_a_plain_server_says_it_does_not_speak_tls(sim_factory: SimFactory) -> None:
    async with sim_factory() as sim:
        plain = sim.url.replace("ws://", "wss://")
        with pytest.raises(ConnectError) as caught:
            await open_connection(plain)
    text = str(caught.value)
    assert "during the TLS handshake" in text and "use ws://" in text
    assert_class(caught.value, ErrorClass.TRANSIENT)  # a network reset looks the same


async def test_wss_to_a_plain_http_answer_says_it_does_not_speak_tls() -> None:
    # A plain server that answers the ClientHello with HTTP: OpenSSL sees no TLS record.
    async def script(peer: RawPeer) -> None:
        await peer.reader.read(1)
        peer.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    async with RawServer(script) as server:
        with pytest.raises(ConnectError) as caught:
            await open_connection(server.url.replace("ws://", "wss://"))
    text = str(caught.value)
    assert "does not speak TLS" in text and "ws://" in text
    assert_class(caught.value, ErrorClass.FATAL)


async def test_a_server_that_is_not_http_is_fatal() -> None:
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        peer.send(b"SSH-2.0-OpenSSH_9.2\r\n")

    async with RawServer(script) as server:
        with pytest.raises(ConnectError) as caught:
            await open_connection(server.url)
    assert "did not answer the WebSocket upgrade with HTTP" in str(caught.value)
    assert_class(caught.value, ErrorClass.FATAL)


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (KEY[:8] + "\r\nX-Injected: yes" + KEY[8:], "a line break (CR or LF)"),
        (KEY[:8] + "\u2603" + KEY[8:], "a character outside Latin-1"),
    ],
)
async def test_a_credential_that_cannot_be_a_header_is_refused_unsent(
    value: str, what: str
) -> None:
    credential = Credential(CredentialKind.API_KEY, Secret(value), "environment variable X")
    async with Listener() as listener:
        with pytest.raises(ConfigError) as caught:
            await LiveConnection.open(
                endpoint(f"ws://127.0.0.1:{listener.port}"), credential, make_setup()
            )
        await asyncio.sleep(0.05)
    text = str(caught.value)
    assert f"contains {what} at position 9" in text and "environment variable X" in text
    assert KEY[:8] not in text and KEY[8:] not in text and "X-Injected" not in text
    assert listener.requests == []  # refused before any network I/O


@pytest.mark.parametrize(
    "base_url", ["wss://host:99999", "wss://host:abc", "https://host", "ws://192.0.2.1:80"]
)
async def test_an_unusable_endpoint_is_fatal_before_any_io(base_url: str) -> None:
    with pytest.raises(ConnectError) as caught:
        Endpoint(base_url=base_url).url(CredentialKind.API_KEY)
    assert "live.endpoint" in str(caught.value) or "ws://" in str(caught.value)
    assert_class(caught.value, ErrorClass.FATAL)
