"""Tool calls: the blocking call and its response, cancellation on barge-in, bad responses."""

from __future__ import annotations

from typing import Any

from simkit import GET_TIME_TOOL, Client, kinds, output_text, session, setup, tone

from edgevoice.sim import SimOptions

START = {"realtimeInput": {"activityStart": {}}}
END = {"realtimeInput": {"activityEnd": {}}}


async def ask(c: Client) -> None:
    await c.send(START)
    await c.send_audio(tone(0.3))
    await c.send(END)


def response(call_id: str, **result: Any) -> dict[str, Any]:
    return {
        "toolResponse": {
            "functionResponses": [{"id": call_id, "name": "get_time", "response": result}]
        }
    }


async def tool_call(c: Client) -> dict[str, Any]:
    messages = await c.recv_until(lambda m: "toolCall" in m)
    assert "audio" not in kinds(messages)  # the call comes before any audio
    calls: list[dict[str, Any]] = messages[-1]["toolCall"]["functionCalls"]
    assert len(calls) == 1
    return calls[0]


async def test_tool_call_waits_for_the_response_then_answers(sim_factory: Any) -> None:
    options = SimOptions(pace=0, tool_call_every=2)
    frame = setup(tools=GET_TIME_TOOL, resumption={})
    async with sim_factory(options) as sim, session(sim, frame) as c:
        await ask(c)
        first = await c.turn()
        assert "toolCall" not in kinds(first)  # every 2nd turn only
        await ask(c)
        call = await tool_call(c)
        assert call["name"] == "get_time" and call["args"] == {} and call["id"]
        updates = [m for m in c.received if m.get("sessionResumptionUpdate") == {}]
        assert len(updates) == 2  # not resumable while the call is pending
        await c.send(response(call["id"], time="12:00"))
        answer = await c.turn()
    assert output_text(answer) == (
        'Parrot turn 2: I heard 0.3 s of audio. get_time returned {"time": "12:00"}.'
    )
    received = sim.connections[0].frames("toolResponse")
    assert received[0].body == {
        "functionResponses": [{"id": call["id"], "name": "get_time", "response": {"time": "12:00"}}]
    }


async def test_no_tool_call_unless_the_client_declared_the_function(sim_factory: Any) -> None:
    other = [{"functionDeclarations": [{"name": "turn_on_lights"}]}]
    async with (
        sim_factory(SimOptions(pace=0, tool_call_every=1)) as sim,
        session(sim, setup(tools=other)) as c,
    ):
        await ask(c)
        assert "toolCall" not in kinds(await c.turn())


async def test_barge_in_cancels_the_pending_call_and_a_late_answer_is_ignored(
    sim_factory: Any,
) -> None:
    options = SimOptions(pace=0, tool_call_every=1)
    async with sim_factory(options) as sim, session(sim, setup(tools=GET_TIME_TOOL)) as c:
        await ask(c)
        call = await tool_call(c)
        await c.send(START)  # the user speaks before answering the call
        rest = await c.recv_until(lambda m: "toolCallCancellation" in m)
        assert rest == [
            {"serverContent": {"interrupted": True}},
            {"serverContent": {"turnComplete": True}},
            {"toolCallCancellation": {"ids": [call["id"]]}},
        ]
        await c.send(response(call["id"], time="late"))  # raced the cancellation: ignored
        await c.send_audio(tone(0.3))
        await c.send(END)
        second = await tool_call(c)
        await c.send(response(second["id"], time="13:00"))
        answer = await c.turn()
    assert "Parrot turn 2" in output_text(answer) and "13:00" in output_text(answer)


async def test_response_with_an_unknown_id_closes_1008(sim_factory: Any) -> None:
    options = SimOptions(pace=0, tool_call_every=1)
    async with sim_factory(options) as sim, session(sim, setup(tools=GET_TIME_TOOL)) as c:
        await ask(c)
        await tool_call(c)
        await c.send(response("not-a-call-id", time="x"))
        assert await c.closed() == (1008, "Requested entity was not found.")


async def test_response_without_id_closes_1007(sim_factory: Any) -> None:
    options = SimOptions(pace=0, tool_call_every=1)
    async with sim_factory(options) as sim, session(sim, setup(tools=GET_TIME_TOOL)) as c:
        await ask(c)
        await tool_call(c)
        await c.send(
            {"toolResponse": {"functionResponses": [{"name": "get_time", "response": {}}]}}
        )
        assert await c.closed() == (1007, "Request contains an invalid argument.")
