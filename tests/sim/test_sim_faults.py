"""Every lifecycle and fault knob, seen from a raw client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from simkit import client, session, setup
from websockets.exceptions import ConnectionClosed, InvalidStatus

from edgevoice.sim import Fault, FaultAction, Moment, SimOptions, When

QUOTA = "You exceeded your current quota, please check your plan and billing details."
DEADLINE = "Deadline expired before operation could complete."
START = {"realtimeInput": {"activityStart": {}}}
END = {"realtimeInput": {"activityEnd": {}}}


def faults(*specs: str, **kw: Any) -> SimOptions:
    return SimOptions(pace=0, faults=tuple(Fault.parse(s) for s in specs), **kw)


async def test_connection_lifetime_sends_go_away_then_closes_1011(sim_factory: Any) -> None:
    options = SimOptions(pace=0, lifetime_s=0.3, go_away_notice_s=0.25)
    async with sim_factory(options) as sim, session(sim) as c:
        assert await c.recv() == {"goAway": {"timeLeft": "0.250s"}}
        assert await c.closed() == (1011, DEADLINE)


async def test_go_away_fault_after_a_turn(sim_factory: Any) -> None:
    async with sim_factory(faults("goaway=0.1@turn:1")) as sim, session(sim) as c:
        await c.send(START)
        await c.send(END)
        await c.turn()
        assert await c.recv() == {"goAway": {"timeLeft": "0.100s"}}
        assert await c.closed() == (1011, DEADLINE)


async def test_close_with_any_code_after_n_client_frames(sim_factory: Any) -> None:
    options = faults("close=1011:Internal error encountered.@frame:3")
    async with sim_factory(options) as sim, session(sim) as c:
        await c.send(START)
        await c.send(END)  # frame 3
        assert await c.closed() == (1011, "Internal error encountered.")
    record = sim.connections[0]
    assert len(record.received) == 3 and record.close_detail == "fault close@frame:3"


async def test_close_right_after_setup_instead_of_setup_complete(sim_factory: Any) -> None:
    async with sim_factory(faults("close=1008:The operation was aborted@setup")) as sim:
        async with client(sim) as c:
            await c.send(setup())
            assert await c.closed() == (1008, "The operation was aborted")


async def test_abort_drops_tcp_without_a_close_frame(sim_factory: Any) -> None:
    async with sim_factory(faults("abort@ready")) as sim, client(sim) as c:
        await c.send(setup())
        assert await c.closed() == (1006, "")
    event = await sim.wait_closed(1)
    assert (event.code, event.closed_by) == (1006, "abort")


async def test_stall_never_answers_setup_but_keeps_recording(sim_factory: Any) -> None:
    async with sim_factory(faults("stall@setup")) as sim, client(sim) as c:
        await c.send(setup())
        await c.send(START)
        await c.ws.close()  # frames are read in order: both are recorded before the close
    await sim.wait_closed(1)
    record = sim.connections[0]
    assert [f.index for f in record.received] == [1, 2]
    assert record.sent == [] and record.closed_by == "client"
    assert [e.kind for e in sim.events] == ["open", "close"]  # no "setup": it never completed


async def test_malformed_frame_then_the_session_goes_on(sim_factory: Any) -> None:
    async with sim_factory(faults("malformed@ready")) as sim, client(sim) as c:
        await c.send(setup())
        assert json.loads(await c.ws.recv()) == {"setupComplete": {}}
        raw = await c.ws.recv()
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
        await c.send(START)
        await c.send(END)
        await c.turn()


async def test_unknown_message_type(sim_factory: Any) -> None:
    async with sim_factory(faults("unknown@ready")) as sim, session(sim) as c:
        message = await c.recv()
    assert list(message) == ["simulatorUnknownMessage"]


async def test_oversized_frame_trips_the_clients_1_mib_limit(sim_factory: Any) -> None:
    async with sim_factory(faults("oversized@ready")) as sim, session(sim) as c:
        with pytest.raises(ConnectionClosed) as caught:
            await c.recv()
        assert caught.value.sent is not None and caught.value.sent.code == 1009
    oversized = sim.connections[0].sent[-1]
    assert oversized.message is None and len(oversized.raw) > 1 << 20


@pytest.mark.parametrize(
    ("spec", "reason"),
    [("quota@ready", QUOTA), ("unavailable@ready", "The service is currently unavailable.")],
)
async def test_quota_and_unavailable_closes(sim_factory: Any, spec: str, reason: str) -> None:
    async with sim_factory(faults(spec)) as sim, session(sim) as c:
        assert await c.closed() == (1011, reason)


async def test_a_fault_fires_once_by_default_and_every_time_with_star_zero(
    sim_factory: Any,
) -> None:
    async with sim_factory(faults("close=1011:x@turn:1", "quota@turn:2*0")) as sim:
        async with session(sim) as c:
            await c.send(START)
            await c.send(END)
            await c.turn()
            assert await c.closed() == (1011, "x")
        async with session(sim) as c:  # the once-only fault is spent: this one reaches turn 2
            await c.send(START)
            await c.send(END)
            await c.turn()
            await c.send(START)
            await c.send(END)
            assert await c.closed() == (1011, QUOTA)
        async with session(sim) as c:
            for _ in range(2):
                await c.send(START)
                await c.send(END)
            assert await c.closed() == (1011, QUOTA)


async def test_refuse_first_connections_with_http_503(sim_factory: Any) -> None:
    async with sim_factory(SimOptions(pace=0, refuse_first=2)) as sim:
        for _ in range(2):
            with pytest.raises(InvalidStatus) as caught:
                async with client(sim):
                    pass
            assert caught.value.response.status_code == 503
        async with session(sim) as c:
            await c.send(START)
            await c.send(END)
            await c.turn()
    assert [e.kind for e in sim.events][:2] == ["refused", "refused"]


@pytest.mark.parametrize(
    ("mode", "reason"), [("unavailable", "The service is currently unavailable."), ("quota", QUOTA)]
)
async def test_refuse_first_connections_after_the_upgrade(
    sim_factory: Any, mode: str, reason: str
) -> None:
    async with sim_factory(SimOptions(pace=0, refuse_first=1, refuse_mode=mode)) as sim:  # type: ignore[arg-type]
        async with client(sim) as c:
            await c.send(setup())
            assert await c.closed() == (1011, reason)
        async with session(sim):
            pass


async def test_close_at_connect_before_any_frame(sim_factory: Any) -> None:
    async with sim_factory(faults("close=1011:Internal error encountered.@connect")) as sim:
        async with client(sim) as c:
            with pytest.raises(ConnectionClosed):
                await c.send(setup())
                await c.ws.recv()
    assert sim.connections[0].received == []


def test_fault_specs_parse_and_bad_ones_say_what_is_wrong() -> None:
    assert Fault.parse("abort@turn:1") == Fault(FaultAction.ABORT, When(Moment.TURN, 1))
    assert Fault.parse("close=1008:a@b: c@frame:3*0") == Fault(
        FaultAction.CLOSE, When(Moment.FRAME, 3), 1008, "a@b: c", times=0
    )
    assert Fault.parse("goaway=2.5@ready").time_left_s == 2.5
    for bad, words in [
        ("abort", "ACTION"),
        ("explode@ready", "unknown action"),
        ("abort@turn", "count"),
        ("abort@later", "unknown moment"),
        ("close=99:x@ready", "cannot be sent by a server"),
        ("close=1005:x@ready", "cannot be sent by a server"),
        ("close=1006:x@ready", "cannot be sent by a server"),
        ("close=1015:x@ready", "cannot be sent by a server"),
        ("close=99999:x@ready", "CODE"),
        (f"close=1011:{'x' * 124}@ready", "123"),
        ("goaway=nan@ready", "finite"),
        ("goaway=inf@ready", "finite"),
        ("goaway=-1@ready", "finite"),
        ("stall=1@ready", "no argument"),
        ("abort@ready*x", "TIMES"),
    ]:
        with pytest.raises(ValueError, match=words):
            Fault.parse(bad)


# --- faults while the simulator runs (what a soak injects at moments of its choosing) ---------


async def test_strike_closes_every_set_up_connection_now_and_is_listed(sim_factory: Any) -> None:
    async with sim_factory(SimOptions(pace=0)) as sim, session(sim) as c:
        assert sim.strike(Fault(FaultAction.ABORTED, When(Moment.READY))) == 1
        assert await c.closed() == (1008, "The operation was aborted.")
    assert [(f.connection, f.detail) for f in sim.firings] == [(1, "fault aborted (struck now)")]
    assert sim.strike(Fault(FaultAction.ABORT, When(Moment.READY))) == 0  # nothing open


async def test_strike_skips_a_connection_that_has_not_had_setup_complete(
    sim_factory: Any,
) -> None:
    async with sim_factory(SimOptions(pace=0)) as sim, client(sim) as c:
        await c.send(START)  # not a setup: it will be refused, but it is not set up yet either
        assert sim.strike(Fault(FaultAction.UNKNOWN, When(Moment.READY))) == 0
        assert (await c.closed())[0] == 1007


async def test_a_struck_stall_sends_nothing_more_and_keeps_recording(sim_factory: Any) -> None:
    async with sim_factory(SimOptions(pace=0)) as sim, session(sim) as c:
        sim.strike(Fault(FaultAction.STALL, When(Moment.READY)))
        await c.send(START)
        await c.send(END)
        await c.ws.close()
    await sim.wait_closed(1)
    record = sim.connections[0]
    assert [f.index for f in record.received] == [1, 2, 3]
    assert [list(f.message or {}) for f in record.sent] == [["setupComplete"]]
    assert sim.strike(Fault(FaultAction.ABORT, When(Moment.READY))) == 0


async def test_an_injected_fault_fires_at_its_moment_on_a_running_server(
    sim_factory: Any,
) -> None:
    async with sim_factory(SimOptions(pace=0)) as sim:
        async with session(sim) as c:
            sim.inject(Fault(FaultAction.CLOSE, When(Moment.FRAME), 1011, "x"))
            await c.send(START)  # the next frame handled, whatever its number
            assert await c.closed() == (1011, "x")
        async with session(sim) as c:  # once only, as in SimOptions.faults
            await c.send(START)
            await c.send(END)
            await c.turn()
    assert [f.detail for f in sim.firings] == ["fault close@frame"]
    with pytest.raises(ValueError, match="cannot be sent"):
        sim.inject(Fault(FaultAction.CLOSE, When(Moment.READY), code=1006))


async def test_refuse_the_next_attempts_while_running(sim_factory: Any) -> None:
    async with sim_factory(SimOptions(pace=0)) as sim:
        async with session(sim):
            pass
        sim.refuse(1, "unavailable")
        async with client(sim) as c:
            await c.send(setup())
            assert await c.closed() == (1011, "The service is currently unavailable.")
        sim.refuse(1)
        with pytest.raises(InvalidStatus):
            async with client(sim):
                pass
        async with session(sim):  # the refusals are spent
            pass
    with pytest.raises(ValueError, match="refuse takes"):
        sim.refuse(-1)


async def test_a_server_close_is_completed_while_the_client_still_streams(
    sim_factory: Any,
) -> None:
    # Found by the soak (seed 1696628893): the simulator stopped reading once it had decided
    # to close, so frames the client sent meanwhile filled the socket's queue, reading paused,
    # the client's close frame was never seen, and the connection (and the session it served)
    # stayed open until the close timeout: a resume in that time was refused 1011 "still
    # served". A server reads on until the client's close frame, and lets the session go.
    from simkit import KEY, silence
    from websockets.asyncio.client import connect

    async with sim_factory(SimOptions(pace=0)) as sim:
        async with session(sim, setup(resumption={})) as c:
            await c.send(START)
            await c.send(END)
            messages = await c.recv_until(
                lambda m: bool(m.get("sessionResumptionUpdate", {}).get("resumable"))
            )
            handle = messages[-1]["sessionResumptionUpdate"]["newHandle"]
        headers = {"x-goog-api-key": KEY}
        async with connect(sim.endpoint(), additional_headers=headers, close_timeout=30) as ws:
            await ws.send(json.dumps(setup(resumption={"handle": handle})))
            assert "setupComplete" in json.loads(await ws.recv())
            await ws.send(json.dumps(START))
            assert sim.strike(Fault(FaultAction.CLOSE, When(Moment.READY), 1011, "x")) == 1
            frame = json.dumps(
                {"realtimeInput": {"audio": {"data": "", "mimeType": "audio/pcm;rate=16000"}}}
            )
            for index in range(400):  # far more than the websocket's queue holds
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(frame.replace('""', json.dumps(_b64(silence(0.02)))))
                if index == 0:
                    await asyncio.sleep(0)  # the strike's task runs: the close is decided
            # The simulator sees the client's reply to its close and ends the connection: well
            # within this hang guard (a simulator that stopped reading holds it until its close
            # timeout, 10 s, or the client drops TCP; this client does neither meanwhile).
            await sim.wait_closed(2, timeout_s=3.0)
        # The session is free again: the resume is answered with setupComplete.
        async with session(sim, setup(resumption={"handle": handle})):
            pass


def _b64(pcm: bytes) -> str:
    import base64

    return base64.b64encode(pcm).decode()
