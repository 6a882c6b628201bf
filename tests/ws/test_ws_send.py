"""The send path under a slow or frozen uplink, through a real stalled TCP proxy in front of the
simulator: a cancelled send never leaves the session and the wire disagreeing, and the
microphone never waits on the network (issue #7 section 3)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from proxykit import PausableProxy
from wskit import TIMEOUT, Reader, endpoint, open_connection, tone

from edgevoice.adapters.ws import LiveConnection
from edgevoice.sim import SimOptions

SimFactory = Callable[..., Any]
CHUNK = tone(0.02)  # one 20 ms microphone frame
# The assertions count every frame the simulator received: keep them all (a stalled uplink
# backs up a few megabytes before the client's buffer fills).
RECORD_ALL = SimOptions(pace=0, record_bytes_per_connection=256 << 20, record_bytes_total=256 << 20)


def uplink(proxy: PausableProxy, **kw: Any) -> Any:
    # No permessage-deflate: identical tone frames would compress to a few bytes each, and the
    # stalled uplink would take millions of them to back up.
    return endpoint(proxy.url, deflate=False, **kw)


def realtime_kinds(sim: Any) -> list[str]:
    """The realtimeInput frames the simulator received, by their one field."""
    return [next(iter(f.body)) for f in sim.connections[0].frames("realtimeInput")]


async def fill_uplink(conn: LiveConnection) -> int:
    """Send microphone frames until the first is dropped; returns how many went out. Each
    send_audio must return without waiting for the (stalled) network: the hang guard fails
    the test if one ever waits."""
    sent = 0
    for _ in range(100_000):
        async with asyncio.timeout(TIMEOUT):
            if not await conn.send_audio(CHUNK):
                return sent
        sent += 1
    raise AssertionError("the uplink never backed up")


def no_orphan_activity_end(kinds: list[str]) -> bool:
    open_activity = False
    for kind in kinds:
        if kind == "activityStart":
            if open_activity:
                return False
            open_activity = True
        elif kind == "activityEnd":
            if not open_activity:
                return False
            open_activity = False
    return True


async def test_cancelling_a_send_while_another_is_in_flight_loses_nothing(
    sim_factory: SimFactory,
) -> None:
    async with sim_factory(RECORD_ALL) as sim, PausableProxy(sim.port) as proxy:
        conn = await open_connection(uplink(proxy))
        reader = Reader(conn)
        await conn.begin_activity()
        proxy.pause()
        sent_audio = await fill_uplink(conn)
        # A large control frame goes out even above the audio bound and then waits for the
        # network (the write buffer is over its high-water mark): a send in flight.
        in_flight = asyncio.create_task(conn.send_text("x" * 300_000))
        await asyncio.sleep(0)
        assert not in_flight.done()
        # Another send, cancelled while it waits too: activityEnd is on its way regardless.
        cancelled = asyncio.create_task(conn.end_activity())
        await asyncio.sleep(0)
        assert not cancelled.done()
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert not conn.session.in_activity  # the session counts activityEnd as sent
        proxy.resume()
        async with asyncio.timeout(TIMEOUT):
            await in_flight
        # The next turn works: the server never saw an orphan or a missing activityEnd.
        await conn.begin_activity()
        for _ in range(30):
            assert await conn.send_audio(CHUNK)
        await conn.end_activity()
        await reader.turn()
        await reader.turn()
        await conn.close()
        await sim.wait_closed(1, timeout_s=TIMEOUT)

    kinds = realtime_kinds(sim)
    assert [k for k in kinds if k != "audio"] == [
        "activityStart",
        "text",
        "activityEnd",
        "activityStart",
        "activityEnd",
    ]
    assert no_orphan_activity_end(kinds)
    assert kinds.count("audio") == sent_audio + 30  # exactly what send_audio said went out
    assert sim.connections[0].closed_by == "client"


async def test_audio_is_dropped_and_counted_when_the_uplink_stalls(
    sim_factory: SimFactory, caplog: pytest.LogCaptureFixture
) -> None:
    now = [100.0]
    caplog.set_level(logging.WARNING, logger="edgevoice.ws")
    async with sim_factory(RECORD_ALL) as sim, PausableProxy(sim.port) as proxy:
        conn = await open_connection(uplink(proxy), clock=lambda: now[0])
        reader = Reader(conn)
        await conn.begin_activity()
        for _ in range(10):
            assert await conn.send_audio(CHUNK)
        proxy.pause()
        sent = 10 + await fill_uplink(conn)
        for _ in range(49):  # 50 drops in all, within one warning interval
            async with asyncio.timeout(TIMEOUT):
                assert not await conn.send_audio(CHUNK)
        assert (conn.audio_dropped, conn.audio_dropped_bytes) == (50, 50 * len(CHUNK))
        warnings = [r.getMessage() for r in caplog.records if "uplink too slow" in r.getMessage()]
        assert len(warnings) == 1 and "dropped 1 microphone chunk(s) (1 in total" in warnings[0]
        now[0] += 10.0
        assert not await conn.send_audio(CHUNK)
        warnings = [r.getMessage() for r in caplog.records if "uplink too slow" in r.getMessage()]
        assert len(warnings) == 2 and "dropped 50 microphone chunk(s) (51 in total" in warnings[1]
        # Control frames still go out while audio is being dropped, without waiting.
        async with asyncio.timeout(TIMEOUT):
            await conn.end_activity()
        proxy.resume()
        events = await reader.turn()
        await conn.close()
        await sim.wait_closed(1, timeout_s=TIMEOUT)

    assert events  # the turn the server heard was answered
    kinds = realtime_kinds(sim)
    assert kinds.count("audio") == sent  # every chunk reported sent arrived; no dropped one did
    assert kinds[0] == "activityStart" and kinds[-1] == "activityEnd"
