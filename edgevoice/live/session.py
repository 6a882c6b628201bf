"""`LiveSession`: one Gemini Live connection as a sans-I/O state machine.

The session never touches a socket, a task or a clock. A transport shell (the WebSocket
adapter) drives it:

```
session = LiveSession(options)
session.start()                          # queues the setup frame
for text in session.data_to_send(): ...  # send each as a WebSocket *text* frame
session.receive(frame, now)              # every server frame, text or bytes, in order
for event in session.events(): ...       # SetupComplete, AudioChunk, TurnComplete, ...
session.closed(code, reason)             # when the socket closes, for any reason
```

Calls the protocol does not allow in the current state raise `LocalProtocolError` and change
nothing: no frame is queued and no state moves. A server frame that breaks the protocol raises
`RemoteProtocolError` and also changes nothing; the shell should then close the connection.

States (`SessionState`) and what moves them (`SessionInput`) are listed in `TRANSITIONS`, the
table that both drives and documents the machine:

```
IDLE --start--> SETUP_SENT --setupComplete--> ACTIVE --goAway--> GOING_AWAY
  every state --closed()--> CLOSED
```

Sending input is allowed in ACTIVE and GOING_AWAY (finish the turn before rotating). Orthogonal
facts that are not states are kept as flags and checked as guards: whether a user activity is
open (manual turn-taking), whether a model turn is in progress, which tool calls are pending.

For the supervisor: `can_rotate` tells when a goAway'd connection may be replaced without
cutting a turn, `goaway_deadline` when the server will cut it anyway, and `options_for_resume()`
the options of the next `LiveSession` (same settings, newest resumable handle).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from edgevoice.errors import LocalProtocolError, RemoteProtocolError, SessionClosedError
from edgevoice.live.messages import (
    ActivityDetection,
    ActivityEnd,
    ActivityStart,
    AudioChunk,
    AudioInput,
    AudioStreamEnd,
    ClientContent,
    ClientFrame,
    ContentTurn,
    FunctionDeclaration,
    FunctionResponse,
    GenerationComplete,
    GoAway,
    IgnoredFields,
    InputTranscription,
    Interrupted,
    JsonValue,
    OutputTranscription,
    Sensitivity,
    ServerEvent,
    SessionResumptionUpdate,
    Setup,
    SetupComplete,
    SlidingWindowCompression,
    TextInput,
    TextPart,
    Thought,
    ToolCall,
    ToolCallCancellation,
    ToolResponse,
    TurnComplete,
    UsageMetadata,
    WaitingForInput,
    decode_server_message,
    encode_client_frame,
)

# --------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Everything the setup frame says, in the app's terms. Independent of edgevoice.config.

    - `model`: model id, with or without the "models/" prefix.
    - `voice`: prebuilt voice name ("Puck", "Kore", ...); None = server default.
    - `system_instruction`: None or "" sends none.
    - `input_transcription` / `output_transcription`: ask for transcripts of the user's speech
      and of the spoken answer.
    - `resumption`: ask for resumption handles; `resumption_handle` resumes an earlier session
      (needs `resumption=True`).
    - `compression`: sliding-window context compression (sessions are otherwise capped at about
      15 min of audio); `compression_trigger_tokens` / `compression_target_tokens` in tokens,
      0 = server default.
    - `manual_activity`: True disables server VAD; the client brackets each turn with
      `begin_activity()` / `end_activity()` (button turns). False lets the server detect speech;
      `start_sensitivity`, `end_sensitivity`, `prefix_padding_ms` and `silence_duration_ms` (ms)
      tune it and must stay None in manual mode.
    - `tools`: declarations of the enabled local tools (`edgevoice.live.tools.declarations_for`).

    The response modality is always AUDIO. Raises ValueError naming the problem when the
    options cannot make a valid setup frame.
    """

    model: str
    voice: str | None = None
    system_instruction: str | None = None
    input_transcription: bool = False
    output_transcription: bool = False
    resumption: bool = True
    resumption_handle: str | None = None
    compression: bool = False
    compression_trigger_tokens: int = 0
    compression_target_tokens: int = 0
    manual_activity: bool = True
    start_sensitivity: Sensitivity | None = None
    end_sensitivity: Sensitivity | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    tools: tuple[FunctionDeclaration, ...] = ()

    def __post_init__(self) -> None:
        if not self.compression and (
            self.compression_trigger_tokens or self.compression_target_tokens
        ):
            raise ValueError("compression token counts are set but compression is off")
        try:
            self.setup()
        except LocalProtocolError as exc:
            raise ValueError(f"invalid session options: {exc}") from None

    def setup(self) -> Setup:
        """The setup frame these options describe."""
        return Setup(
            model=self.model,
            voice=self.voice or None,
            system_instruction=self.system_instruction or None,
            input_transcription=self.input_transcription,
            output_transcription=self.output_transcription,
            session_resumption=self.resumption,
            resumption_handle=self.resumption_handle,
            compression=(
                SlidingWindowCompression(
                    self.compression_trigger_tokens, self.compression_target_tokens
                )
                if self.compression
                else None
            ),
            activity_detection=ActivityDetection(
                disabled=self.manual_activity,
                start_sensitivity=self.start_sensitivity,
                end_sensitivity=self.end_sensitivity,
                prefix_padding_ms=self.prefix_padding_ms,
                silence_duration_ms=self.silence_duration_ms,
            ),
            function_declarations=self.tools,
        )


