"""Session resumption over real connections: a handle the simulator issued continues the
conversation; unknown handles and resuming over a still-open socket are refused."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
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

from edgevoice.adapters.ws import LiveConnection
from edgevoice.errors import ErrorClass, SessionClosedError
from edgevoice.live.events import SessionResumptionUpdate
from edgevoice.sim import Simulator

SimFactory = Callable[..., Any]


async def one_turn(conn: LiveConnection) -> str:
    """Speak one turn; return the answer's transcript once the resumable handle arrived."""
    reader = Reader(conn)
    await manual_turn(conn, tone(0.3))
    events = await reader.turn()
    await reader.until(lambda e: isinstance(e, SessionResumptionUpdate) and e.resumable)
    return transcript(events)


async def first_session(sim: Simulator, turns: int) -> LiveConnection:
    conn = await open_connection(sim)
    for number in range(1, turns + 1):
        assert (await one_turn(conn)).startswith(f"Parrot turn {number}:")
    return conn


async def test_resuming_continues_the_conversation(sim_factory: SimFactory) -> None:
    async with sim_factory() as sim:
        first = await first_session(sim, turns=2)
        handle = first.session.resumption_handle
        await first.close()
        await sim.wait_closed(1, timeout_s=TIMEOUT)

        resumed = await open_connection(sim, session_setup=first.session.setup_for_resume())
        said = await one_turn(resumed)
        await resumed.close()
        await sim.wait_closed(2, timeout_s=TIMEOUT)

    assert handle
    assert said.startswith("Parrot turn 3:")  # the turn counter went on
    record = sim.connections[1]
    assert record.resumed
    assert record.received[0].json["setup"]["sessionResumption"] == {"handle": handle}
    # The resumed connection issued its own, newer handle.
    assert resumed.session.resumption_handle not in (None, handle)


async def test_unknown_handle_is_1008_resumption_rejected_transient(
    sim_factory: SimFactory,
) -> None:
    async with sim_factory() as sim:
        with pytest.raises(SessionClosedError) as caught:
            await open_connection(
                sim, session_setup=make_setup(resumption_handle="never-issued-handle")
            )

    error = caught.value
    assert (error.code, error.reason) == (1008, "BidiGenerateContent session not found")
    assert error.resumption_rejected  # retry without the handle
    assert_class(error, ErrorClass.TRANSIENT)


async def test_resuming_while_the_old_socket_is_open_is_1011(sim_factory: SimFactory) -> None:
    async with sim_factory() as sim:
        first = await first_session(sim, turns=1)
        resume_options = first.session.setup_for_resume()
        with pytest.raises(SessionClosedError) as caught:
            await open_connection(sim, session_setup=resume_options)
        # Close the old socket first, as the protocol doc says, and the same handle works.
        await first.close()
        await sim.wait_closed(1, timeout_s=TIMEOUT)
        again = await open_connection(sim, session_setup=resume_options)
        said = await one_turn(again)
        await again.close()

    error = caught.value
    assert error.code == 1011 and not error.resumption_rejected
    assert_class(error, ErrorClass.TRANSIENT)
    assert said.startswith("Parrot turn 2:")


async def test_setup_for_resume_keeps_the_settings(sim_factory: SimFactory) -> None:
    async with sim_factory() as sim:
        first = await first_session(sim, turns=1)
        await first.close()
    resumed = first.session.setup_for_resume()
    assert resumed.resumption_handle == first.session.resumption_handle
    assert dataclasses.replace(resumed, resumption_handle=None) == make_setup()
