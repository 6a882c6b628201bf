"""Tool calls as the service runs them, per model family (protocol doc sections 3.2, 3.4, 9).

Blocking calls: the answer waits for the toolResponse; realtime input meanwhile closes 1008 "The
operation was aborted." on 2.5 and 3.1 and cancels the call on 3.8. Non-blocking calls (3.8's
default, 2.5 when declared): the answer goes on, and the response's scheduling decides what the
model does with the result; 3.8 reports interactionStatus IN_PROGRESS until it is IDLE.
"""

from __future__ import annotations

from typing import Any

import pytest
from simkit import (
    GET_TIME_TOOL,
    MODEL_25,
    MODEL_31,
    MODEL_38,
    MODEL_38T,
    Client,
    ask,
    audio_frame,
    client,
    get_time_tool,
    interaction_status,
    is_resumable_update,
    kinds,
    output_text,
    session,
    setup,
    silence,
    tone,
    until,
)

from edgevoice.sim import SimOptions, VirtualClock

START = {"realtimeInput": {"activityStart": {}}}
END = {"realtimeInput": {"activityEnd": {}}}
ABORTED = (1008, "The operation was aborted.")


def response(call_id: str, scheduling: str | None = None, **result: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": call_id, "name": "get_time", "response": result}
    if scheduling is not None:
        item["scheduling"] = scheduling
    return {"toolResponse": {"functionResponses": [item]}}


async def tool_call(c: Client) -> dict[str, Any]:
    messages = await c.recv_until(lambda m: "toolCall" in m)
    assert "audio" not in kinds(messages)  # the call comes before any audio
    calls: list[dict[str, Any]] = messages[-1]["toolCall"]["functionCalls"]
    assert len(calls) == 1
    return calls[0]


def is_idle(message: dict[str, Any]) -> bool:
    return interaction_status(message) == "IDLE"


# --- blocking calls --------------------------------------------------------------------------


async def test_blocking_call_waits_for_the_response_then_answers(sim_factory: Any) -> None:
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


@pytest.mark.parametrize("model", [MODEL_25, MODEL_31])
@pytest.mark.parametrize(
    "frame",
    [audio_frame(silence(0.02)), START, {"realtimeInput": {"text": "hello?"}}],
    ids=["audio", "activityStart", "text"],
)
async def test_input_while_a_blocking_call_is_pending_closes_1008_on_25_and_31(
    sim_factory: Any, model: str, frame: dict[str, Any]
) -> None:
    # Section 3.2 (field: livekit/agents-js PR #1130, autonomous-ai/autonomous-os #231).
    options = SimOptions(pace=0, tool_call_every=1)
    async with sim_factory(options) as sim, session(sim, setup(model, tools=GET_TIME_TOOL)) as c:
        await ask(c)
        await tool_call(c)
        await c.send(frame)
        assert await c.closed() == ABORTED
    assert "blocking function call is pending" in sim.connections[0].close_detail


async def test_activity_end_whose_start_came_before_the_call_is_fine(sim_factory: Any) -> None:
    # Section 3.2: clients gate audio and activityStart, but let a closing activityEnd through.
    # A virtual clock holds answer 1 mid-stream while turn 3's activity opens, so the call on
    # turn 2 is certainly issued after that activityStart.
    clock = VirtualClock()
    options = SimOptions(pace=1, tool_call_every=2, now=clock.now, sleep=clock.sleep)
    frame = setup(
        tools=GET_TIME_TOOL,
        realtimeInputConfig={
            "automaticActivityDetection": {"disabled": True},
            "activityHandling": "NO_INTERRUPTION",
        },
    )
    async with sim_factory(options) as sim, session(sim, frame) as c:
        await ask(c, tone(0.5))
        await c.recv_until(lambda m: "modelTurn" in m.get("serverContent", {}))
        await ask(c, tone(0.2))  # turn 2, queued behind answer 1
        await c.send(START)  # turn 3 opens before turn 2's call
        record = sim.connections[0]
        await until(lambda: record.received.total == 1 + 27 + 12 + 1)  # setup, 2 turns, start
        clock.autojump = True  # from here on, time runs as fast as the simulator can go
        await clock.advance(60)  # answer 1 ends; answer 2 calls get_time
        messages = await c.recv_until(lambda m: "toolCall" in m)
        call = messages[-1]["toolCall"]["functionCalls"][0]
        await c.send(END)  # its activityStart went out before the call: fine
        await c.send(response(call["id"], time="now"))
        answer2 = await c.turn()
        assert output_text(answer2).startswith("Parrot turn 2: I heard 0.2 s")
        answer3 = await c.turn()
    assert output_text(answer3).startswith("Parrot turn 3: I heard 0.0 s")


async def test_on_38_new_input_cancels_a_blocking_call(sim_factory: Any) -> None:
    # Section 3.2 / 9 (Vertex 3.8 migration guide): BLOCKING declared; new input cancels.
    options = SimOptions(pace=0, tool_call_every=1)
    frame = setup(MODEL_38, tools=get_time_tool("BLOCKING"), resumption={})
    async with sim_factory(options) as sim, session(sim, frame) as c:
        await ask(c)
        call = await tool_call(c)
        await c.send_audio(silence(0.1))  # audio alone is not yet input that cancels
        await c.send(START)  # the user speaks before answering the call
        rest = await c.recv_until(lambda m: "toolCallCancellation" in m)
        assert rest[-3:] == [
            {"serverContent": {"interrupted": True}},
            {"serverContent": {"turnComplete": True, "interactionStatus": "IDLE"}},
            {"toolCallCancellation": {"ids": [call["id"]]}},
        ]
        assert is_resumable_update(await c.recv())  # nothing pending any more
        await c.send(response(call["id"], time="late"))  # raced the cancellation: ignored
        await c.send_audio(tone(0.3))
        await c.send(END)
        second = await tool_call(c)
        await c.send(response(second["id"], time="13:00"))
        answer = await c.turn()
    assert "Parrot turn 2" in output_text(answer) and "13:00" in output_text(answer)
    assert sim.connections[0].closed_by == "client"


async def test_on_38_speech_found_by_the_vad_cancels_a_blocking_call(sim_factory: Any) -> None:
    options = SimOptions(pace=0, tool_call_every=1)
    frame = setup(MODEL_38, manual=False, tools=get_time_tool("BLOCKING"))
    async with sim_factory(options) as sim, session(sim, frame) as c:
        await c.send_audio(tone(0.3) + silence(1.0))
        call = await tool_call(c)
        await c.send_audio(silence(0.3))  # the microphone keeps streaming: fine
        await c.send_audio(tone(0.3))  # speech onset: new input
        rest = await c.recv_until(lambda m: "toolCallCancellation" in m)
    assert rest[-1] == {"toolCallCancellation": {"ids": [call["id"]]}}


async def test_barge_in_on_25_during_the_answer_after_a_call(sim_factory: Any) -> None:
    # Answered call, then barge-in while the answer plays: no cancellation to send.
    options = SimOptions(pace=20, tool_call_every=1)
    async with sim_factory(options) as sim, session(sim, setup(tools=GET_TIME_TOOL)) as c:
        await ask(c)
        call = await tool_call(c)
        await c.send(response(call["id"], time="x"))
        await c.recv_until(lambda m: "modelTurn" in m.get("serverContent", {}))
        await c.send(START)
        rest = await c.turn()
    assert rest[-2:] == [
        {"serverContent": {"interrupted": True}},
        {"serverContent": {"turnComplete": True}},
    ]


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


# --- non-blocking calls ----------------------------------------------------------------------


async def non_blocking_turn(c: Client) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ask; the call and everything up to the answer's turnComplete (the answer did not wait)."""
    await ask(c)
    call = await tool_call(c)
    answer = await c.turn()
    return call, answer


@pytest.mark.parametrize(
    ("model", "tools"),
    [(MODEL_38, GET_TIME_TOOL), (MODEL_38T, GET_TIME_TOOL)],
    ids=["3.8 default", "3.8 extended thinking"],
)
async def test_38_calls_are_non_blocking_by_default_and_in_progress_until_idle(
    sim_factory: Any, model: str, tools: list[dict[str, Any]]
) -> None:
    # Section 9: NON_BLOCKING is 3.8's default; interactionStatus rides on every turnComplete.
    options = SimOptions(pace=0, tool_call_every=1)
    async with sim_factory(options) as sim, session(sim, setup(model, tools=tools)) as c:
        call, answer = await non_blocking_turn(c)
        assert "audio" in kinds(answer) and "generationComplete" in kinds(answer)
        assert interaction_status(answer[-1]) == "IN_PROGRESS"
        assert output_text(answer) == "Parrot turn 1: I heard 0.3 s of audio."
        await c.send(response(call["id"], "WHEN_IDLE", time="12:00"))
        result = await c.turn()
    assert output_text(result) == 'Parrot: get_time returned {"time": "12:00"}.'
    assert "audio" in kinds(result) and is_idle(result[-1])
    assert [e.kind for e in sim.events if e.kind in ("turn", "result")] == ["turn", "result"]


async def test_non_blocking_answer_is_not_resumable_until_the_call_is_done(
    sim_factory: Any,
) -> None:
    options = SimOptions(pace=0, tool_call_every=1)
    frame = setup(MODEL_38, tools=GET_TIME_TOOL, resumption={})
    async with sim_factory(options) as sim, session(sim, frame) as c:
        call, _ = await non_blocking_turn(c)
        assert await c.recv() == {"sessionResumptionUpdate": {}}  # a call is outstanding
        await c.send(response(call["id"], "SILENT", time="x"))
        tail = await c.recv_until(is_resumable_update)
    assert tail[0] == {"serverContent": {"turnComplete": True, "interactionStatus": "IDLE"}}


async def test_silent_scheduling_only_ends_the_interaction(sim_factory: Any) -> None:
    options = SimOptions(pace=0, tool_call_every=1)
    async with sim_factory(options) as sim, session(sim, setup(MODEL_38, tools=GET_TIME_TOOL)) as c:
        call, _ = await non_blocking_turn(c)
        await c.send(response(call["id"], "SILENT", time="x"))
        assert await c.recv() == {
            "serverContent": {"turnComplete": True, "interactionStatus": "IDLE"}
        }


async def test_scheduling_inside_the_response_is_read_too(sim_factory: Any) -> None:
    # Section 3.4: the tools guide puts scheduling inside `response`; the SDK type at the top.
    options = SimOptions(pace=0, tool_call_every=1)
    async with sim_factory(options) as sim, session(sim, setup(MODEL_38, tools=GET_TIME_TOOL)) as c:
        call, _ = await non_blocking_turn(c)
        await c.send(response(call["id"], scheduling="SILENT"))
        assert is_idle(await c.recv())
        await ask(c)
        second = await tool_call(c)
        await c.turn()
        inner = {"id": second["id"], "name": "get_time", "response": {"scheduling": "SILENT"}}
        await c.send({"toolResponse": {"functionResponses": [inner]}})
        assert await c.recv() == {
            "serverContent": {"turnComplete": True, "interactionStatus": "IDLE"}
        }


async def test_interrupt_scheduling_cuts_the_answer_and_speaks_the_result(
    sim_factory: Any,
) -> None:
    options = SimOptions(pace=20, tool_call_every=1)
    async with sim_factory(options) as sim, session(sim, setup(MODEL_38, tools=GET_TIME_TOOL)) as c:
        await ask(c)
        call = await tool_call(c)
        await c.recv_until(lambda m: "modelTurn" in m.get("serverContent", {}))
        await c.send(response(call["id"], "INTERRUPT", time="now"))
        cut = await c.turn()
        assert cut[-2:] == [
            {"serverContent": {"interrupted": True}},
            {"serverContent": {"turnComplete": True, "interactionStatus": "IN_PROGRESS"}},
        ]
        first_chunk = await c.recv_until(lambda m: "modelTurn" in m.get("serverContent", {}))
    assert "toolCallCancellation" not in kinds(cut)
    assert first_chunk  # the result is being spoken at once
    assert [(e.kind, e.interrupted) for e in sim.events if e.kind == "turn"] == [("turn", True)]


async def test_when_idle_result_waits_for_the_current_answer(sim_factory: Any) -> None:
    clock = VirtualClock()
    options = SimOptions(pace=1, tool_call_every=1, now=clock.now, sleep=clock.sleep)
    async with sim_factory(options) as sim, session(sim, setup(MODEL_38, tools=GET_TIME_TOOL)) as c:
        await ask(c)
        call = await tool_call(c)
        await c.recv_until(lambda m: "modelTurn" in m.get("serverContent", {}))
        await c.send(response(call["id"], "WHEN_IDLE", time="soon"))
        record = sim.connections[0]
        await until(lambda: bool(record.frames("toolResponse")))
        clock.autojump = True
        await clock.advance(60)
        answer = await c.turn()
        result = await c.turn()
    assert "interrupted" not in kinds(answer) and "generationComplete" in kinds(answer)
    assert interaction_status(answer[-1]) == "IN_PROGRESS"  # the result is still to come
    assert output_text(result) == 'Parrot: get_time returned {"time": "soon"}.'
    assert is_idle(result[-1])


async def test_will_continue_keeps_the_call_outstanding(sim_factory: Any) -> None:
    options = SimOptions(pace=0, tool_call_every=1)
    async with sim_factory(options) as sim, session(sim, setup(MODEL_38, tools=GET_TIME_TOOL)) as c:
        call, _ = await non_blocking_turn(c)
        partial = response(call["id"], "WHEN_IDLE", step=1)
        partial["toolResponse"]["functionResponses"][0]["willContinue"] = True
        await c.send(partial)
        first = await c.turn()
        assert interaction_status(first[-1]) == "IN_PROGRESS"
        await c.send(response(call["id"], "WHEN_IDLE", step=2))
        second = await c.turn()
    assert is_idle(second[-1]) and "step" in output_text(second)


async def test_25_non_blocking_when_declared_without_interaction_status(
    sim_factory: Any,
) -> None:
    options = SimOptions(pace=0, tool_call_every=1)
    frame = setup(MODEL_25, tools=get_time_tool("NON_BLOCKING"))
    async with sim_factory(options) as sim, session(sim, frame) as c:
        call, answer = await non_blocking_turn(c)
        assert answer[-1] == {"serverContent": {"turnComplete": True}} or (
            "interactionStatus" not in answer[-1]["serverContent"]
        )
        await c.send_audio(silence(0.1))  # nothing blocks: input is fine
        await c.send(response(call["id"], time="later"))
        result = await c.turn()
    assert output_text(result) == 'Parrot: get_time returned {"time": "later"}.'
    assert all("interactionStatus" not in m.get("serverContent", {}) for m in c.received)


@pytest.mark.parametrize(
    ("model", "behavior"),
    [(MODEL_31, "NON_BLOCKING"), (MODEL_38T, "BLOCKING")],
    ids=["3.1 is synchronous only", "3.8 extended thinking is async only"],
)
async def test_a_behavior_the_family_cannot_run_is_refused_at_setup(
    sim_factory: Any, model: str, behavior: str
) -> None:
    async with sim_factory() as sim, client(sim) as c:
        await c.send(setup(model, tools=get_time_tool(behavior)))
        assert await c.closed() == (1007, "Request contains an invalid argument.")
    assert behavior in sim.connections[0].close_detail
