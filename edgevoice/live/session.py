"""`LiveSession`: one Gemini Live connection as a sans-I/O state machine.

The session never touches a socket, a task or a clock. A transport shell (the WebSocket
adapter) drives it:

```
session = LiveSession(setup)             # a validated Setup frame (edgevoice.live.frames)
session.start()                          # queues the setup frame
for text in session.data_to_send(): ...  # send each as a WebSocket *text* frame
session.receive(frame, now)              # every server frame, text or bytes, in order
for event in session.events(): ...       # SetupComplete, AudioChunk, TurnComplete, ...
session.closed(code, reason)             # when the socket closes, for any reason
```

Three small machines make up the session, each with its own table in `edgevoice.live.states`:
the connection (`state`), the user turn (`user_turn`) and the model turn (`model_turn`);
`device_state` derives the LED from them.

Errors, and what the caller does next:

- A call the protocol does not allow now raises `LocalProtocolError` and changes nothing: no
  frame is queued, no state moves. It is a bug in the caller.
- A server frame that breaks the protocol raises `RemoteProtocolError` (its cause chained) and
  moves the session to FAILED; the frame itself changes nothing else. `failure` then holds the
  close code and reason the shell must send; every later input is refused.

Blocking tool calls (protocol doc section 3.2): while a call that blocks (per the model family
and the declaration's behaviour, `edgevoice.live.models.call_blocks`) is pending, no realtime
audio and no activityStart go out, or the service closes the connection with 1008 "The
operation was aborted.". `send_audio()` then returns False and counts the frame in
`audio_held_back` instead of queueing it; `begin_activity()` is deferred until the last
blocking call is answered (the toolResponse first, then the activityStart), and an
`end_activity()` before that cancels the turn. An activityEnd whose activityStart went out
always goes through. `input_blocked` tells the app to drop microphone audio meanwhile.

For the supervisor: `can_rotate` tells when a goAway'd connection may be replaced without
cutting a turn, `goaway_deadline` when the server will cut it anyway, and `setup_for_resume()`
the setup of the next connection (same settings, newest resumable handle).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from edgevoice.errors import LocalProtocolError, RemoteProtocolError, SessionClosedError
from edgevoice.live.decode import decode_server_message
from edgevoice.live.events import (
    AudioChunk,
    FunctionCall,
    GenerationComplete,
    GoAway,
    IgnoredFields,
    InputTranscription,
    InteractionUpdate,
    Interrupted,
    OutputTranscription,
    ServerEvent,
    SessionResumptionUpdate,
    SetupComplete,
    TextPart,
    Thought,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    UsageMetadata,
    WaitingForInput,
)
from edgevoice.live.frames import (
    ActivityEnd,
    ActivityStart,
    AudioInput,
    AudioStreamEnd,
    ClientContent,
    ClientFrame,
    ContentTurn,
    FunctionResponse,
    Scheduling,
    Setup,
    TextInput,
    ToolResponse,
    encode_client_frame,
)
from edgevoice.live.json_view import JsonValue, snippet
from edgevoice.live.models import call_blocks, takes_scheduling
from edgevoice.live.states import (
    MODEL_TRANSITIONS,
    TRANSITIONS,
    USER_TRANSITIONS,
    ModelInput,
    ModelTurn,
    SessionInput,
    SessionState,
    UserAction,
    UserInput,
    UserTurn,
    device_state,
)
from edgevoice.ports import DeviceState

S = SessionState
I = SessionInput  # noqa: E741 - a short name keeps the code readable

# The close we send when the server breaks the protocol: 1002 "terminating the connection due
# to a protocol error" (RFC 6455 7.4.1). Not 1007, although bad JSON is "inconsistent data":
# the session records our own close like any other and classify_close reads 1007 as the
# server's FATAL invalid-argument refusal. Not 1008 either: that reads as the server's FATAL
# policy refusal, and one bad frame is a transient fault that a reconnect heals.
CLOSE_PROTOCOL_ERROR = 1002
REASON_MALFORMED = "malformed server message"
REASON_OUT_OF_ORDER = "server message out of order"

_REMOTE = frozenset({I.SETUP_COMPLETE, I.GO_AWAY, I.SERVER_EVENT, I.PROTOCOL_ERROR})


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a session FAILED, and the close frame the shell must send for it."""

    error: RemoteProtocolError
    close_code: int = CLOSE_PROTOCOL_ERROR
    close_reason: str = REASON_MALFORMED  # short, ASCII: well under the 123-byte limit


@dataclass(frozen=True, slots=True)
class HeldBack:
    """Microphone audio not sent because a blocking tool call was pending (whole session)."""

    frames: int = 0
    audio_bytes: int = 0


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    blocking: bool


