"""The local tool allow-list: declarations by name, and handlers that never read the clock."""

from __future__ import annotations

import json

import pytest

from edgevoice.live.events import FunctionCall
from edgevoice.live.frames import Setup
from edgevoice.live.session import LiveSession
from edgevoice.live.tools import (
    GET_TIME,
    LOCAL_TOOLS,
    ToolContext,
    declarations_for,
    run_local_tool,
)


def test_declarations_by_name_in_order_once() -> None:
    assert declarations_for([]) == ()
    assert declarations_for(["get_time", "get_time"]) == (GET_TIME.declaration,)


def test_unknown_tool_names_are_refused_with_the_allowed_list() -> None:
    with pytest.raises(ValueError, match=r"unknown tool\(s\) \['rm_rf'\]; allowed: \['get_time'\]"):
        declarations_for(["get_time", "rm_rf"])


def test_get_time_answers_with_the_time_the_caller_measured() -> None:
    call = FunctionCall("fc-1", "get_time", {})
    for moment in ("Tuesday 2025-03-04 14:05 CET", "Sunday 1999-12-31 23:59 UTC"):
        assert run_local_tool(call, ToolContext(local_time=moment)) == {"local_time": moment}


def test_unknown_or_disabled_tools_answer_with_an_error_instead_of_raising() -> None:
    context = ToolContext(local_time="now")
    unknown = run_local_tool(FunctionCall("a", "format_disk", {}), context)
    assert set(unknown) == {"error"} and "format_disk" in str(unknown["error"])
    disabled = run_local_tool(FunctionCall("b", "get_time", {}), context, enabled=[])
    assert set(disabled) == {"error"}
    enabled = run_local_tool(FunctionCall("c", "get_time", {}), context, enabled=["get_time"])
    assert enabled == {"local_time": "now"}


def test_every_tool_answers_a_call_through_the_session() -> None:
    """A tool call from the server, answered by the registry, leaves as a valid toolResponse."""
    session = LiveSession(Setup(model="m", function_declarations=declarations_for(LOCAL_TOOLS)))
    session.start()
    setup = json.loads(session.data_to_send()[0])["setup"]
    declared = [d["name"] for d in setup["tools"][0]["functionDeclarations"]]
    assert declared == list(LOCAL_TOOLS)
    session.receive('{"setupComplete":{}}', now=0.0)
    calls = [{"id": f"id-{n}", "name": n, "args": {}} for n in LOCAL_TOOLS]
    session.receive(json.dumps({"toolCall": {"functionCalls": calls}}), now=0.0)
    [_, tool_call] = session.events()
    for call in tool_call.calls:  # type: ignore[union-attr]
        session.send_tool_response(call.id, call.name, run_local_tool(call, ToolContext("12:00")))
    assert session.pending_tool_calls == {}
    sent = [json.loads(f) for f in session.data_to_send()]
    assert [f["toolResponse"]["functionResponses"][0]["id"] for f in sent] == [
        c["id"] for c in calls
    ]
