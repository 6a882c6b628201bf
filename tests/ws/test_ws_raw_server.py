"""LiveConnection against a hand-written websockets server on loopback, for server frames the
simulator never sends."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.server import ServerConnection, serve
from wskit import TIMEOUT, Reader, open_connection

from edgevoice.live.events import GoAway, SessionResumptionUpdate, SetupComplete, TurnComplete


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