# --------------------------------------------------------------------------------------------
# The state machine


class SessionState(enum.Enum):
    IDLE = "idle"  # created; call start()
    SETUP_SENT = "setup_sent"  # setup queued; only setupComplete may come back
    ACTIVE = "active"  # input flows both ways
    GOING_AWAY = "going_away"  # goAway received: finish the turn, then rotate
    CLOSED = "closed"  # the connection is gone; make a new LiveSession


class SessionInput(enum.Enum):
    # local: what the app asks for
    START = "start()"
    SEND_AUDIO = "send_audio()"
    SEND_TEXT = "send_text()"
    SEND_CLIENT_CONTENT = "send_client_content()"
    BEGIN_ACTIVITY = "begin_activity()"
    END_ACTIVITY = "end_activity()"
    AUDIO_STREAM_END = "audio_stream_end()"
    TOOL_RESPONSE = "send_tool_response()"
    # remote: what the server sends
    SETUP_COMPLETE = "setupComplete"
    GO_AWAY = "goAway"
    SERVER_EVENT = "a server event"  # any other event
    # either side: the connection ended
    CLOSED = "closed()"


S = SessionState
I = SessionInput  # noqa: E741 - a short name keeps the table readable

_SENDS = (
    I.SEND_AUDIO,
    I.SEND_TEXT,
    I.SEND_CLIENT_CONTENT,
    I.BEGIN_ACTIVITY,
    I.END_ACTIVITY,
    I.AUDIO_STREAM_END,
    I.TOOL_RESPONSE,
)

TRANSITIONS: Mapping[tuple[SessionState, SessionInput], SessionState] = MappingProxyType(
    {
        # Setup is the first frame and is sent once (section 2.1).
        (S.IDLE, I.START): S.SETUP_SENT,
        # Nothing but setupComplete may arrive before setupComplete; nothing may be sent.
        (S.SETUP_SENT, I.SETUP_COMPLETE): S.ACTIVE,
        # The working session: input both ways.
        **{(S.ACTIVE, send): S.ACTIVE for send in _SENDS},
        (S.ACTIVE, I.SERVER_EVENT): S.ACTIVE,
        (S.ACTIVE, I.GO_AWAY): S.GOING_AWAY,
        # After goAway the connection still works until the deadline (section 6.2): the turn
        # in progress is finished, then the supervisor rotates. A later goAway updates the time.
        **{(S.GOING_AWAY, send): S.GOING_AWAY for send in _SENDS},
        (S.GOING_AWAY, I.SERVER_EVENT): S.GOING_AWAY,
        (S.GOING_AWAY, I.GO_AWAY): S.GOING_AWAY,
        # The socket can close at any time, from either side; a second report changes nothing.
        (S.IDLE, I.CLOSED): S.CLOSED,
        (S.SETUP_SENT, I.CLOSED): S.CLOSED,
        (S.ACTIVE, I.CLOSED): S.CLOSED,
        (S.GOING_AWAY, I.CLOSED): S.CLOSED,
        (S.CLOSED, I.CLOSED): S.CLOSED,
    }
)

_REMOTE = frozenset({I.SETUP_COMPLETE, I.GO_AWAY, I.SERVER_EVENT})