@dataclass(slots=True)
class _Book:
    """Everything a frame can change, copied before a server message is applied so that a
    message that turns out to be invalid halfway leaves the session untouched."""

    state: SessionState
    resumption_handle: str | None
    user: UserTurn = UserTurn.IDLE
    model: ModelTurn = ModelTurn.IDLE
    pending: dict[str, _Call] = dataclasses.field(default_factory=dict)  # call id -> call
    goaway_deadline: float | None = None
    turns_completed: int = 0
    turn_audio: bool = False  # an AudioChunk arrived since the last turnComplete
    session_id: str | None = None

    def copy(self) -> _Book:
        return dataclasses.replace(self, pending=dict(self.pending))

    @property
    def blocked(self) -> bool:
        return any(call.blocking for call in self.pending.values())


class LiveSession:
    """One Live connection, from the setup frame to the close. See the module docstring.

    `setup` is the validated setup frame (its model's family rules already applied). Not
    thread-safe: call it from one thread (the event loop).
    """

    def __init__(self, setup: Setup) -> None:
        self._setup = setup
        self._book = _Book(SessionState.IDLE, setup.resumption_handle)
        self._outbox: list[str] = []
        self._events: list[ServerEvent] = []
        self._close_error: SessionClosedError | None = None
        self._failure: Failure | None = None
        self._held_back = HeldBack()

    # ----------------------------------------------------------------------------------------
    # What the caller can read

    @property
    def setup(self) -> Setup:
        return self._setup

    @property
    def manual_activity(self) -> bool:
        """Server VAD is off: the app brackets turns with begin_activity() / end_activity()."""
        return self._setup.manual_activity

    @property
    def state(self) -> SessionState:
        return self._book.state

    @property
    def user_turn(self) -> UserTurn:
        return self._book.user

    @property
    def model_turn(self) -> ModelTurn:
        return self._book.model

    @property
    def device_state(self) -> DeviceState:
        """What the LED shows for this connection (`edgevoice.live.states.device_state`)."""
        book = self._book
        return device_state(book.state, book.user, book.model)

    @property
    def is_open(self) -> bool:
        """True in ACTIVE and GOING_AWAY: input may be sent. Check it before sending from a
        loop that may outlive the connection (sending to a closed session raises)."""
        return self._book.state in (S.ACTIVE, S.GOING_AWAY)

    @property
    def failure(self) -> Failure | None:
        """Once FAILED: the server's protocol error and the close code and reason to send."""
        return self._failure

    @property
    def in_activity(self) -> bool:
        """A user turn was begun and not ended (its activityStart may still be deferred)."""
        return self._book.user in (UserTurn.IN_ACTIVITY, UserTurn.START_DEFERRED)

    @property
    def pending_tool_calls(self) -> Mapping[str, str]:
        """Tool calls awaiting a response or a cancellation: id -> function name (a copy)."""
        return MappingProxyType({i: c.name for i, c in self._book.pending.items()})

    @property
    def input_blocked(self) -> bool:
        """A blocking tool call is pending: microphone audio is not sent (drop it) and a user
        turn's activityStart waits for the answer."""
        return self.is_open and self._book.blocked

    @property
    def audio_held_back(self) -> HeldBack:
        """Audio frames and bytes send_audio() refused while input was blocked."""
        return self._held_back

    @property
    def interaction_idle(self) -> bool:
        """Nothing is in progress: no user turn open, the model is not answering, thinking or
        working in the background (interactionStatus IN_PROGRESS), no tool call pending. The
        app's idle close and follow-up window start from here."""
        book = self._book
        return (
            book.user in (UserTurn.IDLE, UserTurn.STREAMING)
            and book.model is ModelTurn.IDLE
            and not book.pending
        )

    @property
    def resumption_handle(self) -> str | None:
        """The newest handle that may be resumed (non-empty, sent with resumable=true), else
        the handle this session was started with. Persist it; resume with setup_for_resume().
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
        """A goAway came and nothing would be cut by switching connections now
        (`interaction_idle`). With server VAD the user's turn boundaries are the server's: the
        app holds microphone audio during the switch (DESIGN.md section 4)."""
        return self._book.state is S.GOING_AWAY and self.interaction_idle

    def time_left(self, now: float) -> float | None:
        """Seconds until the goAway deadline (never negative), or None without a goAway."""
        deadline = self._book.goaway_deadline
        return None if deadline is None else max(0.0, deadline - now)

    def setup_for_resume(self) -> Setup:
        """The setup of the next connection: the same settings plus the newest resumable
        handle (unchanged when resumption is off or no handle was ever received)."""
        if not self._setup.session_resumption:
            return self._setup
        return dataclasses.replace(self._setup, resumption_handle=self._book.resumption_handle)

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
        self._commit(new_state, self._encode(self._setup))

    def send_audio(self, pcm16k: bytes) -> bool:
        """Queue a chunk of 16 kHz PCM16LE mono microphone audio (an even number of bytes).

        Returns True when it was queued, False when a blocking tool call is pending: the chunk
        is then dropped and counted in `audio_held_back` (section 3.2). Raises
        LocalProtocolError when the session is not open or the chunk is not 16-bit PCM.
        """
        new_state = self._local_transition(I.SEND_AUDIO)
        frame = AudioInput(bytes(pcm16k))
        if self._book.blocked:
            held = self._held_back
            self._held_back = HeldBack(held.frames + 1, held.audio_bytes + len(frame.pcm))
            return False
        encoded = self._encode(frame)
        user = self._book.user
        if not self.manual_activity:
            user = self._user_move(UserInput.AUDIO)[0]
        self._commit(new_state, encoded)
        self._book.user = user
        return True

    def send_text(self, text: str) -> None:
        """Queue text for the realtime stream (realtimeInput.text); the model answers it."""
        new_state = self._local_transition(I.SEND_TEXT)
        self._commit(new_state, self._encode(TextInput(text)))
        self._book.model = MODEL_TRANSITIONS[(self._book.model, ModelInput.USER_TURN_END)]

    def send_client_content(self, turns: Sequence[ContentTurn], turn_complete: bool = True) -> None:
        """Queue clientContent turns (history). It interrupts generation, and gemini-3.1 allows
        it only before the first turn (docs/live-protocol.md section 3.3)."""
        new_state = self._local_transition(I.SEND_CLIENT_CONTENT)
        self._commit(new_state, self._encode(ClientContent(tuple(turns), turn_complete)))
        if turn_complete:
            self._book.model = MODEL_TRANSITIONS[(self._book.model, ModelInput.USER_TURN_END)]

    def begin_activity(self) -> None:
        """Open a user turn (activityStart). Only with manual activity, and not while one is
        open. Sent while the model speaks, it barges in: the server answers with interrupted.

        While a blocking tool call is pending the activityStart is deferred (`user_turn` is
        START_DEFERRED): it goes out right after the last such call is answered.
        """
        new_state = self._local_transition(I.BEGIN_ACTIVITY)
        self._require_manual("begin_activity()")
        what = UserInput.BEGIN_BLOCKED if self._book.blocked else UserInput.BEGIN
        user, action = self._user_move(what)
        frames = [self._encode(ActivityStart())] if action is UserAction.SEND_ACTIVITY_START else []
        self._commit(new_state, *frames)
        self._book.user = user

    def end_activity(self) -> None:
        """Close the open user turn (activityEnd); the model then answers. A turn whose
        activityStart is still deferred is cancelled instead: nothing goes out for it."""
        new_state = self._local_transition(I.END_ACTIVITY)
        self._require_manual("end_activity()")
        user, action = self._user_move(UserInput.END)
        frames = [self._encode(ActivityEnd())] if action is UserAction.SEND_ACTIVITY_END else []
        self._commit(new_state, *frames)
        self._book.user = user
        if frames:
            self._book.model = MODEL_TRANSITIONS[(self._book.model, ModelInput.USER_TURN_END)]

    def audio_stream_end(self) -> None:
        """Tell the server the microphone paused for more than about a second (server VAD only;
        section 3.2). Sending audio again reopens the stream."""
        new_state = self._local_transition(I.AUDIO_STREAM_END)
        if self.manual_activity:
            # Section 3.2: with manual activity the client ends turns with activityEnd and must
            # not send audioStreamEnd.
            raise LocalProtocolError(
                "audio_stream_end() is for server VAD only; with manual activity use end_activity()"
            )
        user = self._user_move(UserInput.STREAM_END)[0]
        self._commit(new_state, self._encode(AudioStreamEnd()))
        self._book.user = user

    def send_tool_response(
        self,
        call_id: str,
        name: str,
        response: Mapping[str, JsonValue],
        scheduling: Scheduling | None = None,
    ) -> None:
        """Answer a pending tool call with a JSON object. The call must still be pending: not
        answered already, not cancelled by toolCallCancellation.

        `scheduling` (SILENT, WHEN_IDLE, INTERRUPT) only for a call that does not block
        (section 3.4). Answering the last blocking call unblocks input: a deferred
        activityStart goes out right after this response.
        """
        new_state = self._local_transition(I.TOOL_RESPONSE)
        call = self._book.pending.get(call_id)
        if call is None:
            raise LocalProtocolError(
                f"no pending tool call with id {snippet(call_id)} (answered, cancelled or never "
                "issued); drop this response"
            )
        if call.name != name:
            raise LocalProtocolError(
                f"tool call {snippet(call_id)} is for {snippet(call.name)}, not {snippet(name)}"
            )
        declared = self._setup.declared_behavior(name)
        if scheduling is not None and not takes_scheduling(self._setup.model, declared):
            raise LocalProtocolError(
                f"scheduling {scheduling.value} on the response to {snippet(name)}, a call that "
                f"blocks on model {self._setup.bare_model}: scheduling is for non-blocking calls "
                "only; answer without it"
            )
        frames = [
            self._encode(ToolResponse((FunctionResponse(call_id, name, response, scheduling),)))
        ]
        book = self._book.copy()
        was_blocked = book.blocked
        del book.pending[call_id]
        if was_blocked and not book.blocked:
            book.model = MODEL_TRANSITIONS[(book.model, ModelInput.CALLS_ANSWERED)]
            frames += self._unblock(book)
        self._book = book
        self._commit(new_state, *frames)

    def closed(self, code: int, reason: str = "") -> None:
        """The connection ended (close frame from either side, or 1006 for a dropped socket).

        Moves to CLOSED (a FAILED session stays FAILED), drops frames not yet sent (they must
        never reach another connection) and pending tool calls, and sets `close_error`. Events
        already decoded stay in `events()`. A second call is ignored: the first cause wins.
        """
        new_state = TRANSITIONS[(self._book.state, I.CLOSED)]
        if self._close_error is not None:
            return
        book = self._book
        book.state = new_state
        book.user = USER_TRANSITIONS[(book.user, UserInput.RESET)][0]
        book.model = MODEL_TRANSITIONS[(book.model, ModelInput.RESET)]
        book.pending.clear()
        self._outbox.clear()
        self._close_error = SessionClosedError(code, reason)

    # ----------------------------------------------------------------------------------------
    # Remote input

    def receive(self, frame: str | bytes | bytearray | memoryview, now: float) -> None:
        """Feed one server frame (text or binary); its events go to `events()`.

        `now` is the caller's monotonic clock in seconds; it dates a goAway deadline. A frame
        that is malformed or out of order raises RemoteProtocolError and fails the session
        (state FAILED, `failure` set); nothing else changes. The shell then closes the
        connection with `failure.close_code` and `failure.close_reason`.

        A toolCallCancellation that settles the last blocking call may queue a deferred
        activityStart: drain `data_to_send()` after receive() too.
        """
        if self._book.state in (S.CLOSED, S.FAILED):
            raise LocalProtocolError(
                f"receive() on a {self._book.state.value} session; drop frames of a session "
                "that ended"
            )
        try:
            decoded = decode_server_message(frame)
        except RemoteProtocolError as exc:
            self._fail(exc, REASON_MALFORMED)
            raise
        book = self._book.copy()
        out_events: list[ServerEvent] = []
        out_frames: list[str] = []
        try:
            for event in decoded:
                out_events.append(self._apply(book, event, now, out_frames))
        except RemoteProtocolError as exc:
            self._fail(exc, REASON_OUT_OF_ORDER)
            raise
        self._book = book
        self._events.extend(out_events)
        self._outbox.extend(out_frames)

    def _fail(self, error: RemoteProtocolError, reason: str) -> None:
        self._book.state = TRANSITIONS[(self._book.state, I.PROTOCOL_ERROR)]
        self._failure = Failure(error, CLOSE_PROTOCOL_ERROR, reason)

    def _apply(
        self, book: _Book, event: ServerEvent, now: float, out_frames: list[str]
    ) -> ServerEvent:
        """Apply one event to `book`; return the event to hand on (TurnComplete gains its
        `silent` flag here)."""
        kind = _input_of(event)
        if kind is None:
            return event
        new_state = TRANSITIONS.get((book.state, kind))
        if new_state is None:
            raise RemoteProtocolError(self._remote_refusal(book.state, event))
        book.state = new_state
        move: ModelInput | None = None
        match event:
            case SetupComplete(session_id=session_id):
                book.session_id = session_id
            case AudioChunk():
                book.turn_audio = True
                move = ModelInput.PART
            case TextPart() | Thought():
                move = ModelInput.PART
            case GenerationComplete():
                move = ModelInput.GENERATION_COMPLETE
            case Interrupted():
                move = ModelInput.INTERRUPTED
            case TurnComplete():
                event = dataclasses.replace(event, silent=not book.turn_audio)
                book.turn_audio = False
                book.turns_completed += 1
                move = ModelInput.TURN_CONTINUES if event.continues else ModelInput.TURN_COMPLETE
            case InteractionUpdate():
                move = (
                    ModelInput.INTERACTION_BUSY if event.continues else ModelInput.INTERACTION_IDLE
                )
            case ToolCall(calls=calls):
                if self._add_calls(book, calls):
                    move = ModelInput.BLOCKING_CALL
            case ToolCallCancellation(ids=ids):
                # Ids that are not pending are ignored, not refused: a response we already sent
                # can cross the cancellation on the wire (section 4.2, barge-in).
                was_blocked = book.blocked
                for call_id in ids:
                    book.pending.pop(call_id, None)
                if was_blocked and not book.blocked:
                    move = ModelInput.CALLS_CANCELLED
                    out_frames += self._unblock(book)
            case SessionResumptionUpdate(new_handle=handle, resumable=resumable):
                # Section 6.3: only a non-empty handle sent with resumable=true may be reused;
                # during generation or a pending call the server sends "" / false.
                if resumable and handle:
                    book.resumption_handle = handle
            case GoAway(time_left_seconds=time_left):
                book.goaway_deadline = now + time_left
            case InputTranscription() | OutputTranscription() | WaitingForInput() | UsageMetadata():
                # Transcriptions have no ordering guarantee with the turn (section 4.2): one
                # arriving after turnComplete must not reopen the model turn.
                pass
            case IgnoredFields():  # pragma: no cover - filtered out by _input_of
                pass
        if move is not None:
            book.model = MODEL_TRANSITIONS[(book.model, move)]
        return event

    def _add_calls(self, book: _Book, calls: tuple[FunctionCall, ...]) -> bool:
        """Register the calls of a toolCall; True when one of them blocks."""
        blocking = False
        for call in calls:
            if call.id in book.pending:
                raise RemoteProtocolError(
                    f"server message: toolCall repeats the pending call id {snippet(call.id)}"
                )
            declared = self._setup.declared_behavior(call.name)
            blocks = call_blocks(self._setup.model, declared)
            book.pending[call.id] = _Call(call.name, blocks)
            blocking = blocking or blocks
        return blocking

    def _unblock(self, book: _Book) -> list[str]:
        """The last blocking call is settled: a deferred activityStart goes out now."""
        user, action = USER_TRANSITIONS[(book.user, UserInput.UNBLOCKED)]
        book.user = user
        if action is UserAction.SEND_ACTIVITY_START:
            return [self._encode(ActivityStart())]
        return []

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
        if state is S.FAILED:
            assert self._failure is not None
            raise LocalProtocolError(
                f"{what.value} on a failed session (the server broke the protocol: "
                f"{self._failure.error}); close it with code {self._failure.close_code} and open "
                "a new connection"
            )
        if state is S.CLOSED:
            err = self._close_error
            cause = f" (code {err.code}: {snippet(err.reason or 'no reason')})" if err else ""
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

    def _user_move(self, what: UserInput) -> tuple[UserTurn, UserAction]:
        move = USER_TRANSITIONS.get((self._book.user, what))
        if move is not None:
            return move
        user = self._book.user
        if what in (UserInput.BEGIN, UserInput.BEGIN_BLOCKED):
            raise LocalProtocolError(
                f"begin_activity() while a user activity is already open ({user.value}); "
                "call end_activity() first"
            )
        if what is UserInput.END:
            raise LocalProtocolError(
                "end_activity() without an open user activity; call begin_activity() first"
            )
        raise LocalProtocolError(  # pragma: no cover - the guards keep modes apart
            f"{what.value} with the user turn {user.value}"
        )

    def _require_manual(self, what: str) -> None:
        # Section 3.2: activityStart/activityEnd only with automaticActivityDetection.disabled.
        if not self.manual_activity:
            raise LocalProtocolError(
                f"{what} needs manual activity (server VAD is on; it finds turns itself)"
            )

    @staticmethod
    def _encode(frame: ClientFrame) -> str:
        return encode_client_frame(frame)

    def _commit(self, new_state: SessionState, *frames: str) -> None:
        self._book.state = new_state
        self._outbox.extend(frames)


def _input_of(event: ServerEvent) -> SessionInput | None:
    """The connection input an event is; None for IgnoredFields, which is not a server
    message."""
    match event:
        case SetupComplete():
            return I.SETUP_COMPLETE
        case GoAway():
            return I.GO_AWAY
        case IgnoredFields():
            return None
        case _:
            return I.SERVER_EVENT
