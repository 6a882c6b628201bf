"""LiveConnection against hand-written servers on loopback, for server frames the simulator never
sends: a websockets server for valid but unusual messages, and a raw server (rawkit) for the
hostile-server suite."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from rawkit import BINARY, PING, TEXT, RawPeer, RawServer, close_frame, frame, message
from websockets.asyncio.server import ServerConnection, serve
from wskit import TIMEOUT, Reader, assert_class, endpoint, open_connection

from edgevoice.errors import (
    Action,
    EdgevoiceError,
    ErrorClass,
    RemoteProtocolError,
    SessionClosedError,
    disposition,
)
from edgevoice.live.events import (
    GoAway,
    OutputTranscription,
    SessionResumptionUpdate,
    SetupComplete,
    TurnComplete,
)


async def test_events_in_the_setup_complete_frame_are_not_lost() -> None:
    # One message may carry several fields (protocol doc section 4.1); the codec accepts a
    # sessionResumptionUpdate next to setupComplete, so the connection must deliver it.
    received: list[str] = []
    done = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        received.append(str(await ws.recv()))
        message = {
            "setupComplete": {},
            "sessionResumptionUpdate": {"newHandle": "handle-1", "resumable": True},
        }
        await ws.send(json.dumps(message).encode())
        await ws.wait_closed()
        done.set()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        conn = await open_connection(f"ws://127.0.0.1:{port}")
        first = await Reader(conn).next()
        await conn.close()
        async with asyncio.timeout(TIMEOUT):
            await done.wait()

    assert isinstance(conn.setup, SetupComplete)
    assert first == SessionResumptionUpdate(new_handle="handle-1", resumable=True)
    assert conn.session.resumption_handle == "handle-1"
    assert list(json.loads(received[0])) == ["setup"]


async def test_breaking_out_of_events_loses_nothing() -> None:
    # turnComplete and goAway in one message: a caller that stops at TurnComplete (as the
    # probe does) must still get the GoAway from its next events() loop.
    done = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(b'{"setupComplete":{}}')
        message = {"serverContent": {"turnComplete": True}, "goAway": {"timeLeft": "9s"}}
        await ws.send(json.dumps(message).encode())
        await ws.wait_closed()
        done.set()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        conn = await open_connection(f"ws://127.0.0.1:{port}", clock=lambda: 100.0)
        async with asyncio.timeout(TIMEOUT):
            async for event in conn.events():
                if isinstance(event, TurnComplete):
                    break
        later = await Reader(conn).next()
        await conn.close()
        async with asyncio.timeout(TIMEOUT):
            await done.wait()

    assert later == GoAway(time_left_seconds=9.0)
    assert conn.session.goaway_deadline == 109.0


# --------------------------------------------------------------------------------------------
# The hostile-server suite (issue #7 section 4): a raw server sends bytes websockets' own server
# never would. Every case must end in one classified, one-line error, and within the close
# timeout: the setup timeout is an hour and keepalive is off, so only the hang guard (TIMEOUT)
# is left to catch a case that waits for the wrong timer.


@dataclass
class Outcome:
    error: BaseException
    client_close: tuple[int, bytes] | None  # the close frame the client sent, if any


async def hostile(payload: bytes, *, during_setup: bool = False) -> Outcome:
    """Connect to a raw server that answers setup (unless `during_setup`), sends `payload`,
    records the client's close frame, and then never closes the TCP connection itself."""
    closes: list[tuple[int, bytes] | None] = []

    async def script(peer: RawPeer) -> None:
        await peer.upgrade()
        await peer.read_message()
        if not during_setup:
            peer.send(message({"setupComplete": {}}))
        peer.send(payload)
        closes.append(await peer.read_until_close())
        await peer.hold()

    async with RawServer(script) as server:
        target = endpoint(
            server.url, setup_timeout=3600, close_timeout=0.5, max_message_size=1 << 20
        )
        with pytest.raises(EdgevoiceError) as caught:
            async with asyncio.timeout(TIMEOUT):  # the hang guard
                conn = await open_connection(target)
                async for _ in conn.events():
                    pass
        async with asyncio.timeout(TIMEOUT):
            await server.done.wait()
        assert server.failures == []
    return Outcome(caught.value, closes[0] if closes else None)


def assert_one_line_transient(error: BaseException) -> None:
    text = str(error)
    assert text and "\n" not in text and "\r" not in text
    assert text.isprintable()
    assert_class(error, ErrorClass.TRANSIENT)
    result = disposition(error)
    assert result.action is Action.RETRY and not result.traceback


WIRE_FAILURES = [
    # (id, payload, close code websockets sends, words the error must use)
    ("close-reason-not-utf8", close_frame(1008, b"models/x is not found \xff\xfe"), 1007,
     "not UTF-8"),
    ("oversized-1009", frame(BINARY, b"x" * ((1 << 20) + 10)), 1009, "live.max_message_size"),
    ("reserved-bits-1002", frame(BINARY, b"{}", rsv=2), 1002, "WebSocket protocol"),
    ("masked-by-server-1002", frame(BINARY, b'{"setupComplete":{}}', mask=b"abcd"), 1002,
     "WebSocket protocol"),
    ("unknown-opcode-1002", frame(0x3, b"{}"), 1002, "WebSocket protocol"),
    ("fragmented-control-1002", frame(PING, b"", fin=False), 1002, "WebSocket protocol"),
]  # fmt: skip