def _input_of(event: ServerEvent) -> SessionInput | None:
    """The machine input an event is; None for IgnoredFields, which is not a server message."""
    match event:
        case SetupComplete():
            return I.SETUP_COMPLETE
        case GoAway():
            return I.GO_AWAY
        case IgnoredFields():
            return None
        case _:
            return I.SERVER_EVENT


@dataclass(slots=True)
class _Book:
    """Everything a frame can change, copied before a server message is applied so that a
    message that turns out to be invalid halfway leaves the session untouched."""

    state: SessionState
    resumption_handle: str | None
    in_activity: bool = False
    model_turn: bool = False
    pending: dict[str, str] = dataclasses.field(default_factory=dict)  # tool call id -> name
    goaway_deadline: float | None = None
    turns_completed: int = 0
    session_id: str | None = None

    def copy(self) -> _Book:
        return dataclasses.replace(self, pending=dict(self.pending))


class LiveSession:
    """One Live connection, from the setup frame to the close. See the module docstring.

    Not thread-safe: call it from one thread (the event loop).
    """

    def __init__(self, options: SessionOptions) -> None:
        self._options = options
        self._book = _Book(SessionState.IDLE, options.resumption_handle)
        self._outbox: list[str] = []
        self._events: list[ServerEvent] = []
        self._close_error: SessionClosedError | None = None

    # ----------------------------------------------------------------------------------------
    # What the caller can read

    @property
    def options(self) -> SessionOptions:
        return self._options

    @property
    def state(self) -> SessionState:
        return self._book.state

    @property
    def is_open(self) -> bool:
        """True in ACTIVE and GOING_AWAY: input may be sent. Check it before sending from a
        loop that may outlive the connection (sending to a closed session raises)."""
        return self._book.state in (S.ACTIVE, S.GOING_AWAY)

    @property
    def in_activity(self) -> bool:
        """A user turn opened with begin_activity() has not been ended yet."""
        return self._book.in_activity

    @property
    def model_turn_in_progress(self) -> bool:
        """The model has started answering and neither turnComplete nor interrupted came yet."""
        return self._book.model_turn

    @property
    def pending_tool_calls(self) -> Mapping[str, str]:
        """Tool calls awaiting a response or a cancellation: id -> function name (a copy)."""
        return MappingProxyType(dict(self._book.pending))

    @property
    def resumption_handle(self) -> str | None:
        """The newest handle that may be resumed (non-empty, sent with resumable=true), else
        the handle this session was started with. Persist it; resume with options_for_resume().
        """
        return self._book.resumption_handle

    @property
    def goaway_deadline(self) -> float | None:
        """When the server will end this connection (the `now` of the goAway + timeLeft)."""
        return self._book.goaway_deadline

    @property
    def turns_completed(self) -> int:
        """Model turns ended by turnComplete on this connection."""
        return self._book.turns_completed

    @property
    def session_id(self) -> str | None:
        """setupComplete.sessionId, when the server sent one."""
        return self._book.session_id

    @property
    def close_error(self) -> SessionClosedError | None:
        """Once closed(): the close as an error, classified for the retry policy."""
        return self._close_error

    @property
    def can_rotate(self) -> bool:
        """A goAway came and nothing would be cut by switching connections now: no model turn
        in progress, no pending tool call, no open user activity."""
        book = self._book
        return (
            book.state is S.GOING_AWAY
            and not book.model_turn
            and not book.pending
            and not book.in_activity
        )

    def time_left(self, now: float) -> float | None:
        """Seconds until the goAway deadline (never negative), or None without a goAway."""
        deadline = self._book.goaway_deadline
        return None if deadline is None else max(0.0, deadline - now)

    def options_for_resume(self) -> SessionOptions:
        """The options of the next connection: the same settings plus the newest resumable
        handle (unchanged options when resumption is off or no handle was ever received)."""
        if not self._options.resumption:
            return self._options
        return dataclasses.replace(self._options, resumption_handle=self._book.resumption_handle)

    # ----------------------------------------------------------------------------------------
    # Outboxes

    def data_to_send(self) -> list[str]:
        """Drain the queued client frames; send each, in order, as a WebSocket text frame."""
        frames, self._outbox = self._outbox, []
        return frames

    def events(self) -> list[ServerEvent]:
        """Drain the events decoded from received frames, in arrival order."""
        events, self._events = self._events, []
        return events

    # ----------------------------------------------------------------------------------------
    # Local inputs

    def start(self) -> None:
        """Queue the setup frame. Call once, right after the WebSocket opened."""
        new_state = self._local_transition(I.START)
        frame = self._encode(self._options.setup())
        self._book.state = new_state
        self._outbox.append(frame)

    def send_audio(self, pcm16k: bytes) -> None:
        """Queue a chunk of 16 kHz PCM16LE mono microphone audio (an even number of bytes)."""
        new_state = self._local_transition(I.SEND_AUDIO)
        frame = self._encode(AudioInput(bytes(pcm16k)))
        self._commit(new_state, frame)

    def send_text(self, text: str) -> None:
        """Queue text for the realtime stream (realtimeInput.text)."""
        new_state = self._local_transition(I.SEND_TEXT)
        self._commit(new_state, self._encode(TextInput(text)))

    def send_client_content(self, turns: Sequence[ContentTurn], turn_complete: bool = True) -> None:
        """Queue clientContent turns (history). It interrupts generation, and gemini-3.1 allows
        it only before the first turn (docs/live-protocol.md section 3.3)."""
        new_state = self._local_transition(I.SEND_CLIENT_CONTENT)
        self._commit(new_state, self._encode(ClientContent(tuple(turns), turn_complete)))

    def begin_activity(self) -> None:
        """Open a user turn (activityStart). Only with manual_activity, and not while one is open.

        Sent while the model speaks, it barges in: the server answers with interrupted.
        """
        new_state = self._local_transition(I.BEGIN_ACTIVITY)
        self._require_manual("begin_activity()")
        if self._book.in_activity:
            raise LocalProtocolError(
                "begin_activity() while a user activity is already open; call end_activity() first"
            )
        frame = self._encode(ActivityStart())
        self._commit(new_state, frame)
        self._book.in_activity = True

    def end_activity(self) -> None:
        """Close the open user turn (activityEnd); the model then answers."""
        new_state = self._local_transition(I.END_ACTIVITY)
        self._require_manual("end_activity()")
        if not self._book.in_activity:
            raise LocalProtocolError(
                "end_activity() without an open user activity; call begin_activity() first"
            )
        frame = self._encode(ActivityEnd())
        self._commit(new_state, frame)
        self._book.in_activity = False

    def audio_stream_end(self) -> None:
        """Tell the server the microphone paused for more than about a second (server VAD only;
        section 3.2). Sending audio again reopens the stream."""
        new_state = self._local_transition(I.AUDIO_STREAM_END)
        if self._options.manual_activity:
            # Section 3.2: with manual activity the client ends turns with activityEnd and must
            # not send audioStreamEnd.
            raise LocalProtocolError(
                "audio_stream_end() is for server VAD only; with manual_activity use end_activity()"
            )
        self._commit(new_state, self._encode(AudioStreamEnd()))

    def send_tool_response(
        self, call_id: str, name: str, response: Mapping[str, JsonValue]
    ) -> None:
        """Answer a pending tool call with a JSON object. The call must still be pending: not
        answered already, not cancelled by toolCallCancellation."""
        new_state = self._local_transition(I.TOOL_RESPONSE)
        expected = self._book.pending.get(call_id)
        if expected is None:
            raise LocalProtocolError(
                f"no pending tool call with id {call_id[:64]!r} (answered, cancelled or never "
                "issued); drop this response"
            )
        if expected != name:
            raise LocalProtocolError(
                f"tool call {call_id[:64]!r} is for {expected!r}, not {name[:64]!r}"
            )
        frame = self._encode(ToolResponse((FunctionResponse(call_id, name, response),)))
        self._commit(new_state, frame)
        del self._book.pending[call_id]

    def closed(self, code: int, reason: str = "") -> None:
        """The connection ended (close frame from either side, or 1006 for a dropped socket).

        Moves to CLOSED, drops frames not yet sent (they must never reach another connection),
        and sets `close_error`. Events already decoded stay in `events()`. A second call is
        ignored, so the first cause wins.
        """
        new_state = TRANSITIONS[(self._book.state, I.CLOSED)]
        if self._book.state is S.CLOSED:
            return
        self._book.state = new_state
        self._book.in_activity = False
        self._book.model_turn = False
        self._outbox.clear()
        self._close_error = SessionClosedError(code, reason)

    # ----------------------------------------------------------------------------------------
    # Remote input

    def receive(self, frame: str | bytes | bytearray | memoryview, now: float) -> None:
        """Feed one server frame (text or binary); its events go to `events()`.

        `now` is the caller's monotonic clock in seconds; it dates a goAway deadline. Raises
        RemoteProtocolError, changing nothing, when the frame is malformed or out of order;
        the caller should then close the connection.
        """
        if self._book.state is S.CLOSED:
            raise LocalProtocolError("receive() after closed(); drop frames of a closed session")
        decoded = decode_server_message(frame)
        book = self._book.copy()
        for event in decoded:
            self._apply(book, event, now)
        self._book = book
        self._events.extend(decoded)

    def _apply(self, book: _Book, event: ServerEvent, now: float) -> None:
        kind = _input_of(event)
        if kind is None:
            return
        new_state = TRANSITIONS.get((book.state, kind))
        if new_state is None:
            raise RemoteProtocolError(self._remote_refusal(book.state, event))
        match event:
            case SetupComplete(session_id=session_id):
                book.session_id = session_id
            case AudioChunk() | TextPart() | Thought() | OutputTranscription():
                book.model_turn = True
            case GenerationComplete():
                # Generation is done but the turn is not: the server waits for playback.
                book.model_turn = True
            case Interrupted():
                book.model_turn = False
            case TurnComplete():
                book.model_turn = False
                book.turns_completed += 1
            case ToolCall(calls=calls):
                for call in calls:
                    if call.id in book.pending:
                        raise RemoteProtocolError(
                            f"server message: toolCall repeats the pending call id {call.id[:64]!r}"
                        )
                    book.pending[call.id] = call.name
            case ToolCallCancellation(ids=ids):
                # Ids that are not pending are ignored, not refused: a response we already sent
                # can cross the cancellation on the wire (section 4.2, barge-in).
                for call_id in ids:
                    book.pending.pop(call_id, None)
            case SessionResumptionUpdate(new_handle=handle, resumable=resumable):
                # Section 6.3: only a non-empty handle sent with resumable=true may be reused;
                # during generation or a pending call the server sends "" / false.
                if resumable and handle:
                    book.resumption_handle = handle
            case GoAway(time_left_seconds=time_left):
                book.goaway_deadline = now + time_left
            case InputTranscription() | WaitingForInput() | UsageMetadata():
                pass
            case IgnoredFields():  # pragma: no cover - filtered out above
                pass
        book.state = new_state

    @staticmethod
    def _remote_refusal(state: SessionState, event: ServerEvent) -> str:
        name = type(event).__name__
        if state is S.IDLE:
            return f"server sent {name} before the client sent setup"
        if state is S.SETUP_SENT:
            return f"server sent {name} before setupComplete (section 2.1: setupComplete first)"
        if isinstance(event, SetupComplete):
            return "server sent a second setupComplete on one connection"
        return f"server sent {name} in state {state.value}"  # pragma: no cover - table is total

    # ----------------------------------------------------------------------------------------
    # Helpers

    def _local_transition(self, what: SessionInput) -> SessionState:
        """The state after `what`, or LocalProtocolError saying why it is not allowed now."""
        assert what not in _REMOTE
        state = self._book.state
        new_state = TRANSITIONS.get((state, what))
        if new_state is not None:
            return new_state
        if state is S.CLOSED:
            err = self._close_error
            cause = f" (code {err.code}: {err.reason or 'no reason'})" if err else ""
            raise LocalProtocolError(
                f"{what.value} on a closed session{cause}; open a new connection with a new "
                "LiveSession"
            )
        if what is I.START:
            raise LocalProtocolError("start() twice: setup is sent once per connection")
        if state is S.IDLE:
            raise LocalProtocolError(f"{what.value} before start(): setup must be the first frame")
        if state is S.SETUP_SENT:
            raise LocalProtocolError(
                f"{what.value} before setupComplete: wait for the SetupComplete event"
            )
        raise LocalProtocolError(f"{what.value} in state {state.value}")  # pragma: no cover

    def _require_manual(self, what: str) -> None:
        # Section 3.2: activityStart/activityEnd only with automaticActivityDetection.disabled.
        if not self._options.manual_activity:
            raise LocalProtocolError(
                f"{what} needs manual_activity=True (server VAD is on; it finds turns itself)"
            )

    @staticmethod
    def _encode(frame: ClientFrame) -> str:
        return encode_client_frame(frame)

    def _commit(self, new_state: SessionState, frame: str) -> None:
        self._book.state = new_state
        self._outbox.append(frame)
