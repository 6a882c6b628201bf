"""LiveSession: every (state, input) pair against the transition table, every refused call
(state and outboxes unchanged), and the bookkeeping the supervisor relies on."""

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
from edgevoice.live.messages import (
    AudioChunk,
    ContentTurn,
    GoAway,
    IgnoredFields,
    Interrupted,
    SessionResumptionUpdate,
    SetupComplete,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
)
from edgevoice.live.session import (
    TRANSITIONS,
    LiveSession,
    SessionInput,
    SessionOptions,
    SessionState,
)

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
# The transition table, exhaustively

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
REMOTE_INPUTS = {I.SETUP_COMPLETE, I.GO_AWAY, I.SERVER_EVENT}


def test_every_input_is_local_remote_or_closed() -> None:
    assert LOCAL_INPUTS | REMOTE_INPUTS | {I.CLOSED} == set(SessionInput)


def prepare_and_run(
    state: SessionState, what: SessionInput, session_in: Callable[..., LiveSession], opts: Any
) -> tuple[LiveSession, Callable[[], None]]:
    """A session in `state` with the guards of `what` satisfied where the state allows it, and
    the call that performs `what`."""
    manual_options, auto_options = opts
    options = auto_options() if what is I.AUDIO_STREAM_END else manual_options()
    session = session_in(state, options)
    live = state in (S.ACTIVE, S.GOING_AWAY)
    if what is I.END_ACTIVITY and live:
        session.begin_activity()
    if what is I.TOOL_RESPONSE and live:
        session.receive(tool_call("fc-1"), now=0.0)
    session.data_to_send()
    session.events()
    actions: dict[SessionInput, Callable[[], None]] = {
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
        I.CLOSED: lambda: session.closed(1000, "bye"),
    }
    return session, actions[what]


@pytest.mark.parametrize("what", list(SessionInput), ids=lambda i: i.name)
@pytest.mark.parametrize("state", list(SessionState), ids=lambda s: s.name)
def test_transition_table(
    state: SessionState,
    what: SessionInput,
    session_in: Callable[..., LiveSession],
    snapshot: Callable[[LiveSession], tuple[object, ...]],
    manual_options: Any,
    auto_options: Any,
) -> None:
    session, run = prepare_and_run(state, what, session_in, (manual_options, auto_options))
    target = TRANSITIONS.get((state, what))
    if target is not None:
        run()
        assert session.state is target
        sent = session.data_to_send()
        if what in LOCAL_INPUTS:
            assert len(sent) == 1  # exactly one frame per local input
            assert len(json.loads(sent[0])) == 1
        else:
            assert sent == []
        if what in REMOTE_INPUTS:
            assert session.events()  # the event is handed on
        return
    before = snapshot(session)
    expected: type[Exception]
    if what in LOCAL_INPUTS or state is S.CLOSED:
        expected = LocalProtocolError  # our misuse, including feeding a closed session
    else:
        expected = RemoteProtocolError
    with pytest.raises(expected):
        run()
    assert snapshot(session) == before
    assert session.data_to_send() == []
    assert session.events() == []


def test_table_shape() -> None:
    # Every state can be closed; sends are allowed exactly in ACTIVE and GOING_AWAY.
    for state in SessionState:
        assert TRANSITIONS[(state, I.CLOSED)] is S.CLOSED
    for what in LOCAL_INPUTS - {I.START}:
        allowed = {s for s in SessionState if (s, what) in TRANSITIONS}
        assert allowed == {S.ACTIVE, S.GOING_AWAY}, what
    assert {s for s in SessionState if (s, I.START) in TRANSITIONS} == {S.IDLE}


# --------------------------------------------------------------------------------------------
# Refused local calls: the reason is named, nothing changes


def assert_refused(
    session: LiveSession,
    call: Callable[[], None],
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
    session_in: Callable[..., LiveSession], snapshot: Any, auto_options: Any
) -> None:
    session = session_in(S.ACTIVE, auto_options())
    assert_refused(session, session.begin_activity, "manual_activity=True", snapshot)
    assert_refused(session, session.end_activity, "manual_activity=True", snapshot)


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
    session_in: Callable[..., LiveSession], snapshot: Any, auto_options: Any
) -> None:
    manual = session_in(S.ACTIVE)
    assert_refused(manual, manual.audio_stream_end, "server VAD only", snapshot)
    auto = session_in(S.ACTIVE, auto_options())
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
    with pytest.raises(LocalProtocolError, match="code 1011: Internal error occurred"):
        session.send_audio(b"\x00\x00")
    with pytest.raises(LocalProtocolError, match="receive\\(\\) after closed"):
        session.receive(TURN_COMPLETE, now=0.0)


# --------------------------------------------------------------------------------------------
# Server rules


def test_setup_frame_then_setup_complete(session_in: Callable[..., LiveSession]) -> None:
    session = LiveSession(SessionOptions(model="gemini-x", voice="Kore"))
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
    before = snapshot(session)
    with pytest.raises(RemoteProtocolError, match="before setupComplete"):
        session.receive(frame, now=0.0)
    assert snapshot(session) == before
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


def test_server_speaking_before_setup_is_refused(
    session_in: Callable[..., LiveSession], snapshot: Any
) -> None:
    session = session_in(S.IDLE)
    before = snapshot(session)
    with pytest.raises(RemoteProtocolError, match="before the client sent setup"):
        session.receive('{"setupComplete":{}}', now=0.0)
    assert snapshot(session) == before