@pytest.mark.parametrize("during_setup", [False, True], ids=["after-setup", "during-setup"])
@pytest.mark.parametrize(
    ("payload", "code", "words"),
    [pytest.param(p, c, w, id=i) for i, p, c, w in WIRE_FAILURES],
)
async def test_websockets_own_failures_are_local_transient_closes(
    payload: bytes, code: int, words: str, during_setup: bool
) -> None:
    outcome = await hostile(payload, during_setup=during_setup)
    error = outcome.error
    # Not "no setupComplete within 3600 s", not a keepalive timeout: the real cause.
    assert isinstance(error, SessionClosedError)
    assert (error.code, error.local) == (code, True)
    assert words in str(error) and "our side" in str(error)
    assert not error.resumption_rejected
    assert_one_line_transient(error)
    assert outcome.client_close is not None and outcome.client_close[0] == code


async def test_a_server_that_never_closes_tcp_after_its_close_frame() -> None:
    # The client echoes the close and waits for the server to hang up; it gives up at the
    # close timeout and keeps the server's code and reason.
    outcome = await hostile(close_frame(1011, b"Internal error encountered."))
    error = outcome.error
    assert isinstance(error, SessionClosedError) and not error.local
    assert (error.code, error.reason) == (1011, "Internal error encountered.")
    assert_one_line_transient(error)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def raw(text: str) -> bytes:
    """A binary frame of exactly these JSON bytes (json.dumps cannot make some of them)."""
    return frame(BINARY, text.encode("utf-8", "surrogatepass"))


DECODER_CASES = [
    pytest.param(message({"usageMetadata": nested(500)}), id="deep-usageMetadata"),
    pytest.param(message({"toolCall": {"functionCalls": [
        {"id": "c1", "name": "get_time", "args": nested(500)}]}}), id="deep-toolCall-args"),
    pytest.param(message({"serverContent": {"modelTurn": {"parts": [
        {"inlineData": {"mimeType": "audio/pcm;rate=\u00b2", "data": "AAAA"}}]}}}),
                 id="rate-superscript-two"),
    pytest.param(raw('{"usageMetadata":{"promptTokenCount":' + "7" * 4500 + "}}"),
                 id="int-over-4300-digits"),
    pytest.param(message({"goAway": {"timeLeft": "1" + "0" * 400 + "s"}}), id="goaway-10e400"),
    pytest.param(frame(BINARY, b'{"serverContent":{"outputTranscription":{"text":"a\xff\xfe"}}}'),
                 id="invalid-utf8-frame"),
    pytest.param(frame(TEXT, b'{"serverContent":{"outputTranscription":{"text":"a\xc3"}}}'),
                 id="invalid-utf8-text-frame"),
    pytest.param(raw('{"serverContent":' + "[" * 100_000 + "]" * 100_000 + "}"),
                 id="deep-json-beyond-the-parser"),
]  # fmt: skip


async def test_a_lone_surrogate_in_a_transcript_arrives_printable() -> None:
    # The decoder replaces lone surrogates with U+FFFD (its choice: a transcript is worth
    # keeping); what reaches the app can be printed and logged.
    async def script(peer: RawPeer) -> None:
        await peer.upgrade()
        await peer.read_message()
        peer.send(message({"setupComplete": {}}))
        peer.send(raw('{"serverContent":{"outputTranscription":{"text":"a\\ud800b"}}}'))
        await peer.read_until_close()

    async with RawServer(script) as server:
        conn = await open_connection(server.url)
        event = await Reader(conn).next()
        await conn.close()

    assert isinstance(event, OutputTranscription)
    assert event.text == "a\ufffdb"
    assert event.text.encode("utf-8")


@pytest.mark.parametrize("payload", DECODER_CASES)
async def test_hostile_frames_end_in_a_remote_protocol_error(payload: bytes) -> None:
    outcome = await hostile(payload)
    assert isinstance(outcome.error, RemoteProtocolError)
    assert_one_line_transient(outcome.error)
    # The client closed the connection itself, as a protocol error (never a 1008 policy close
    # that would read as FATAL).
    assert outcome.client_close is not None and outcome.client_close[0] == 1002


async def test_a_server_that_never_answers_pings_is_a_local_keepalive_close() -> None:
    # The raw server reads and ignores everything, pings included, and never hangs up.
    async def script(peer: RawPeer) -> None:
        await peer.upgrade()
        await peer.read_message()
        peer.send(message({"setupComplete": {}}))
        await peer.hold()

    async with RawServer(script) as server:
        target = endpoint(
            server.url, keepalive_interval=0.2, keepalive_timeout=0.2, close_timeout=0.5
        )
        async with asyncio.timeout(TIMEOUT):
            conn = await open_connection(target)
            error = await Reader(conn).end(SessionClosedError)

    assert (error.code, error.local) == (1011, True)
    assert "no answer to a keepalive ping within 0.2 s" in str(error)
    assert_one_line_transient(error)
    assert not disposition(error, consecutive=100).bounded  # the network: retried for ever
