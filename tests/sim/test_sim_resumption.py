"""Session resumption: handles continue the conversation; bad ones close 1008; open sockets 1011."""

from __future__ import annotations

from typing import Any

from simkit import MODEL_31, Client, client, output_text, session, setup, tone

from edgevoice.sim import SimOptions


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def one_turn(c: Client) -> str:
    """Ask once; return the handle from the resumable update after the answer."""
    await c.send({"realtimeInput": {"activityStart": {}}})
    await c.send_audio(tone(0.3))
    await c.send({"realtimeInput": {"activityEnd": {}}})
    messages = await c.recv_until(
        lambda m: bool(m.get("sessionResumptionUpdate", {}).get("resumable"))
    )
    assert output_text(messages).startswith("Parrot turn")
    handle: str = messages[-1]["sessionResumptionUpdate"]["newHandle"]
    return handle


async def test_a_handle_resumes_the_conversation_and_its_turn_counter(sim_factory: Any) -> None:
    async with sim_factory() as sim:
        async with session(sim, setup(resumption={})) as c:
            await one_turn(c)
            handle = await one_turn(c)
        await sim.wait_closed(1)
        async with session(sim, setup(resumption={"handle": handle})) as c:
            await c.send({"realtimeInput": {"activityStart": {}}})
            await c.send_audio(tone(0.3))
            await c.send({"realtimeInput": {"activityEnd": {}}})
            messages = await c.turn()
    assert output_text(messages).startswith("Parrot turn 3:")
    assert [c.resumed for c in sim.connections] == [False, True]
    assert [e.detail for e in sim.events if e.kind == "setup"] == ["new", "resumed"]


async def test_an_older_handle_resumes_from_where_it_was_taken(sim_factory: Any) -> None:
    async with sim_factory() as sim:
        async with session(sim, setup(resumption={})) as c:
            first = await one_turn(c)
            await one_turn(c)
        await sim.wait_closed(1)
        async with session(sim, setup(resumption={"handle": first})) as c:
            await one_turn(c)
    turns = [e.turn for e in sim.events if e.kind == "turn"]
    assert turns == [1, 2, 2]


async def test_unknown_handle_closes_1008_session_not_found(sim_factory: Any) -> None:
    async with sim_factory() as sim, client(sim) as c:
        await c.send(setup(resumption={"handle": "never-issued"}))
        assert await c.closed() == (1008, "BidiGenerateContent session not found")


async def test_expired_handle_closes_1008(sim_factory: Any) -> None:
    clock = FakeClock()
    async with sim_factory(SimOptions(pace=0, handle_ttl_s=7200, now=clock)) as sim:
        async with session(sim, setup(resumption={})) as c:
            handle = await one_turn(c)
        await sim.wait_closed(1)
        clock.now += 7200  # exactly 2 h after the session ended: still valid
        async with session(sim, setup(resumption={"handle": handle})) as c:
            handle = await one_turn(c)
        await sim.wait_closed(2)
        clock.now += 7200.5
        async with client(sim) as c:
            await c.send(setup(resumption={"handle": handle}))
            assert await c.closed() == (1008, "BidiGenerateContent session not found")


async def test_resuming_while_the_old_socket_is_open_closes_1011(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim, setup(resumption={})) as old:
        handle = await one_turn(old)
        async with client(sim) as new:
            await new.send(setup(resumption={"handle": handle}))
            assert (await new.closed())[0] == 1011
        await one_turn(old)  # the old session is unharmed
    assert "still serves" in sim.connections[1].close_detail


async def test_resuming_with_another_model_is_refused(sim_factory: Any) -> None:
    async with sim_factory() as sim:
        async with session(sim, setup(resumption={})) as c:
            handle = await one_turn(c)
        await sim.wait_closed(1)
        async with client(sim) as c:
            await c.send(setup(MODEL_31, resumption={"handle": handle}))
            assert (await c.closed())[0] == 1007


async def test_no_resumption_updates_unless_asked(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim, setup()) as c:
        await c.send({"realtimeInput": {"activityStart": {}}})
        await c.send({"realtimeInput": {"activityEnd": {}}})
        await c.turn()
    assert sim.connections[0].sent_messages("sessionResumptionUpdate") == []