def test_second_setup_complete_is_refused(
    session_in: Callable[..., LiveSession], snapshot: Any
) -> None:
    session = session_in(S.ACTIVE)
    before = snapshot(session)
    with pytest.raises(RemoteProtocolError, match="second setupComplete"):
        session.receive('{"setupComplete":{}}', now=0.0)
    assert snapshot(session) == before


def test_unknown_only_message_is_harmless_even_before_setup_complete(
    session_in: Callable[..., LiveSession],
) -> None:
    session = session_in(S.SETUP_SENT)
    session.receive('{"somethingNew":{}}', now=0.0)
    assert session.state is S.SETUP_SENT
    assert session.events() == [IgnoredFields(("somethingNew",))]


def test_a_bad_message_changes_nothing_even_halfway(
    session_in: Callable[..., LiveSession], snapshot: Any
) -> None:
    session = session_in(S.ACTIVE)
    session.receive(tool_call("dup"), now=0.0)
    session.events()
    before = snapshot(session)
    # Valid audio first (would start a model turn), then a call id that is already pending.
    bad = json.loads(AUDIO_FRAME) | json.loads(tool_call("dup"))
    with pytest.raises(RemoteProtocolError, match="repeats the pending call id"):
        session.receive(json.dumps(bad), now=0.0)
    assert snapshot(session) == before
    assert not session.model_turn_in_progress
    assert session.events() == []
    with pytest.raises(RemoteProtocolError, match="not JSON"):
        session.receive("{", now=0.0)
    assert snapshot(session) == before


# --------------------------------------------------------------------------------------------
# Bookkeeping


def test_model_turn_tracking(session_in: Callable[..., LiveSession]) -> None:
    session = session_in(S.ACTIVE)
    assert not session.model_turn_in_progress
    session.receive(AUDIO_FRAME, now=0.0)
    assert session.model_turn_in_progress
    session.receive('{"serverContent":{"generationComplete":true}}', now=0.0)
    assert session.model_turn_in_progress  # still waiting for playback to finish
    session.receive(TURN_COMPLETE, now=0.0)
    assert not session.model_turn_in_progress
    assert session.turns_completed == 1
    session.receive('{"serverContent":{"outputTranscription":{"text":"a"}}}', now=0.0)
    assert session.model_turn_in_progress
    session.receive('{"serverContent":{"interrupted":true}}', now=0.0)
    assert not session.model_turn_in_progress  # barge-in ends the turn at once
    session.receive(TURN_COMPLETE, now=0.0)
    assert session.turns_completed == 2
    assert [type(e).__name__ for e in session.events()] == [
        "AudioChunk",
        "GenerationComplete",
        "TurnComplete",
        "OutputTranscription",
        "Interrupted",
        "TurnComplete",
    ]


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
    session_in: Callable[..., LiveSession], manual_options: Any
) -> None:
    session = session_in(S.ACTIVE, manual_options(resumption_handle="old"))
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
    resumed = session.options_for_resume()
    assert resumed.resumption_handle == "h3"
    assert resumed.model == session.options.model
    next_session = LiveSession(resumed)
    next_session.start()
    setup = json.loads(next_session.data_to_send()[0])["setup"]
    assert setup["sessionResumption"] == {"handle": "h3"}


def test_resume_options_without_resumption(
    session_in: Callable[..., LiveSession], manual_options: Any
) -> None:
    options = manual_options(resumption=False)
    session = session_in(S.ACTIVE, options)
    session.receive(resumption("h1", True), now=0.0)
    assert session.options_for_resume() == options


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
    session.send_audio(b"\x00\x00")  # the connection still works until the deadline
    assert len(session.data_to_send()) == 1
    session.receive(TURN_COMPLETE, now=101.0)
    assert session.can_rotate
    session.begin_activity()
    assert not session.can_rotate  # the user is talking
    session.end_activity()
    session.receive(tool_call("t1"), now=102.0)
    assert not session.can_rotate  # a pending call would be lost
    session.send_tool_response("t1", "get_time", {"local_time": "now"})
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
    session.closed(1008, "BidiGenerateContent session not found")
    assert session.state is S.CLOSED
    assert not session.in_activity and not session.model_turn_in_progress
    assert session.data_to_send() == []  # never flush stale input into another connection
    assert session.events() == [AudioChunk(b"\x00\x00\x01\x00")]  # decoded events stay
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


# --------------------------------------------------------------------------------------------
# Options


def test_options_make_the_setup_frame(manual_options: Any, auto_options: Any) -> None:
    manual = manual_options(
        compression=True, compression_trigger_tokens=1000, system_instruction=""
    ).setup()
    assert manual.activity_detection.disabled
    assert manual.compression is not None and manual.compression.trigger_tokens == 1000
    assert manual.system_instruction is None
    assert manual.session_resumption
    auto = auto_options(silence_duration_ms=700).setup()
    assert not auto.activity_detection.disabled
    assert auto.activity_detection.silence_duration_ms == 700


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"model": ""}, "not a model id"),
        ({"model": "m", "silence_duration_ms": 500}, "disabled"),
        ({"model": "m", "resumption": False, "resumption_handle": "h"}, "session_resumption"),
        ({"model": "m", "compression_trigger_tokens": 10}, "compression is off"),
        ({"model": "m", "compression": True, "compression_target_tokens": -1}, ">= 0"),
    ],
)
def test_invalid_options(fields: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        SessionOptions(**fields)


def test_go_away_event_is_handed_on(session_in: Callable[..., LiveSession]) -> None:
    session = session_in(S.ACTIVE)
    session.receive('{"goAway":{"timeLeft":"0.000001s"}}', now=0.0)
    assert session.events() == [GoAway(0.000001)]
