"""The closes the real service produces in the field, end to end through LiveConnection, and
what the policy does with them (docs/live-protocol.md 6.2, 6.4; issue #8 item 3): a 1008
"The operation was aborted." is retried with the handle kept, and the resumed conversation goes
on; a 1007 on a resume attempt asks for a fresh session; an unknown model needs attention and
may fall back; a refused handle is dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rawkit import RawPeer, RawServer, close_frame, message
from wskit import (
    TIMEOUT,
    Reader,
    assert_class,
    make_setup,
    manual_turn,
    open_connection,
    tone,
    transcript,
)

from edgevoice.errors import Action, ErrorClass, SessionClosedError, disposition
from edgevoice.live.events import SessionResumptionUpdate, TurnComplete
from edgevoice.sim import Fault, SimOptions

SimFactory = Callable[..., Any]
ABORTED = "The operation was aborted."
INVALID = "Request contains an invalid argument."


async def test_aborted_1008_is_retried_with_the_handle_and_the_conversation_goes_on(
    sim_factory: SimFactory,
) -> None:
    # Section 6.2: the end of a connection's life may arrive as 1008 ABORTED; it is routine.
    fault = Fault.parse(f"close=1008:{ABORTED}@turn:2")
    async with sim_factory(SimOptions(pace=0, faults=(fault,))) as sim:
        conn = await open_connection(sim)
        reader = Reader(conn)
        await manual_turn(conn, tone(0.3))
        await reader.turn()
        await reader.until(lambda e: isinstance(e, SessionResumptionUpdate) and e.resumable)
        await manual_turn(conn, tone(0.3))
        error = await reader.end(SessionClosedError)
        handle = conn.session.resumption_handle

        result = disposition(error)
        assert result.action is Action.RETRY and result.keep_handle and result.backoff
        assert handle is not None
        again = await open_connection(sim, session_setup=conn.session.setup_for_resume())
        reader = Reader(again)
        await manual_turn(again, tone(0.3))
        events = await reader.turn()
        await again.close()

    assert (error.code, error.reason) == (1008, ABORTED)
    assert_class(error, ErrorClass.TRANSIENT)
    assert not error.resumption_rejected
    assert sim.connections[1].resumed
    assert transcript(events).startswith("Parrot turn 3:")  # the context survived


async def test_a_non_key_1007_on_a_resume_attempt_asks_for_a_fresh_session() -> None:
    # 3.8 field report: the service refused a resume with 1007; the handle was unusable, the
    # key and the settings were fine. A fresh session (no handle) then works.
    setups: list[dict[str, Any]] = []

    async def script(peer: RawPeer) -> None:
        await peer.upgrade()
        setup = (await peer.read_message())["setup"]
        setups.append(setup)
        if "handle" in setup.get("sessionResumption", {}):
            peer.send(close_frame(1007, INVALID.encode()))
            await peer.read_until_close()
            return
        peer.send(message({"setupComplete": {}}))
        await peer.read_until_close()

    async with RawServer(script) as server:
        with pytest.raises(SessionClosedError) as caught:
            await open_connection(server.url, session_setup=make_setup(resumption_handle="h-1"))
        error = caught.value
        result = disposition(error)
        assert result.action is Action.RETRY and not result.keep_handle and not result.backoff
        fresh = await open_connection(server.url, session_setup=make_setup())
        await fresh.close()

    assert (error.code, error.reason, error.resumed) == (1007, INVALID, True)
    assert error.resumption_rejected
    assert_class(error, ErrorClass.TRANSIENT)
    assert [s.get("sessionResumption") for s in setups] == [{"handle": "h-1"}, {}]


@pytest.mark.parametrize(
    ("handle", "reason", "expected"),
    [
        (None, INVALID, Action.ATTENTION),  # a fresh setup refused: a person must look
        ("h-1", "API key not valid. Please pass a valid API key.", Action.ATTENTION),
        (None, "API key not valid. Please pass a valid API key.", Action.ATTENTION),
    ],
)
async def test_1007_without_a_handle_or_about_the_key_stays_fatal(
    handle: str | None, reason: str, expected: Action
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.upgrade()
        await peer.read_message()
        peer.send(close_frame(1007, reason.encode()))
        await peer.read_until_close()

    async with RawServer(script) as server:
        with pytest.raises(SessionClosedError) as caught:
            await open_connection(server.url, session_setup=make_setup(resumption_handle=handle))
    assert_class(caught.value, ErrorClass.FATAL)
    assert not caught.value.resumption_rejected
    assert disposition(caught.value).action is expected


async def test_unknown_model_needs_attention_and_may_fall_back(sim_factory: SimFactory) -> None:
    async with sim_factory() as sim:
        with pytest.raises(SessionClosedError) as caught:
            await open_connection(sim, session_setup=make_setup(model="gemini-0.1-retired"))
    result = disposition(caught.value)
    assert result.action is Action.ATTENTION and result.retry_after is None
    assert result.try_fallback and "live.model" in result.fix


async def test_a_refused_handle_is_dropped_and_retried_at_once(sim_factory: SimFactory) -> None:
    async with sim_factory() as sim:
        with pytest.raises(SessionClosedError) as caught:
            await open_connection(sim, session_setup=make_setup(resumption_handle="gone"))
        result = disposition(caught.value)
        assert result.action is Action.RETRY and not result.keep_handle and not result.backoff
        fresh = await open_connection(sim, session_setup=make_setup())
        reader = Reader(fresh)
        await manual_turn(fresh, tone(0.3))
        events = await reader.turn()
        await fresh.close()
    assert isinstance(events[-1], TurnComplete)
    assert transcript(events).startswith("Parrot turn 1:")  # a new conversation


async def test_repeated_aborted_closes_end_in_attention_not_a_storm(
    sim_factory: SimFactory,
) -> None:
    # Every connection closed 1008 ABORTED right after setup: the supervisor's count of
    # consecutive failures reaches the bound, and the device says so instead of looping.
    fault = Fault.parse(f"close=1008:{ABORTED}@ready*0")
    actions = []
    async with sim_factory(SimOptions(pace=0, faults=(fault,))) as sim:
        for attempt in range(1, 8):
            conn = await open_connection(sim)
            error = await Reader(conn).end(SessionClosedError)
            actions.append(disposition(error, consecutive=attempt).action)
        await sim.wait_closed(7, timeout_s=TIMEOUT)
    assert actions == [Action.RETRY] * 5 + [Action.ATTENTION] * 2
