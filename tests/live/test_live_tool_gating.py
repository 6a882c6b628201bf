"""Blocking tool calls hold the microphone back (docs/live-protocol.md section 3.2; issue #8
item 2), non-blocking ones never do, and `scheduling` goes only on answers to non-blocking
calls (section 3.4)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edgevoice.errors import LocalProtocolError
from edgevoice.live.frames import ActivityDetection, FunctionDeclaration, Scheduling, Setup
from edgevoice.live.models import Behavior
from edgevoice.live.session import HeldBack, LiveSession
from edgevoice.live.states import ModelTurn, UserTurn
from edgevoice.live.tools import declarations_for
from edgevoice.ports import DeviceState

M25 = "gemini-2.5-flash-native-audio-preview-12-2025"
M31 = "gemini-3.1-flash-live-preview"
M38 = "gemini-3.8-live"
M38T = "gemini-3.8-live-extended-thinking"
UNKNOWN = "gemini-9.9-live-future"

START = '{"realtimeInput":{"activityStart":{}}}'
END = '{"realtimeInput":{"activityEnd":{}}}'
FRAME = b"\x01\x00" * 320  # 20 ms at 16 kHz


def job(behavior: Behavior | None, name: str = "job") -> FunctionDeclaration:
    return FunctionDeclaration(name, "A job.", None, behavior)


def open_session(model: str, *declarations: FunctionDeclaration, **extra: Any) -> LiveSession:
    setup = Setup(
        model=model,
        activity_detection=ActivityDetection(disabled=True),
        function_declarations=declarations,
        **extra,
    )
    session = LiveSession(setup)
    session.start()
    session.receive('{"setupComplete":{}}', now=0.0)
    session.data_to_send()
    session.events()
    return session


def call(session: LiveSession, call_id: str, name: str = "job") -> None:
    frame = {"toolCall": {"functionCalls": [{"id": call_id, "name": name, "args": {}}]}}
    session.receive(json.dumps(frame), now=0.0)
    session.events()


def kinds(frames: list[str]) -> list[str]:
    out = []
    for raw in frames:
        (key, value), *_ = json.loads(raw).items()
        out.append(key if key != "realtimeInput" else next(iter(value)))
    return out


# --------------------------------------------------------------------------------------------
# Which calls block: per family default and declaration (models.call_blocks)


@pytest.mark.parametrize(
    ("model", "behavior", "blocks"),
    [
        (M25, None, True),  # 2.5: blocking by default
        (M25, Behavior.BLOCKING, True),
        (M25, Behavior.NON_BLOCKING, False),
        (M31, None, True),  # 3.1: synchronous calls only
        (M38, None, False),  # 3.8: NON_BLOCKING by default (section 9)
        (M38, Behavior.BLOCKING, True),
        (M38T, Behavior.NON_BLOCKING, False),
        (UNKNOWN, None, True),  # unknown: treated as blocking, the safe side of section 3.2
        (UNKNOWN, Behavior.NON_BLOCKING, True),
    ],
)
def test_which_calls_block_input(model: str, behavior: Behavior | None, blocks: bool) -> None:
    extra = {"thinking_level": "low"} if model == M38T else {}
    session = open_session(model, job(behavior), **extra)
    call(session, "c1")
    assert session.input_blocked is blocks
    assert session.send_audio(FRAME) is not blocks
    assert len(session.data_to_send()) == (0 if blocks else 1)
    assert session.model_turn is (ModelTurn.TOOL_WAIT if blocks else ModelTurn.IDLE)


def test_an_undeclared_function_follows_the_family_default() -> None:
    session = open_session(M38)
    call(session, "c1", name="hallucinated")
    assert not session.input_blocked
    session = open_session(M25)
    call(session, "c1", name="hallucinated")
    assert session.input_blocked


# --------------------------------------------------------------------------------------------
# What blocking does to audio and activity markers


def test_audio_during_a_blocking_call_is_held_back_and_counted() -> None:
    session = open_session(M25, *declarations_for(["get_time"], M25))
    assert session.send_audio(FRAME) and session.audio_held_back == HeldBack(0, 0)
    session.data_to_send()
    call(session, "t1", name="get_time")
    assert session.input_blocked
    for _ in range(3):
        assert session.send_audio(FRAME) is False
    assert session.send_audio(b"") is False
    assert session.audio_held_back == HeldBack(frames=4, audio_bytes=3 * len(FRAME))
    assert session.data_to_send() == []  # never queued, so never sent later either
    with pytest.raises(LocalProtocolError, match="even number"):
        session.send_audio(b"\x00")  # a bad chunk is still our bug, blocked or not
    session.send_tool_response("t1", "get_time", {"local_time": "noon"})
    assert not session.input_blocked
    assert session.send_audio(FRAME)
    assert kinds(session.data_to_send()) == ["toolResponse", "audio"]
    assert session.audio_held_back == HeldBack(frames=4, audio_bytes=3 * len(FRAME))


def test_a_turn_begun_while_blocked_starts_right_after_the_answer() -> None:
    session = open_session(M25, *declarations_for(["get_time"], M25))
    call(session, "t1", name="get_time")
    session.begin_activity()
    assert session.user_turn is UserTurn.START_DEFERRED and session.in_activity
    assert session.device_state is DeviceState.THINKING  # nothing is being sent
    assert session.data_to_send() == []
    assert session.send_audio(FRAME) is False
    with pytest.raises(LocalProtocolError, match="already open"):
        session.begin_activity()
    session.send_tool_response("t1", "get_time", {"local_time": "noon"})
    assert session.data_to_send()[1] == START  # the toolResponse first, then the start
    assert session.user_turn is UserTurn.IN_ACTIVITY
    assert session.device_state is DeviceState.LISTENING
    assert session.send_audio(FRAME)
    session.end_activity()
    assert kinds(session.data_to_send()) == ["audio", "activityEnd"]


def test_a_turn_ended_before_the_answer_sends_nothing_at_all() -> None:
    session = open_session(M25, *declarations_for(["get_time"], M25))
    call(session, "t1", name="get_time")
    session.begin_activity()
    session.end_activity()
    assert session.user_turn is UserTurn.IDLE
    assert session.model_turn is ModelTurn.TOOL_WAIT  # no activityEnd: no answer expected
    assert session.data_to_send() == []
    session.send_tool_response("t1", "get_time", {"local_time": "noon"})
    assert kinds(session.data_to_send()) == ["toolResponse"]


def test_an_activity_end_whose_start_went_out_goes_through_while_blocked() -> None:
    session = open_session(M25, *declarations_for(["get_time"], M25))
    session.begin_activity()
    assert session.data_to_send() == [START]
    call(session, "t1", name="get_time")  # a call arrives while the user is talking
    assert session.send_audio(FRAME) is False
    session.end_activity()
    assert session.data_to_send() == [END]


def test_all_blocking_calls_must_be_answered_before_input_flows() -> None:
    session = open_session(M25, job(None, "a"), job(Behavior.NON_BLOCKING, "n"))
    session.receive(
        json.dumps(
            {
                "toolCall": {
                    "functionCalls": [
                        {"id": "1", "name": "a"},
                        {"id": "2", "name": "a"},
                        {"id": "3", "name": "n"},
                    ]
                }
            }
        ),
        now=0.0,
    )
    session.begin_activity()
    session.send_tool_response("1", "a", {})
    assert session.input_blocked and session.user_turn is UserTurn.START_DEFERRED
    session.send_tool_response("2", "a", {})
    assert not session.input_blocked
    assert kinds(session.data_to_send()) == ["toolResponse", "toolResponse", "activityStart"]
    assert dict(session.pending_tool_calls) == {"3": "n"}  # non-blocking: still pending
    assert not session.can_rotate


def test_a_cancellation_unblocks_and_releases_a_deferred_start() -> None:
    session = open_session(M25, *declarations_for(["get_time"], M25))
    call(session, "t1", name="get_time")
    session.begin_activity()
    # Barge-in order (section 4.2): interrupted, turnComplete, then the cancellation.
    session.receive('{"serverContent":{"interrupted":true,"turnComplete":true}}', now=0.0)
    assert session.input_blocked and session.model_turn is ModelTurn.TOOL_WAIT
    session.receive('{"toolCallCancellation":{"ids":["t1"]}}', now=0.0)
    assert not session.input_blocked
    assert session.model_turn is ModelTurn.IDLE
    assert session.data_to_send() == [START]  # drain after receive() too
    assert session.user_turn is UserTurn.IN_ACTIVITY


def test_the_close_unblocks() -> None:
    session = open_session(M25, *declarations_for(["get_time"], M25))
    call(session, "t1", name="get_time")
    session.begin_activity()
    session.closed(1006, "dropped")
    assert not session.input_blocked
    assert session.user_turn is UserTurn.IDLE
    assert session.data_to_send() == []


def test_a_failed_frame_does_not_unblock() -> None:
    session = open_session(M25, *declarations_for(["get_time"], M25))
    call(session, "t1", name="get_time")
    with pytest.raises(ValueError):
        session.receive('{"toolCallCancellation":{"ids":["t1"]},"goAway":{"timeLeft":"x"}}', 0.0)
    assert dict(session.pending_tool_calls) == {"t1": "get_time"}
    assert session.data_to_send() == []


# --------------------------------------------------------------------------------------------
# scheduling: responses to non-blocking calls only


def test_scheduling_on_a_non_blocking_call() -> None:
    session = open_session(M38, job(None))
    call(session, "c1")
    session.send_tool_response("c1", "job", {"ok": True}, Scheduling.WHEN_IDLE)
    [raw] = session.data_to_send()
    [response] = json.loads(raw)["toolResponse"]["functionResponses"]
    assert response == {
        "id": "c1",
        "name": "job",
        "response": {"ok": True},
        "scheduling": "WHEN_IDLE",
    }


@pytest.mark.parametrize(
    ("model", "behavior"),
    [(M25, None), (M31, None), (M38, Behavior.BLOCKING), (UNKNOWN, None)],
)
def test_scheduling_on_a_blocking_call_is_refused(model: str, behavior: Behavior | None) -> None:
    session = open_session(model, job(behavior))
    call(session, "c1")
    with pytest.raises(LocalProtocolError, match="scheduling is for non-blocking calls only"):
        session.send_tool_response("c1", "job", {}, Scheduling.SILENT)
    assert dict(session.pending_tool_calls) == {"c1": "job"}  # nothing changed
    assert session.data_to_send() == []
    session.send_tool_response("c1", "job", {})  # without it, the answer goes out


def test_an_unknown_model_sends_what_was_configured() -> None:
    # Declared NON_BLOCKING: scheduling is allowed, yet the microphone is held back, since
    # nothing is known about how this model treats input during a call.
    session = open_session(UNKNOWN, job(Behavior.NON_BLOCKING))
    call(session, "c1")
    assert session.input_blocked
    session.send_tool_response("c1", "job", {}, Scheduling.INTERRUPT)
    assert (
        json.loads(session.data_to_send()[0])["toolResponse"]["functionResponses"][0]["scheduling"]
        == "INTERRUPT"
    )
