"""The built-in tools (edgevoice.live.tools): declarations per model family that every family
takes, answers that LiveSession accepts with the scheduling the family allows, and pure
handlers that never raise, whatever the model sends."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgevoice.live.events import FunctionCall, ToolCall
from edgevoice.live.frames import (
    ActivityDetection,
    Scheduling,
    Setup,
    encode_client_frame,
)
from edgevoice.live.models import Behavior
from edgevoice.live.session import LiveSession
from edgevoice.live.tools import (
    LOCAL_TOOLS,
    EndConversation,
    Mute,
    SetVolume,
    Timing,
    ToolContext,
    ToolOutcome,
    behavior_for,
    declarations_for,
    response_scheduling,
    run_local_tool,
    scheduling_for,
)
from edgevoice.sim.models import KNOWN_MODELS as SIM_MODELS
from edgevoice.sim.proto import ParseContext, parse_client_frame
from edgevoice.sim.rules import check_setup

M25 = "gemini-2.5-flash-native-audio-preview-12-2025"
M31 = "gemini-3.1-flash-live-preview"
M38 = "gemini-3.8-live"
M38T = "gemini-3.8-live-extended-thinking"
UNKNOWN = "gemini-9.9-live-future"
MODELS = (M25, M31, M38, M38T, UNKNOWN)
NAMES = ("get_time", "get_volume", "set_volume", "mute", "end_conversation")

CET = dt.timezone(dt.timedelta(hours=1), "CET")
NOON = ToolContext(dt.datetime(2025, 3, 4, 12, 0, tzinfo=CET), "Europe/Berlin", 40)
VALID_ARGS: dict[str, dict[str, Any]] = {"set_volume": {"percent": 60}}

B, NB = Behavior.BLOCKING, Behavior.NON_BLOCKING
# Per model: the behaviour each tool is declared with, in NAMES order (module docstring).
BEHAVIOURS = {
    M25: (B, B, B, NB, NB),
    M31: (B, B, B, B, B),  # synchronous calls only
    M38: (B, B, B, NB, NB),
    M38T: (NB, NB, NB, NB, NB),  # asynchronous calls only
    UNKNOWN: (B, B, B, NB, NB),  # the preferred behaviour, written out
}
SILENT, INTERRUPT, WHEN_IDLE = Scheduling.SILENT, Scheduling.INTERRUPT, Scheduling.WHEN_IDLE
# Per model: the scheduling of a successful answer, in NAMES order (None: the call blocks).
SCHEDULING = {
    M25: (None, None, None, SILENT, SILENT),
    M31: (None, None, None, None, None),
    M38: (None, None, None, SILENT, SILENT),
    M38T: (INTERRUPT, INTERRUPT, SILENT, SILENT, SILENT),
    UNKNOWN: (None, None, None, SILENT, SILENT),
}


def thinking(model: str) -> dict[str, Any]:
    return {"thinking_level": "low"} if model == M38T else {}


def all_tools_setup(model: str) -> Setup:
    return Setup(
        model=model,
        activity_detection=ActivityDetection(disabled=True),
        function_declarations=declarations_for(LOCAL_TOOLS, model),
        **thinking(model),
    )


# --------------------------------------------------------------------------------------------
# Declarations


def test_declarations_by_name_in_order_once() -> None:
    assert declarations_for([], M38) == ()
    once = declarations_for(["mute", "get_time", "mute"], M38)
    assert [d.name for d in once] == ["mute", "get_time"]


def test_unknown_tool_names_are_refused_with_the_allowed_list() -> None:
    with pytest.raises(ValueError, match=r"unknown tool\(s\) \['rm_rf'\]; allowed: \["):
        declarations_for(["get_time", "rm_rf"], M38)


@pytest.mark.parametrize("model", MODELS)
def test_each_family_gets_the_behaviour_decided_per_tool(model: str) -> None:
    declared = declarations_for(NAMES, model)
    assert tuple(d.behavior for d in declared) == BEHAVIOURS[model]


@pytest.mark.parametrize("model", MODELS)
def test_every_family_takes_every_built_in(model: str, oracle: Callable[[str], Any]) -> None:
    # No SetupError: 3.8 extended thinking gets non-blocking declarations, 3.1 blocking ones.
    frame = encode_client_frame(all_tools_setup(model))
    validated = oracle(frame)
    [tool] = validated.message.setup.tools
    assert [f.name for f in tool.function_declarations] == list(NAMES)
    if model == UNKNOWN:
        return
    # The simulator (proto3 parsing, the family's rules) takes it too, and runs each call with
    # the behaviour the table says: blocking or not.
    body = parse_client_frame(frame, ParseContext("v1beta")).body
    info = check_setup(body, ParseContext("v1beta"), SIM_MODELS)
    blocking = tuple(b is Behavior.BLOCKING for b in BEHAVIOURS[model])
    assert tuple(info.functions[name] for name in NAMES) == blocking


def test_set_volume_tells_the_model_its_argument() -> None:
    [declaration] = declarations_for(["set_volume"], M38)
    assert declaration.parameters == {
        "type": "OBJECT",
        "properties": {
            "percent": {
                "type": "INTEGER",
                "minimum": 0,
                "maximum": 100,
                "description": "The new volume, 0-100.",
            }
        },
        "required": ["percent"],
    }
    assert all(d.parameters is None for d in declarations_for(["get_time", "mute"], M38))


# --------------------------------------------------------------------------------------------
# Answers through the session


def call_each_tool(model: str) -> tuple[LiveSession, ToolCall]:
    session = LiveSession(all_tools_setup(model))
    session.start()
    session.receive('{"setupComplete":{}}', now=0.0)
    session.data_to_send()
    session.events()
    calls = [{"id": f"id-{n}", "name": n, "args": VALID_ARGS.get(n, {})} for n in NAMES]
    session.receive(json.dumps({"toolCall": {"functionCalls": calls}}), now=0.0)
    [event] = session.events()
    assert isinstance(event, ToolCall)
    return session, event


@pytest.mark.parametrize("model", MODELS)
def test_every_answer_carries_the_scheduling_its_family_allows(
    model: str, oracle: Callable[[str], Any]
) -> None:
    session, event = call_each_tool(model)
    schedulings = []
    for call in event.calls:
        outcome = run_local_tool(call, NOON)
        assert not outcome.failed, outcome
        scheduling = scheduling_for(session.setup, call.name, outcome)
        schedulings.append(scheduling)
        session.send_tool_response(call.id, call.name, outcome.response, scheduling)
    assert tuple(schedulings) == SCHEDULING[model]
    assert session.pending_tool_calls == {}
    sent = session.data_to_send()
    assert len(sent) == len(NAMES)
    for raw, expected in zip(sent, SCHEDULING[model], strict=True):
        [response] = oracle(raw).message.tool_response.function_responses
        assert response.scheduling == (None if expected is None else expected.value)


@pytest.mark.parametrize(
    ("model", "name", "args", "expected"),
    [
        (M38T, "set_volume", {"percent": "loud"}, WHEN_IDLE),  # a failure is never SILENT
        (M38T, "mute", {"really": True}, WHEN_IDLE),
        (M38T, "get_time", {"zone": "Asia/Tokyo"}, INTERRUPT),
        (M38, "mute", {"x": 1}, WHEN_IDLE),
        (M38, "set_volume", {}, None),  # blocking there: no scheduling at all
        (M31, "mute", {"x": 1}, None),
    ],
)
def test_a_failed_call_is_answered_so_the_person_hears_it(
    model: str, name: str, args: dict[str, Any], expected: Scheduling | None
) -> None:
    outcome = run_local_tool(FunctionCall("c", name, args), NOON)
    assert outcome.failed and outcome.action is None
    assert scheduling_for(all_tools_setup(model), name, outcome) is expected


@pytest.mark.parametrize(
    ("model", "expected"), [(M25, None), (M31, None), (M38, WHEN_IDLE), (UNKNOWN, None)]
)
def test_a_call_nobody_declared_follows_the_family_default(
    model: str, expected: Scheduling | None
) -> None:
    outcome = run_local_tool(FunctionCall("c", "open_door", {}), NOON)
    assert outcome.failed
    assert scheduling_for(all_tools_setup(model), "open_door", outcome) is expected


@pytest.mark.parametrize("model", MODELS)
def test_a_built_in_the_setup_does_not_offer_is_answered_as_the_session_allows(
    model: str,
) -> None:
    # The model calls `mute` although only get_time was offered: the session decides by the
    # family default for an undeclared name, and so must the scheduling.
    setup = Setup(
        model=model,
        activity_detection=ActivityDetection(disabled=True),
        function_declarations=declarations_for(["get_time"], model),
        **thinking(model),
    )
    session = LiveSession(setup)
    session.start()
    session.receive('{"setupComplete":{}}', now=0.0)
    call = {"id": "m1", "name": "mute", "args": {}}
    session.receive(json.dumps({"toolCall": {"functionCalls": [call]}}), now=0.0)
    outcome = run_local_tool(FunctionCall("m1", "mute", {}), NOON, enabled=["get_time"])
    assert outcome.failed and outcome.action is None
    scheduling = scheduling_for(session.setup, "mute", outcome)
    assert scheduling is (WHEN_IDLE if model in (M38, M38T) else None)
    session.send_tool_response("m1", "mute", outcome.response, scheduling)  # accepted


# --------------------------------------------------------------------------------------------
# Operator tools use the same rules


@pytest.mark.parametrize(
    ("waits", "model", "behavior", "scheduling"),
    [
        (True, M25, B, None),
        (True, M31, B, None),
        (True, M38, B, None),
        (True, M38T, NB, WHEN_IDLE),
        (True, UNKNOWN, B, None),
        (False, M25, NB, WHEN_IDLE),
        (False, M31, B, None),
        (False, M38, NB, WHEN_IDLE),
        (False, M38T, NB, WHEN_IDLE),
        (False, UNKNOWN, NB, WHEN_IDLE),
    ],
)
def test_a_timing_resolves_per_family(
    waits: bool, model: str, behavior: Behavior, scheduling: Scheduling | None
) -> None:
    timing = Timing(waits=waits, scheduling=WHEN_IDLE)
    assert behavior_for(timing, model) is behavior
    assert response_scheduling(timing, model, failed=False) is scheduling


# --------------------------------------------------------------------------------------------
# The handlers


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        (
            dt.datetime(2025, 3, 4, 14, 5, 59, tzinfo=CET),
            "Europe/Berlin",
            ("2025-03-04", "14:05", "Tuesday", "Europe/Berlin", "+01:00"),
        ),
        (
            dt.datetime(2026, 7, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2), "CEST")),
            "",
            ("2026-07-01", "00:00", "Wednesday", "CEST", "+02:00"),
        ),
        (
            dt.datetime(2024, 2, 29, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-3.5))),
            "America/St_Johns",
            ("2024-02-29", "23:59", "Thursday", "America/St_Johns", "-03:30"),
        ),
        (
            dt.datetime(2026, 11, 8, 9, 30, tzinfo=dt.UTC),
            "",
            ("2026-11-08", "09:30", "Sunday", "UTC", "+00:00"),
        ),
        (
            dt.datetime(2026, 1, 1, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=45))),
            "Asia/Kathmandu",
            ("2026-01-01", "06:00", "Thursday", "Asia/Kathmandu", "+05:45"),
        ),
    ],
)
def test_get_time_answers_with_the_time_the_caller_measured(
    now: dt.datetime, zone: str, expected: tuple[str, ...]
) -> None:
    outcome = run_local_tool(FunctionCall("t", "get_time", {}), ToolContext(now, zone))
    keys = ("date", "time", "weekday", "time_zone", "utc_offset")
    assert outcome == ToolOutcome(dict(zip(keys, expected, strict=True)))


def test_the_context_refuses_a_time_without_a_zone_and_a_volume_out_of_range() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ToolContext(dt.datetime(2025, 3, 4, 12, 0))
    for volume in (-1, 101):
        with pytest.raises(ValueError, match="volume_percent"):
            ToolContext(NOON.now, volume_percent=volume)


def test_get_volume_reads_the_context() -> None:
    assert run_local_tool(FunctionCall("v", "get_volume", {}), NOON) == ToolOutcome(
        {"volume_percent": 40}
    )
    unknown = run_local_tool(FunctionCall("v", "get_volume", {}), ToolContext(NOON.now))
    assert unknown.failed and unknown.action is None


@pytest.mark.parametrize(
    ("percent", "set_to", "noted"),
    [
        (35, 35, False),
        (35.0, 35, False),
        (0, 0, False),
        (100, 100, False),
        (33.6, 34, True),
        (150, 100, True),
        (-5, 0, True),
        (1e308, 100, True),
        (99.5, 100, True),
    ],
)
def test_set_volume_sets_what_it_can_and_says_so(percent: float, set_to: int, noted: bool) -> None:
    outcome = run_local_tool(FunctionCall("s", "set_volume", {"percent": percent}), NOON)
    assert outcome.action == SetVolume(set_to)
    assert outcome.response["volume_percent"] == set_to
    assert ("note" in outcome.response) is noted


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({}, "argument 'percent': is missing"),
        ({"percent": "50"}, "argument 'percent': must be a number, got a string"),
        ({"percent": True}, "argument 'percent': must be a number"),
        ({"percent": None}, "argument 'percent': must be a number"),
        ({"percent": 50, "fade": 2}, "argument 'fade': is not declared"),
    ],
)
def test_set_volume_refuses_what_is_not_a_volume(args: dict[str, Any], problem: str) -> None:
    outcome = run_local_tool(FunctionCall("s", "set_volume", args), NOON)
    assert outcome.failed and outcome.action is None
    assert problem in str(outcome.response["error"])


def test_mute_and_end_conversation_hand_their_action_to_the_app() -> None:
    muted = run_local_tool(FunctionCall("m", "mute", {}), NOON)
    assert muted.action == Mute() and not muted.failed
    ended = run_local_tool(FunctionCall("e", "end_conversation", {}), NOON)
    assert ended.action == EndConversation() and ended.response == {"ended": True}


def test_unknown_or_disabled_tools_answer_with_an_error_and_do_nothing() -> None:
    unknown = run_local_tool(FunctionCall("a", "format_disk", {}), NOON)
    assert unknown.failed and unknown.action is None and "format_disk" in str(unknown.response)
    disabled = run_local_tool(FunctionCall("b", "end_conversation", {}), NOON, enabled=["mute"])
    assert disabled.failed and disabled.action is None
    enabled = run_local_tool(FunctionCall("c", "mute", {}), NOON, enabled=["mute", "nonsense"])
    assert enabled.action == Mute()


def test_a_hostile_call_name_is_escaped_and_cut_in_the_answer() -> None:
    name = "x\n\x1b[31mrm -rf /\u2028" + "y" * 500
    outcome = run_local_tool(FunctionCall("h", name, {}), NOON)
    error = str(outcome.response["error"])
    assert "\n" not in error and "\x1b" not in error and "\u2028" not in error
    assert len(error) < 200


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from([*NAMES, "other"]),
    args=st.dictionaries(
        st.sampled_from(["percent", "x", "\n"]) | st.text(max_size=8), json_values, max_size=4
    ),
    model=st.sampled_from(MODELS),
)
def test_no_call_makes_a_handler_raise(name: str, args: dict[str, Any], model: str) -> None:
    outcome = run_local_tool(FunctionCall("f", name, args), NOON)
    json.dumps(outcome.response, allow_nan=False)  # the answer can always be sent
    if outcome.failed:
        assert outcome.action is None
    scheduling_for(all_tools_setup(model), name, outcome)
