"""Every way a Live connection ends badly, as the typed error and retry class the supervisor
sees: refused credentials and models, server closes, drops, stalls, bad and oversized frames,
refused connection attempts and goAway."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from wskit import (
    KEY,
    MODEL,
    TIMEOUT,
    Reader,
    api_key,
    assert_class,
    endpoint,
    make_setup,
    manual_turn,
    of_type,
    open_connection,
    tone,
    transcript,
)

from edgevoice.errors import (
    ConnectError,
    ErrorClass,
    RemoteProtocolError,
    SessionClosedError,
)
from edgevoice.live.events import AudioChunk, GoAway, TurnComplete
from edgevoice.sim import Fault, SimOptions
from edgevoice.sim.options import RefuseMode

SimFactory = Callable[..., Any]
DEADLINE = "Deadline expired before operation could complete."


async def test_bad_api_key_is_1007_fatal(sim_factory: SimFactory) -> None:
    async with sim_factory(SimOptions(pace=0, api_keys=frozenset({KEY}))) as sim:
        with pytest.raises(SessionClosedError) as caught:
            await open_connection(sim, api_key("AQ.some-other-key-0000"))
        closed = await sim.wait_closed(1, timeout_s=TIMEOUT)

    error = caught.value
    assert (error.code, error.reason) == (1007, "API key not valid. Please pass a valid API key.")
    assert not error.resumption_rejected
    assert_class(error, ErrorClass.FATAL)
    # The service upgrades, reads the setup, then closes (section 6.4): the setup was sent.
    assert [list(f.json) for f in sim.connections[0].received] == [["setup"]]
    assert closed.closed_by == "server"


async def test_unknown_model_is_1008_fatal(sim_factory: SimFactory) -> None:
    async with sim_factory() as sim:
        with pytest.raises(SessionClosedError) as caught:
            await open_connection(sim, session_setup=make_setup(model="gemini-0.1-nonexistent"))

    error = caught.value
    assert error.code == 1008
    assert error.reason.startswith("models/gemini-0.1-nonexistent is not found for API version")
    assert len(error.reason.encode()) <= 123
    assert not error.resumption_rejected
    assert_class(error, ErrorClass.FATAL)


@pytest.mark.parametrize(
    ("fault", "code", "reason", "error_class"),
    [
        ("close=4000:custom reason@ready", 4000, "custom reason", ErrorClass.TRANSIENT),
        ("close=1011:Internal error encountered.@frame:3", 1011, "Internal error encountered.",
         ErrorClass.TRANSIENT),
        ("close=1007:Request contains an invalid argument.@frame:2", 1007,
         "Request contains an invalid argument.", ErrorClass.FATAL),
        ("quota@turn:1", 1011,
         "You exceeded your current quota, please check your plan and billing details.",
         ErrorClass.THROTTLED),
    ],
)  # fmt: skip
async def test_server_close_mid_session(
    sim_factory: SimFactory, fault: str, code: int, reason: str, error_class: ErrorClass
) -> None:
    async with sim_factory(SimOptions(pace=0, faults=(Fault.parse(fault),))) as sim:
        conn = await open_connection(sim)
        reader = Reader(conn)
        await conn.begin_activity()  # frame 2
        await conn.send_audio(tone(0.3))  # frame 3
        await conn.end_activity()  # frame 4
        error = await reader.end(SessionClosedError)
        closed = await sim.wait_closed(1, timeout_s=TIMEOUT)

    assert (error.code, error.reason) == (code, reason)
    assert_class(error, error_class)
    assert (closed.code, closed.reason, closed.closed_by) == (code, reason, "server")
    assert conn.close_error is error  # the connection holds the same classified error
    assert conn.session.close_error is not None  # and the session knows it closed
    # A close after a turn still delivers that turn first; earlier closes cut it.
    assert bool(of_type(reader.seen, TurnComplete)) == fault.endswith("turn:1")


async def test_close_after_the_server_closed_keeps_the_servers_code(
    sim_factory: SimFactory,
) -> None:
    fault = Fault.parse("close=1011:The service is currently unavailable.@ready")
    async with sim_factory(SimOptions(pace=0, faults=(fault,))) as sim:
        conn = await open_connection(sim)
        await sim.wait_closed(1, timeout_s=TIMEOUT)
        await conn.close()  # the app shuts down without having read the close

    error = conn.close_error
    assert error is not None
    assert (error.code, error.reason) == (1011, "The service is currently unavailable.")
    assert_class(error, ErrorClass.TRANSIENT)


async def test_abort_without_close_frame_is_1006_transient(sim_factory: SimFactory) -> None:
    async with sim_factory(SimOptions(pace=0, faults=(Fault.parse("abort@turn:1"),))) as sim:
        conn = await open_connection(sim)
        reader = Reader(conn)
        await manual_turn(conn, tone(0.3))
        events = await reader.turn()
        error = await reader.end(SessionClosedError)
        closed = await sim.wait_closed(1, timeout_s=TIMEOUT)

    assert transcript(events).startswith("Parrot turn 1:")
    assert error.code == 1006
    assert_class(error, ErrorClass.TRANSIENT)
    assert closed.closed_by == "abort"


async def test_stalled_setup_times_out_as_transient_connect_error(
    sim_factory: SimFactory,
) -> None:
    async with sim_factory(SimOptions(pace=0, faults=(Fault.parse("stall@setup"),))) as sim:
        with pytest.raises(ConnectError) as caught:
            await open_connection(endpoint(sim, setup_timeout=0.3))
        closed = await sim.wait_closed(1, timeout_s=TIMEOUT)

    assert "no setupComplete within 0.3 s" in str(caught.value)
    assert_class(caught.value, ErrorClass.TRANSIENT)
    # The client gave up and closed the socket itself; the setup had reached the server.
    assert closed.closed_by == "client"
    assert sim.connections[0].setup is not None
    assert sim.connections[0].sent_messages("setupComplete") == []


async def test_malformed_frame_is_remote_protocol_error_and_client_closes(
    sim_factory: SimFactory,
) -> None:
    async with sim_factory(SimOptions(pace=0, faults=(Fault.parse("malformed@turn:1"),))) as sim:
        conn = await open_connection(sim)
        reader = Reader(conn)
        await manual_turn(conn, tone(0.3))
        await reader.turn()
        error = await reader.end(RemoteProtocolError)
        closed = await sim.wait_closed(1, timeout_s=TIMEOUT)
        # Afterwards the connection is closed for the sender too, as a close (not misuse).
        with pytest.raises(SessionClosedError) as after:
            await conn.send_audio(tone(0.02))

    assert "not JSON" in str(error)
    assert_class(error, ErrorClass.TRANSIENT)
    # 1002 "protocol error" (RFC 6455 7.4.1), started by the client.
    assert (closed.closed_by, closed.code) == ("client", 1002)
    # A sender running next to the reader (the microphone task) sees the same retry class,
    # and so does whoever reads the session's close afterwards: never a FATAL policy close.
    assert after.value.code == 1002
    assert_class(after.value, ErrorClass.TRANSIENT)
    assert conn.close_error is after.value


async def test_oversized_frame_is_1009_transient(sim_factory: SimFactory) -> None:
    async with sim_factory(SimOptions(pace=0, faults=(Fault.parse("oversized@ready"),))) as sim:
        # The SDK's 1 MiB limit; the simulator's frame is just over it.
        conn = await open_connection(endpoint(sim, max_message_size=1 << 20))
        error = await Reader(conn).end(SessionClosedError)
        closed = await sim.wait_closed(1, timeout_s=TIMEOUT)

    assert error.code == 1009
    assert_class(error, ErrorClass.TRANSIENT)
    assert (closed.code, closed.closed_by) == (1009, "client")


async def test_frame_within_max_message_size_is_accepted(sim_factory: SimFactory) -> None:
    # Control for the test above: the same frame under a larger limit is just audio.
    async with sim_factory(SimOptions(pace=0, faults=(Fault.parse("oversized@ready"),))) as sim:
        conn = await open_connection(endpoint(sim, max_message_size=4 << 20))
        chunk = await Reader(conn).next()
        await conn.close()
        await sim.wait_closed(1, timeout_s=TIMEOUT)

    assert isinstance(chunk, AudioChunk) and len(chunk.pcm) > 700_000


@pytest.mark.parametrize(
    ("mode", "error_type", "code", "error_class"),
    [
        ("http", ConnectError, None, ErrorClass.TRANSIENT),
        ("unavailable", SessionClosedError, 1011, ErrorClass.TRANSIENT),
        ("quota", SessionClosedError, 1011, ErrorClass.THROTTLED),
    ],
)
async def test_refused_attempts_then_success(
    sim_factory: SimFactory,
    mode: RefuseMode,
    error_type: type[Exception],
    code: int | None,
    error_class: ErrorClass,
) -> None:
    async with sim_factory(SimOptions(pace=0, refuse_first=2, refuse_mode=mode)) as sim:
        errors = []
        for _ in range(2):
            with pytest.raises(error_type) as caught:
                await open_connection(sim)
            errors.append(caught.value)
        conn = await open_connection(sim)
        reader = Reader(conn)
        await manual_turn(conn, tone(0.3))
        events = await reader.turn()
        await conn.close()

    for error in errors:
        assert_class(error, error_class)
        if isinstance(error, ConnectError):
            assert error.http_status == 503
        else:
            assert isinstance(error, SessionClosedError) and error.code == code
    assert transcript(events).startswith("Parrot turn 1:")
    assert [e.kind for e in sim.events if e.kind == "refused"] == ["refused", "refused"]


async def test_goaway_then_deadline_close(sim_factory: SimFactory) -> None:
    now = [1000.0]
    fault = Fault.parse("goaway=0.5@ready")
    async with sim_factory(SimOptions(pace=0, faults=(fault,))) as sim:
        conn = await open_connection(sim, clock=lambda: now[0])
        reader = Reader(conn)
        going = await reader.next()
        assert isinstance(going, GoAway) and going.time_left_seconds == 0.5
        # The deadline is dated with the injected clock at the moment the goAway arrived.
        assert conn.session.goaway_deadline == 1000.5
        now[0] = 1000.2
        assert conn.session.time_left(now[0]) == pytest.approx(0.3)
        assert conn.session.can_rotate  # no turn in progress: the supervisor may switch now
        error = await reader.end(SessionClosedError)

    assert (error.code, error.reason) == (1011, DEADLINE)
    assert_class(error, ErrorClass.TRANSIENT)
    assert sim.connections[0].setup is not None and sim.connections[0].setup["model"].endswith(
        MODEL
    )
