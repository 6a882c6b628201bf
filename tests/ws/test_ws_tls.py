"""TLS and the plain-ws:// rule: verified wss:// works, untrusted certificates are refused with
the right retry class, and ws:// to a non-loopback host never touches the network."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from wskit import TIMEOUT, Reader, assert_class, endpoint, manual_turn, open_connection, tone
from wskit import transcript as spoken

from edgevoice.credentials import CredentialKind
from edgevoice.errors import ConnectError, ErrorClass
from edgevoice.sim import SimOptions

SimFactory = Callable[..., Any]


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def trusting(cert: Path) -> ssl.SSLContext:
    """A client context that trusts exactly this certificate (and checks the host name)."""
    return ssl.create_default_context(cafile=str(cert))


async def test_wss_with_a_trusted_certificate(
    sim_factory: SimFactory, tls_files: tuple[Path, Path]
) -> None:
    cert, key = tls_files
    async with sim_factory(SimOptions(pace=0), ssl_context=server_context(cert, key)) as sim:
        assert sim.url.startswith("wss://127.0.0.1:")
        conn = await open_connection(sim, ssl_context=trusting(cert))
        reader = Reader(conn)
        await manual_turn(conn, tone(0.3))
        events = await reader.turn()
        await conn.close()
        closed = await sim.wait_closed(1, timeout_s=TIMEOUT)

    assert spoken(events).startswith("Parrot turn 1:")
    assert (closed.code, closed.closed_by) == (1000, "client")


async def test_self_signed_certificate_is_fatal(
    sim_factory: SimFactory, tls_files: tuple[Path, Path]
) -> None:
    cert, key = tls_files
    async with sim_factory(SimOptions(pace=0), ssl_context=server_context(cert, key)) as sim:
        # No ssl_context: the system trust store, which does not know this certificate.
        with pytest.raises(ConnectError) as caught:
            await open_connection(sim)
        assert sim.connections == []  # refused during TLS, before any WebSocket upgrade

    assert "self-signed certificate" in str(caught.value)
    assert caught.value.http_status is None
    assert_class(caught.value, ErrorClass.FATAL)


async def test_certificate_for_another_host_is_fatal(
    sim_factory: SimFactory, tmp_path: Path, cert_maker: Any
) -> None:
    cert, key = cert_maker(tmp_path, "elsewhere", "DNS:elsewhere.test")
    async with sim_factory(SimOptions(pace=0), ssl_context=server_context(cert, key)) as sim:
        # Trusted issuer, but the certificate does not name 127.0.0.1.
        with pytest.raises(ConnectError) as caught:
            await open_connection(sim, ssl_context=trusting(cert))
        assert sim.connections == []

    assert "mismatch" in str(caught.value).lower()
    assert_class(caught.value, ErrorClass.FATAL)


async def test_expired_certificate_is_a_clock_problem_and_transient(
    sim_factory: SimFactory, expired_tls_files: tuple[Path, Path]
) -> None:
    cert, key = expired_tls_files
    async with sim_factory(SimOptions(pace=0), ssl_context=server_context(cert, key)) as sim:
        with pytest.raises(ConnectError) as caught:
            await open_connection(sim, ssl_context=trusting(cert))
        assert sim.connections == []

    message = str(caught.value)
    assert "expired" in message and "clock" in message
    assert_class(caught.value, ErrorClass.TRANSIENT)


def non_loopback_ipv4() -> str | None:
    """An address of this machine that is not loopback, if it has one (no packet is sent:
    connecting a UDP socket only picks the route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


async def test_plain_ws_to_a_non_loopback_host_is_refused_without_network_io() -> None:
    accepted: list[str] = []

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(str(writer.get_extra_info("sockname")[0]))
        writer.close()  # not a WebSocket server: hang up at once

    server = await asyncio.start_server(on_connect, "0.0.0.0", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        # Control: over loopback the client does reach this listener (and fails: not a
        # WebSocket server), so the counter below would see a connection attempt.
        with pytest.raises(ConnectError) as control:
            await open_connection(f"ws://127.0.0.1:{port}")
        assert accepted == ["127.0.0.1"]
        assert_class(control.value, ErrorClass.TRANSIENT)

        host = non_loopback_ipv4()
        targets = [f"ws://edgevoice-test.invalid:{port}"]  # no DNS lookup either
        if host is not None:
            targets.append(f"ws://{host}:{port}")
        for url in targets:
            with pytest.raises(ConnectError) as caught:
                await open_connection(url)
            assert "only loopback hosts may skip TLS" in str(caught.value)
            assert_class(caught.value, ErrorClass.FATAL)
        assert accepted == ["127.0.0.1"]  # nothing else ever connected
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()


@pytest.mark.parametrize(
    "url",
    ["ws://localhost:1", "ws://127.0.0.1:1", "ws://[::1]:1", "wss://example.test"],
)
def test_loopback_ws_and_any_wss_make_urls(url: str) -> None:
    full = endpoint(url).url(CredentialKind.API_KEY)
    assert full.startswith(url) and full.endswith(".GenerativeService.BidiGenerateContent")
