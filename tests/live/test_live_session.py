"""LiveSession: every (state, input) pair against a table written out here (not read from the
code under test), every refused call (state and outboxes unchanged), the FAILED state, and the
bookkeeping the supervisor relies on."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from edgevoice.errors import (
    ErrorClass,
    LocalProtocolError,
    RemoteProtocolError,
    SessionClosedError,
)
from edgevoice.live.events import (
    AudioChunk,
    GoAway,
    IgnoredFields,
    Interrupted,
    SessionResumptionUpdate,
    SetupComplete,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
)
from edgevoice.live.frames import ContentTurn
from edgevoice.live.session import LiveSession
from edgevoice.live.states import SessionInput, SessionState

S = SessionState
I = SessionInput  # noqa: E741

AUDIO_FRAME = (
    '{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
    '{"mimeType":"audio/pcm;rate=24000","data":"AAABAA=="}}]}}}'
)
TURN_COMPLETE = '{"serverContent":{"turnComplete":true}}'


def tool_call(*ids: str, name: str = "get_time") -> str:
    calls = [{"id": i, "name": name, "args": {}} for i in ids]
    return json.dumps({"toolCall": {"functionCalls": calls}})


def resumption(handle: str, resumable: bool) -> str:
    return json.dumps({"sessionResumptionUpdate": {"newHandle": handle, "resumable": resumable}})


# --------------------------------------------------------------------------------------------
# The connection table, exhaustively, against an expectation written out by hand

LOCAL_INPUTS = {
    I.START,
    I.SEND_AUDIO,
    I.SEND_TEXT,
    I.SEND_CLIENT_CONTENT,
    I.BEGIN_ACTIVITY,
    I.END_ACTIVITY,
    I.AUDIO_STREAM_END,
    I.TOOL_RESPONSE,
}
REMOTE_INPUTS = {I.SETUP_COMPLETE, I.GO_AWAY, I.SERVER_EVENT, I.PROTOCOL_ERROR}
SENDS = LOCAL_INPUTS - {I.START}

# The protocol as docs/live-protocol.md states it (sections 2.1, 6.2), independently of
# edgevoice.live.states: setup once, first; nothing but setupComplete before setupComplete;
# input both ways once set up, also after goAway until the close; a protocol error fails any
# session that has not ended; a close ends everything, and a failed session stays failed.
EXPECTED: dict[tuple[SessionState, SessionInput], SessionState] = {
    (S.IDLE, I.START): S.SETUP_SENT,
    (S.SETUP_SENT, I.SETUP_COMPLETE): S.ACTIVE,
    (S.ACTIVE, I.SEND_AUDIO): S.ACTIVE,
    (S.ACTIVE, I.SEND_TEXT): S.ACTIVE,
    (S.ACTIVE, I.SEND_CLIENT_CONTENT): S.ACTIVE,
    (S.ACTIVE, I.BEGIN_ACTIVITY): S.ACTIVE,
    (S.ACTIVE, I.END_ACTIVITY): S.ACTIVE,
    (S.ACTIVE, I.AUDIO_STREAM_END): S.ACTIVE,
    (S.ACTIVE, I.TOOL_RESPONSE): S.ACTIVE,
    (S.ACTIVE, I.SERVER_EVENT): S.ACTIVE,
    (S.ACTIVE, I.GO_AWAY): S.GOING_AWAY,
    (S.GOING_AWAY, I.SEND_AUDIO): S.GOING_AWAY,
    (S.GOING_AWAY, I.SEND_TEXT): S.GOING_AWAY,
    (S.GOING_AWAY, I.SEND_CLIENT_CONTENT): S.GOING_AWAY,
    (S.GOING_AWAY, I.BEGIN_ACTIVITY): S.GOING_AWAY,
    (S.GOING_AWAY, I.END_ACTIVITY): S.GOING_AWAY,
    (S.GOING_AWAY, I.AUDIO_STREAM_END): S.GOING_AWAY,
    (S.GOING_AWAY, I.TOOL_RESPONSE): S.GOING_AWAY,
    (S.GOING_AWAY, I.SERVER_EVENT): S.GOING_AWAY,
    (S.GOING_AWAY, I.GO_AWAY): S.GOING_AWAY,
    (S.IDLE, I.PROTOCOL_ERROR): S.FAILED,
    (S.SETUP_SENT, I.PROTOCOL_ERROR): S.FAILED,
    (S.ACTIVE, I.PROTOCOL_ERROR): S.FAILED,
    (S.GOING_AWAY, I.PROTOCOL_ERROR): S.FAILED,
    (S.IDLE, I.CLOSED): S.CLOSED,
    (S.SETUP_SENT, I.CLOSED): S.CLOSED,
    (S.ACTIVE, I.CLOSED): S.CLOSED,
    (S.GOING_AWAY, I.CLOSED): S.CLOSED,
    (S.CLOSED, I.CLOSED): S.CLOSED,
    (S.FAILED, I.CLOSED): S.FAILED,
}
ENDED = {S.CLOSED, S.FAILED}


def test_every_input_is_local_remote_or_closed() -> None:
    assert LOCAL_INPUTS | REMOTE_INPUTS | {I.CLOSED} == set(SessionInput)


def prepare_and_run(
    state: SessionState, what: SessionInput, session_in: Callable[..., LiveSession], setups: Any
) -> tuple[LiveSession, Callable[[], object]]:
    """A session in `state` with the guards of `what` satisfied where the state allows it, and
    the call that performs `what`."""
    manual_setup, auto_setup = setups
    setup = auto_setup() if what is I.AUDIO_STREAM_END else manual_setup()
    session = session_in(state, setup)
    live = state in (S.ACTIVE, S.GOING_AWAY)
    if what is I.END_ACTIVITY and live:
        session.begin_activity()
    if what is I.TOOL_RESPONSE and live:
        session.receive(tool_call("fc-1"), now=0.0)
    session.data_to_send()
    session.events()
    actions: dict[SessionInput, Callable[[], object]] = {
        I.START: session.start,
        I.SEND_AUDIO: lambda: session.send_audio(b"\x00\x00" * 320),
        I.SEND_TEXT: lambda: session.send_text("hello"),
        I.SEND_CLIENT_CONTENT: lambda: session.send_client_content([ContentTurn("user", "hi")]),
        I.BEGIN_ACTIVITY: session.begin_activity,
        I.END_ACTIVITY: session.end_activity,
        I.AUDIO_STREAM_END: session.audio_stream_end,
        I.TOOL_RESPONSE: lambda: session.send_tool_response("fc-1", "get_time", {"t": "now"}),
        I.SETUP_COMPLETE: lambda: session.receive('{"setupComplete":{}}', now=1.0),
        I.GO_AWAY: lambda: session.receive('{"goAway":{"timeLeft":"3s"}}', now=1.0),
        I.SERVER_EVENT: lambda: session.receive(TURN_COMPLETE, now=1.0),
        I.PROTOCOL_ERROR: lambda: session.receive('{"serverContent":[]}', now=1.0),
        I.CLOSED: lambda: session.closed(1000, "bye"),
    }
    return session, actions[what]


def without_connection_facts(snap: tuple[object, ...]) -> tuple[object, ...]:
    # What a protocol error may change: the state and what follows from it alone.
    kept = (2, 3, 5, 7, 8, 9, 10, 11, 12, 13)  # see conftest.snapshot: all but the state's
    return tuple(snap[i] for i in kept)


@pytest.mark.parametrize("what", list(SessionInput), ids=lambda i: i.name)
@pytest.mark.parametrize("state", list(SessionState), ids=lambda s: s.name)
def test_transition_table(
    state: SessionState,
    what: SessionInput,
    session_in: Callable[..., LiveSession],
    snapshot: Callable[[LiveSession], tuple[object, ...]],
    manual_setup: Any,
    auto_setup: Any,
) -> None:
    session, run = prepare_and_run(state, what, session_in, (manual_setup, auto_setup))
    target = EXPECTED.get((state, what))
    before = snapshot(session)
    if target is not None and what is not I.PROTOCOL_ERROR:
        result = run()
        assert session.state is target
        sent = session.data_to_send()
        if what in LOCAL_INPUTS:
            assert len(sent) == 1  # exactly one frame per local input
            assert len(json.loads(sent[0])) == 1
            if what is I.SEND_AUDIO:
                assert result is True  # queued
        else:
            assert sent == []
        if what in REMOTE_INPUTS:
            assert session.events()  # the event is handed on
        return
    if what in LOCAL_INPUTS or state in ENDED:
        # Our misuse, including feeding a session that ended: nothing changes at all.
        with pytest.raises(LocalProtocolError):
            run()
        assert snapshot(session) == before
    else:
        # The server broke the protocol: the session fails, nothing else changes.
        with pytest.raises(RemoteProtocolError):
            run()
        assert session.state is S.FAILED
        assert not session.is_open
        assert without_connection_facts(snapshot(session)) == without_connection_facts(before)
    assert session.data_to_send() == []
    assert session.events() == []


def test_the_table_in_the_code_is_the_one_written_here() -> None:
    from edgevoice.live.states import TRANSITIONS

    assert dict(TRANSITIONS) == EXPECTED


# --------------------------------------------------------------------------------------------
# Refused local calls: the reason is named, nothing changes


def assert_refused(
    session: LiveSession,
    call: Callable[[], object],
    needle: str,
    snapshot: Callable[[LiveSession], tuple[object, ...]],
) -> None:
    before = snapshot(session)
    with pytest.raises(LocalProtocolError, match=needle):
        call()
    assert snapshot(session) == before
    assert session.data_to_send() == []


def test_nothing_but_setup_before_start_and_setup_complete(
    session_in: Callable[..., LiveSession], snapshot: Any
) -> None:
    idle = session_in(S.IDLE)
    assert_refused(idle, lambda: idle.send_audio(b"\x00\x00"), "before start", snapshot)
    waiting = session_in(S.SETUP_SENT)
    assert_refused(waiting, waiting.begin_activity, "before setupComplete", snapshot)
    assert_refused(waiting, lambda: waiting.send_text("x"), "before setupComplete", snapshot)


def test_setup_only_once(session_in: Callable[..., LiveSession], snapshot: Any) -> None:
    for state in (S.SETUP_SENT, S.ACTIVE, S.GOING_AWAY):
        session = session_in(state)
        assert_refused(session, session.start, "start\\(\\) twice", snapshot)


def test_activity_markers_need_manual_activity(
    session_in: Callable[..., LiveSession], snapshot: Any, auto_setup: Any
) -> None:
    session = session_in(S.ACTIVE, auto_setup())
    assert_refused(session, session.begin_activity, "needs manual activity", snapshot)
    assert_refused(session, session.end_activity, "needs manual activity", snapshot)


def test_activity_must_alternate(session_in: Callable[..., LiveSession], snapshot: Any) -> None:
    session = session_in(S.ACTIVE)
    assert_refused(session, session.end_activity, "without an open user activity", snapshot)
    session.begin_activity()
    assert session.in_activity
    assert session.data_to_send() == ['{"realtimeInput":{"activityStart":{}}}']
    assert_refused(session, session.begin_activity, "already open", snapshot)
    session.end_activity()
    assert not session.in_activity
    assert session.data_to_send() == ['{"realtimeInput":{"activityEnd":{}}}']


def test_audio_stream_end_needs_server_vad(
    session_in: Callable[..., LiveSession], snapshot: Any, auto_setup: Any
) -> None:
    manual = session_in(S.ACTIVE)
    assert_refused(manual, manual.audio_stream_end, "server VAD only", snapshot)
    auto = session_in(S.ACTIVE, auto_setup())
    auto.audio_stream_end()
    assert auto.data_to_send() == ['{"realtimeInput":{"audioStreamEnd":true}}']


def test_odd_audio_is_refused(session_in: Callable[..., LiveSession], snapshot: Any) -> None:
    session = session_in(S.ACTIVE)
    assert_refused(session, lambda: session.send_audio(b"\x00\x00\x00"), "even number", snapshot)


def test_tool_response_rules(session_in: Callable[..., LiveSession], snapshot: Any) -> None:
    session = session_in(S.ACTIVE)
    assert_refused(
        session, lambda: session.send_tool_response("nope", "get_time", {}), "never", snapshot
    )
    session.receive(tool_call("a", "b"), now=0.0)
    assert dict(session.pending_tool_calls) == {"a": "get_time", "b": "get_time"}
    assert_refused(
        session, lambda: session.send_tool_response("a", "other", {}), "is for 'get_time'", snapshot
    )
    assert_refused(
        session,
        lambda: session.send_tool_response("a", "get_time", {"x": object()}),  # type: ignore[dict-item]
        "not JSON-serialisable",
        snapshot,
    )
    session.send_tool_response("a", "get_time", {"local_time": "12:00"})
    assert json.loads(session.data_to_send()[0]) == {
        "toolResponse": {
            "functionResponses": [
                {"id": "a", "name": "get_time", "response": {"local_time": "12:00"}}
            ]
        }
    }
    assert dict(session.pending_tool_calls) == {"b": "get_time"}
    # answered once: a second answer is refused
    assert_refused(
        session, lambda: session.send_tool_response("a", "get_time", {}), "no pending", snapshot
    )
    # cancelled: an answer is refused
    session.receive('{"toolCallCancellation":{"ids":["b"]}}', now=0.0)
    assert session.events()[-1] == ToolCallCancellation(("b",))
    assert dict(session.pending_tool_calls) == {}
    assert_refused(
        session, lambda: session.send_tool_response("b", "get_time", {}), "cancelled", snapshot
    )


def test_sending_after_close_names_the_close(session_in: Callable[..., LiveSession]) -> None:
    session = session_in(S.ACTIVE)
    session.closed(1011, "Internal error occurred.")
    assert not session.is_open
    with pytest.raises(LocalProtocolError, match=r"code 1011: 'Internal error occurred\.'"):
        session.send_audio(b"\x00\x00")
    with pytest.raises(LocalProtocolError, match="receive\\(\\) on a closed session"):
        session.receive(TURN_COMPLETE, now=0.0)


def test_a_close_reason_is_escaped_in_the_refusal(session_in: Callable[..., LiveSession]) -> None:
    session = session_in(S.ACTIVE)
    session.closed(1011, "bad\nline\x1b[31m")
    with pytest.raises(LocalProtocolError) as info:
        session.send_text("x")
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)


# --------------------------------------------------------------------------------------------
# FAILED: the server broke the protocol


def test_a_malformed_frame_fails_the_session_and_names_the_close(
    session_in: Callable[..., LiveSession], snapshot: Any
) -> None:
    session = session_in(S.ACTIVE)
    session.begin_activity()
    session.receive(tool_call("t1"), now=0.0)
    session.receive(resumption("h1", True), now=0.0)
    session.data_to_send()
    session.events()
    before = without_connection_facts(snapshot(session))
    with pytest.raises(RemoteProtocolError, match="not JSON") as info:
        session.receive("{", now=1.0)
    assert isinstance(info.value.__cause__, json.JSONDecodeError)  # the cause is chained
    assert session.state is S.FAILED
    assert without_connection_facts(snapshot(session)) == before  # nothing else moved
    failure = session.failure
    assert failure is not None
    assert failure.error is info.value
    assert failure.close_code == 1002  # RFC 6455 protocol error; not a FATAL-looking 1007/1008
    assert failure.close_reason == "malformed server message"
    assert len(failure.close_reason.encode()) <= 123
    # Every later input is refused, naming the failure and what to do.
    for call in (
        lambda: session.send_audio(b"\x00\x00"),
        session.end_activity,
        lambda: session.send_tool_response("t1", "get_time", {}),
        session.start,
    ):
        with pytest.raises(LocalProtocolError, match=r"failed session .* close it with code 1002"):
            call()
    with pytest.raises(LocalProtocolError, match="receive\\(\\) on a failed session"):
        session.receive(TURN_COMPLETE, now=2.0)
    assert session.data_to_send() == [] and session.events() == []
    # The shell closes with the failure's code; the session stays FAILED and records it.
    session.closed(failure.close_code, failure.close_reason)
    assert session.state is S.FAILED
    assert session.close_error is not None and session.close_error.code == 1002
    assert session.close_error.error_class is ErrorClass.TRANSIENT


def test_an_out_of_order_frame_fails_the_session_with_its_own_reason(
    session_in: Callable[..., LiveSession],
) -> None:
    session = session_in(S.ACTIVE)
    with pytest.raises(RemoteProtocolError, match="second setupComplete") as info:
        session.receive('{"setupComplete":{}}', now=0.0)
    assert info.value.__cause__ is None  # nothing underneath to chain
    assert session.failure is not None
    assert session.failure.close_reason == "server message out of order"


def test_a_frame_that_fails_halfway_leaves_no_trace(
    session_in: Callable[..., LiveSession], snapshot: Any
) -> None:
    session = session_in(S.ACTIVE)
    session.receive(tool_call("dup"), now=0.0)
    session.events()
    before = without_connection_facts(snapshot(session))
    # Valid audio first (would start a model turn), then a call id that is already pending.
    bad = json.loads(AUDIO_FRAME) | json.loads(tool_call("dup"))
    with pytest.raises(RemoteProtocolError, match="repeats the pending call id"):
        session.receive(json.dumps(bad), now=0.0)
    assert without_connection_facts(snapshot(session)) == before
    assert session.events() == []


# --------------------------------------------------------------------------------------------
# Server rules


def test_setup_frame_then_setup_complete(manual_setup: Any) -> None:
    session = LiveSession(manual_setup(model="gemini-x", voice="Kore"))
    assert session.state is S.IDLE and not session.is_open
    session.start()
    [setup] = session.data_to_send()
    assert json.loads(setup)["setup"]["model"] == "models/gemini-x"
    assert session.state is S.SETUP_SENT and not session.is_open
    session.receive(b'{"setupComplete":{"sessionId":"sid-9"}}', now=0.0)
    assert session.state is S.ACTIVE and session.is_open
    assert session.session_id == "sid-9"
    assert session.events() == [SetupComplete("sid-9")]


@pytest.mark.parametrize(
    "frame",
    [
        TURN_COMPLETE,
        AUDIO_FRAME,
        tool_call("x"),
        '{"usageMetadata":{"totalTokenCount":1}}',
        resumption("h", True),
        '{"goAway":{"timeLeft":"1s"}}',
    ],
)
def test_nothing_but_setup_complete_before_setup_complete(
    frame: str, session_in: Callable[..., LiveSession], snapshot: Any
) -> None:
    session = session_in(S.SETUP_SENT)
    before = without_connection_facts(snapshot(session))
    with pytest.raises(RemoteProtocolError, match="before setupComplete"):
        session.receive(frame, now=0.0)
    assert without_connection_facts(snapshot(session)) == before
    assert session.state is S.FAILED
    assert session.events() == []


def test_setup_complete_may_share_a_message_with_what_follows(
    session_in: Callable[..., LiveSession],
) -> None:
    session = session_in(S.SETUP_SENT)
    session.receive(
        '{"setupComplete":{},"sessionResumptionUpdate":{"newHandle":"h","resumable":true}}', now=0.0
    )
    assert session.state is S.ACTIVE
    assert session.resumption_handle == "h"


def test_server_speaking_before_setup_is_refused(session_in: Callable[..., LiveSession]) -> None:
    session = session_in(S.IDLE)
    with pytest.raises(RemoteProtocolError, match="before the client sent setup"):
        session.receive('{"setupComplete":{}}', now=0.0)
    assert session.state is S.FAILED


def test_unknown_only_message_is_harmless_even_before_setup_complete(
    session_in: Callable[..., LiveSession],
) -> None:
    session = session_in(S.SETUP_SENT)
    session.receive('{"somethingNew":{}}', now=0.0)
    assert session.state is S.SETUP_SENT
    assert session.events() == [IgnoredFields(("somethingNew",))]


# --------------------------------------------------------------------------------------------
# Bookkeeping


def test_events_are_handed_on_in_order(session_in: Callable[..., LiveSession]) -> None:
    session = session_in(S.ACTIVE)
    session.receive(AUDIO_FRAME.encode(), now=0.0)
    session.receive('{"serverContent":{"interrupted":true,"turnComplete":true}}', now=0.0)
    session.receive('{"x":1}', now=0.0)
    assert session.events() == [
        AudioChunk(b"\x00\x00\x01\x00"),
        Interrupted(),
        TurnComplete(),
        IgnoredFields(("x",)),
    ]
    assert session.events() == []  # drained


def test_resumption_handle_bookkeeping(
    session_in: Callable[..., LiveSession], manual_setup: Any
) -> None:
    session = session_in(S.ACTIVE, manual_setup(resumption_handle="old", voice="Kore"))
    assert session.resumption_handle == "old"
    session.receive(resumption("h1", True), now=0.0)
    assert session.resumption_handle == "h1"
    session.receive(resumption("", False), now=0.0)  # mid-generation: keep the old one
    assert session.resumption_handle == "h1"
    session.receive(resumption("h2", False), now=0.0)
    assert session.resumption_handle == "h1"
    session.receive(resumption("", True), now=0.0)
    assert session.resumption_handle == "h1"
    session.receive(resumption("h3", True), now=0.0)
    assert session.resumption_handle == "h3"
    assert [e.new_handle for e in session.events() if isinstance(e, SessionResumptionUpdate)] == [
        "h1",
        "",
        "h2",
        "",
        "h3",
    ]
    resumed = session.setup_for_resume()
    assert resumed == manual_setup(resumption_handle="h3", voice="Kore")
    next_session = LiveSession(resumed)
    next_session.start()
    setup = json.loads(next_session.data_to_send()[0])["setup"]
    assert setup["sessionResumption"] == {"handle": "h3"}


def test_resume_setup_without_resumption(
    session_in: Callable[..., LiveSession], manual_setup: Any
) -> None:
    setup = manual_setup(session_resumption=False)
    session = session_in(S.ACTIVE, setup)
    session.receive(resumption("h1", True), now=0.0)
    assert session.setup_for_resume() == setup


def test_go_away_deadline_and_rotation(session_in: Callable[..., LiveSession]) -> None:
    session = session_in(S.ACTIVE)
    assert session.goaway_deadline is None and session.time_left(5.0) is None
    assert not session.can_rotate
    session.receive(AUDIO_FRAME, now=0.0)
    session.receive('{"goAway":{"timeLeft":"9.5s"}}', now=100.0)
    assert session.state is S.GOING_AWAY
    assert session.goaway_deadline == pytest.approx(109.5)
    assert session.time_left(104.0) == pytest.approx(5.5)
    assert session.time_left(200.0) == 0.0
    assert not session.can_rotate  # the model is still answering
    assert session.send_audio(b"\x00\x00")  # the connection still works until the deadline
    assert len(session.data_to_send()) == 1
    session.receive(TURN_COMPLETE, now=101.0)
    assert session.can_rotate
    session.begin_activity()
    assert not session.can_rotate  # the user is talking
    session.end_activity()
    assert not session.can_rotate  # the answer to that turn is expected
    session.receive(TURN_COMPLETE, now=101.5)
    assert session.can_rotate
    session.receive(tool_call("t1"), now=102.0)
    assert not session.can_rotate  # a pending call would be lost
    session.send_tool_response("t1", "get_time", {"local_time": "now"})
    assert not session.can_rotate  # the model goes on with the result
    session.receive(TURN_COMPLETE, now=102.5)
    assert session.can_rotate
    session.receive('{"goAway":{"timeLeft":"2s"}}', now=103.0)
    assert session.goaway_deadline == pytest.approx(105.0)
    assert session.state is S.GOING_AWAY


def test_tool_call_cancellation_of_unknown_ids_is_ignored(
    session_in: Callable[..., LiveSession],
) -> None:
    session = session_in(S.ACTIVE)
    session.receive(tool_call("a"), now=0.0)
    session.receive('{"toolCallCancellation":{"ids":["zzz"]}}', now=0.0)
    assert dict(session.pending_tool_calls) == {"a": "get_time"}
    events = session.events()
    assert isinstance(events[0], ToolCall)
    assert events[1] == ToolCallCancellation(("zzz",))


def test_pending_tool_calls_is_a_copy(session_in: Callable[..., LiveSession]) -> None:
    session = session_in(S.ACTIVE)
    session.receive(tool_call("a"), now=0.0)
    view = session.pending_tool_calls
    session.send_tool_response("a", "get_time", {})
    assert dict(view) == {"a": "get_time"}
    assert dict(session.pending_tool_calls) == {}


def test_closed_records_the_error_and_drops_unsent_frames(
    session_in: Callable[..., LiveSession],
) -> None:
    session = session_in(S.ACTIVE)
    session.begin_activity()
    session.send_audio(b"\x00\x00")
    session.receive(AUDIO_FRAME, now=0.0)
    session.receive(tool_call("t"), now=0.0)
    session.closed(1008, "BidiGenerateContent session not found")
    assert session.state is S.CLOSED
    assert not session.in_activity and session.interaction_idle
    assert not session.input_blocked and session.pending_tool_calls == {}
    assert session.data_to_send() == []  # never flush stale input into another connection
    assert [type(e) for e in session.events()] == [AudioChunk, ToolCall]  # decoded events stay
    err = session.close_error
    assert isinstance(err, SessionClosedError)
    assert (err.code, err.reason) == (1008, "BidiGenerateContent session not found")
    assert err.resumption_rejected and err.error_class is ErrorClass.TRANSIENT
    session.closed(1000, "later")  # ignored: the first cause wins
    assert session.close_error is err


@pytest.mark.parametrize(
    ("code", "reason", "klass"),
    [
        (1007, "API key not valid. Please pass a valid API key.", ErrorClass.FATAL),
        (1011, "You exceeded your current quota", ErrorClass.THROTTLED),
        (1006, "", ErrorClass.TRANSIENT),
    ],
)
def test_close_error_classification(
    code: int, reason: str, klass: ErrorClass, session_in: Callable[..., LiveSession]
) -> None:
    session = session_in(S.SETUP_SENT)
    session.closed(code, reason)
    assert session.close_error is not None
    assert session.close_error.error_class is klass


def test_go_away_event_is_handed_on(session_in: Callable[..., LiveSession]) -> None:
    session = session_in(S.ACTIVE)
    session.receive('{"goAway":{"timeLeft":"0.000001s"}}', now=0.0)
    assert session.events() == [GoAway(0.000001)]
