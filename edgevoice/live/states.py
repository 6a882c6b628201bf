"""The three small state machines of a Live session, as tables, and the device state they give.

`LiveSession` keeps three states, each moved only through its table:

- the **connection** (`SessionState`, `TRANSITIONS`): setup, open, going away, closed, failed;
- the **user turn** (`UserTurn`, `USER_TRANSITIONS`): the user's side of the conversation;
- the **model turn** (`ModelTurn`, `MODEL_TRANSITIONS`): the model's side.

A pair that is not in a table is not allowed: a local input is refused with
`LocalProtocolError`, a remote one fails the session with `RemoteProtocolError`. The tables both
drive and document the machines. `device_state(...)` derives what the LED shows from the three
states, and nothing else. Core: no I/O.

```
connection:  IDLE --start--> SETUP_SENT --setupComplete--> ACTIVE --goAway--> GOING_AWAY
             every state --closed()--> CLOSED;  a server frame that breaks the protocol -> FAILED

user turn (manual activity, the button):
             IDLE --begin--> IN_ACTIVITY --end--> IDLE
             IDLE --begin while a blocking call is pending--> START_DEFERRED
             START_DEFERRED --last blocking call settled--> IN_ACTIVITY (activityStart goes out)
             START_DEFERRED --end--> IDLE (nothing goes out for that turn)
user turn (server VAD): IDLE --audio--> STREAMING --audioStreamEnd--> IDLE

model turn:  IDLE --user turn ends--> REQUESTED --content--> ANSWERING --generationComplete-->
             GENERATED --turnComplete--> IDLE
             any --blocking toolCall--> TOOL_WAIT --answered--> REQUESTED | --cancelled--> IDLE
             turnComplete with interactionStatus IN_PROGRESS --> BACKGROUND --IDLE--> IDLE
```
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from edgevoice.ports import DeviceState

# --------------------------------------------------------------------------------------------
# The connection


class SessionState(enum.Enum):
    IDLE = "idle"  # created; call start()
    SETUP_SENT = "setup_sent"  # setup queued; only setupComplete may come back
    ACTIVE = "active"  # input flows both ways
    GOING_AWAY = "going_away"  # goAway received: finish the turn, then rotate
    CLOSED = "closed"  # the connection is gone; make a new LiveSession
    FAILED = "failed"  # the server broke the protocol; close with `failure`, then reconnect


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
    PROTOCOL_ERROR = "a server frame that breaks the protocol"
    # either side: the connection ended
    CLOSED = "closed()"


_S = SessionState
_I = SessionInput

SENDS = (
    _I.SEND_AUDIO,
    _I.SEND_TEXT,
    _I.SEND_CLIENT_CONTENT,
    _I.BEGIN_ACTIVITY,
    _I.END_ACTIVITY,
    _I.AUDIO_STREAM_END,
    _I.TOOL_RESPONSE,
)

TRANSITIONS: Mapping[tuple[SessionState, SessionInput], SessionState] = MappingProxyType(
    {
        # Setup is the first frame and is sent once (section 2.1).
        (_S.IDLE, _I.START): _S.SETUP_SENT,
        # Nothing but setupComplete may arrive before setupComplete; nothing may be sent.
        (_S.SETUP_SENT, _I.SETUP_COMPLETE): _S.ACTIVE,
        # The working session: input both ways.
        **{(_S.ACTIVE, send): _S.ACTIVE for send in SENDS},
        (_S.ACTIVE, _I.SERVER_EVENT): _S.ACTIVE,
        (_S.ACTIVE, _I.GO_AWAY): _S.GOING_AWAY,
        # After goAway the connection still works until the deadline (section 6.2): the turn
        # in progress is finished, then the supervisor rotates. A later goAway updates the time.
        **{(_S.GOING_AWAY, send): _S.GOING_AWAY for send in SENDS},
        (_S.GOING_AWAY, _I.SERVER_EVENT): _S.GOING_AWAY,
        (_S.GOING_AWAY, _I.GO_AWAY): _S.GOING_AWAY,
        # A server frame that breaks the protocol fails the session wherever it arrives (as
        # h11 does): nothing else may be sent or received on it, the shell closes it.
        **{
            (state, _I.PROTOCOL_ERROR): _S.FAILED
            for state in (_S.IDLE, _S.SETUP_SENT, _S.ACTIVE, _S.GOING_AWAY)
        },
        # The socket can close at any time, from either side; a second report changes nothing.
        # A failed session stays FAILED: the failure says more than the close that follows it.
        (_S.IDLE, _I.CLOSED): _S.CLOSED,
        (_S.SETUP_SENT, _I.CLOSED): _S.CLOSED,
        (_S.ACTIVE, _I.CLOSED): _S.CLOSED,
        (_S.GOING_AWAY, _I.CLOSED): _S.CLOSED,
        (_S.CLOSED, _I.CLOSED): _S.CLOSED,
        (_S.FAILED, _I.CLOSED): _S.FAILED,
    }
)

# --------------------------------------------------------------------------------------------
# The user turn


class UserTurn(enum.Enum):
    IDLE = "idle"  # no user turn open
    IN_ACTIVITY = "in activity"  # manual: activityStart went out, activityEnd has not
    START_DEFERRED = "start deferred"  # manual: begun while a blocking call is pending
    STREAMING = "streaming"  # server VAD: audio went out since the last audioStreamEnd


class UserInput(enum.Enum):
    BEGIN = "begin_activity()"
    BEGIN_BLOCKED = "begin_activity() while a blocking tool call is pending"
    END = "end_activity()"
    UNBLOCKED = "the last blocking tool call was answered or cancelled"
    AUDIO = "audio sent with server VAD"
    STREAM_END = "audio_stream_end()"
    RESET = "the connection ended"


class UserAction(enum.Enum):
    """The frame a user-turn transition puts on the wire."""

    NONE = "nothing"
    SEND_ACTIVITY_START = "activityStart"
    SEND_ACTIVITY_END = "activityEnd"


_U = UserTurn
_UI = UserInput
_UA = UserAction

USER_TRANSITIONS: Mapping[tuple[UserTurn, UserInput], tuple[UserTurn, UserAction]] = (
    MappingProxyType(
        {
            (_U.IDLE, _UI.BEGIN): (_U.IN_ACTIVITY, _UA.SEND_ACTIVITY_START),
            # Section 3.2: no activityStart while a blocking call is pending (1008 "The operation
            # was aborted."); it goes out right after the last such call is answered.
            (_U.IDLE, _UI.BEGIN_BLOCKED): (_U.START_DEFERRED, _UA.NONE),
            (_U.START_DEFERRED, _UI.UNBLOCKED): (_U.IN_ACTIVITY, _UA.SEND_ACTIVITY_START),
            # Released before the call was answered: the turn never started, nothing goes out.
            (_U.START_DEFERRED, _UI.END): (_U.IDLE, _UA.NONE),
            # An activityEnd whose activityStart went out always goes through, blocked or not.
            (_U.IN_ACTIVITY, _UI.END): (_U.IDLE, _UA.SEND_ACTIVITY_END),
            (_U.IDLE, _UI.UNBLOCKED): (_U.IDLE, _UA.NONE),
            (_U.IN_ACTIVITY, _UI.UNBLOCKED): (_U.IN_ACTIVITY, _UA.NONE),
            (_U.STREAMING, _UI.UNBLOCKED): (_U.STREAMING, _UA.NONE),
            (_U.IDLE, _UI.AUDIO): (_U.STREAMING, _UA.NONE),
            (_U.STREAMING, _UI.AUDIO): (_U.STREAMING, _UA.NONE),
            (_U.IDLE, _UI.STREAM_END): (_U.IDLE, _UA.NONE),
            (_U.STREAMING, _UI.STREAM_END): (_U.IDLE, _UA.NONE),
            **{(state, _UI.RESET): (_U.IDLE, _UA.NONE) for state in UserTurn},
        }
    )
)

# --------------------------------------------------------------------------------------------
# The model turn


class ModelTurn(enum.Enum):
    IDLE = "idle"  # nothing asked, nothing in progress
    REQUESTED = "requested"  # the user's turn ended: an answer is expected
    ANSWERING = "answering"  # the answer is arriving
    GENERATED = "generated"  # generationComplete: the server waits for playback to end
    TOOL_WAIT = "tool_wait"  # a blocking tool call is pending: the model waits for us
    BACKGROUND = "background"  # turnComplete with interactionStatus IN_PROGRESS


class ModelInput(enum.Enum):
    USER_TURN_END = "the user's turn ended (activityEnd, text, clientContent)"  # local
    PART = "a model turn part (audio, text, thought)"
    GENERATION_COMPLETE = "generationComplete"
    INTERRUPTED = "interrupted"
    TURN_COMPLETE = "turnComplete"  # without interactionStatus, or IDLE
    TURN_CONTINUES = "turnComplete with interactionStatus IN_PROGRESS"
    INTERACTION_IDLE = "interactionStatus IDLE"
    INTERACTION_BUSY = "interactionStatus IN_PROGRESS"
    BLOCKING_CALL = "a blocking toolCall"
    CALLS_ANSWERED = "the last blocking call answered"  # local: a toolResponse
    CALLS_CANCELLED = "the last blocking call cancelled"
    RESET = "the connection ended"


_M = ModelTurn
_MI = ModelInput


def _row(state: ModelTurn, **moves: ModelTurn) -> dict[tuple[ModelTurn, ModelInput], ModelTurn]:
    return {(state, ModelInput[name]): target for name, target in moves.items()}


MODEL_TRANSITIONS: Mapping[tuple[ModelTurn, ModelInput], ModelTurn] = MappingProxyType(
    {
        **_row(
            _M.IDLE,
            USER_TURN_END=_M.REQUESTED,
            PART=_M.ANSWERING,
            GENERATION_COMPLETE=_M.GENERATED,
            INTERRUPTED=_M.IDLE,
            TURN_COMPLETE=_M.IDLE,
            TURN_CONTINUES=_M.BACKGROUND,
            INTERACTION_IDLE=_M.IDLE,
            INTERACTION_BUSY=_M.BACKGROUND,
            BLOCKING_CALL=_M.TOOL_WAIT,
        ),
        **_row(
            _M.REQUESTED,
            USER_TURN_END=_M.REQUESTED,
            PART=_M.ANSWERING,
            GENERATION_COMPLETE=_M.GENERATED,
            INTERRUPTED=_M.IDLE,
            # A turn that ends before any content: the model chose silence (3.8 proactive
            # audio, section 4.2), a valid outcome.
            TURN_COMPLETE=_M.IDLE,
            TURN_CONTINUES=_M.BACKGROUND,
            INTERACTION_IDLE=_M.REQUESTED,
            INTERACTION_BUSY=_M.REQUESTED,
            BLOCKING_CALL=_M.TOOL_WAIT,
        ),
        **_row(
            _M.ANSWERING,
            # A user turn that ends during the answer (barge-in, or NO_INTERRUPTION): the old
            # answer runs until the server's interrupted or turnComplete.
            USER_TURN_END=_M.ANSWERING,
            PART=_M.ANSWERING,
            GENERATION_COMPLETE=_M.GENERATED,
            INTERRUPTED=_M.IDLE,
            TURN_COMPLETE=_M.IDLE,
            TURN_CONTINUES=_M.BACKGROUND,
            INTERACTION_IDLE=_M.ANSWERING,
            INTERACTION_BUSY=_M.ANSWERING,
            BLOCKING_CALL=_M.TOOL_WAIT,
        ),
        **_row(
            _M.GENERATED,
            USER_TURN_END=_M.GENERATED,
            PART=_M.ANSWERING,  # "audio, toolCall, more audio" occurs (section 4.2)
            GENERATION_COMPLETE=_M.GENERATED,
            INTERRUPTED=_M.IDLE,
            TURN_COMPLETE=_M.IDLE,
            TURN_CONTINUES=_M.BACKGROUND,
            INTERACTION_IDLE=_M.GENERATED,
            INTERACTION_BUSY=_M.GENERATED,
            BLOCKING_CALL=_M.TOOL_WAIT,
        ),
        # While a blocking call is pending only its settlement moves the model on: the model
        # waits for the toolResponse whatever else arrives (a barge-in's interrupted and
        # turnComplete come before the toolCallCancellation, section 4.2).
        **_row(
            _M.TOOL_WAIT,
            USER_TURN_END=_M.TOOL_WAIT,
            PART=_M.TOOL_WAIT,
            GENERATION_COMPLETE=_M.TOOL_WAIT,
            INTERRUPTED=_M.TOOL_WAIT,
            TURN_COMPLETE=_M.TOOL_WAIT,
            TURN_CONTINUES=_M.TOOL_WAIT,
            INTERACTION_IDLE=_M.TOOL_WAIT,
            INTERACTION_BUSY=_M.TOOL_WAIT,
            BLOCKING_CALL=_M.TOOL_WAIT,
            CALLS_ANSWERED=_M.REQUESTED,  # the model goes on with the result
            CALLS_CANCELLED=_M.IDLE,
        ),
        # Background work (3.8): the interaction stays open until interactionStatus IDLE or a
        # turnComplete without the field (section 4.2).
        **_row(
            _M.BACKGROUND,
            USER_TURN_END=_M.REQUESTED,
            PART=_M.ANSWERING,
            GENERATION_COMPLETE=_M.GENERATED,
            INTERRUPTED=_M.BACKGROUND,
            TURN_COMPLETE=_M.IDLE,
            TURN_CONTINUES=_M.BACKGROUND,
            INTERACTION_IDLE=_M.IDLE,
            INTERACTION_BUSY=_M.BACKGROUND,
            BLOCKING_CALL=_M.TOOL_WAIT,
        ),
        **{(state, _MI.RESET): _M.IDLE for state in ModelTurn},
    }
)

# --------------------------------------------------------------------------------------------
# What the LED shows


def device_state(connection: SessionState, user: UserTurn, model: ModelTurn) -> DeviceState:
    """The device state of one connection, from its three states.

    - not yet set up: CONNECTING; closed or failed: OFFLINE (the supervisor knows better when
      the close was its own idle close, IDLE, or a fatal one, ERROR, and shows that instead);
    - a user activity is open: LISTENING (the button turn wins over an answer still playing);
    - the answer is arriving or playing out: SPEAKING;
    - audio streams to server VAD: LISTENING (the LED is lit exactly while audio is sent);
    - an answer is expected, a blocking tool call or background work is in progress, or a
      user turn waits for a tool call to finish: THINKING;
    - otherwise IDLE.
    """
    if connection in (SessionState.IDLE, SessionState.SETUP_SENT):
        return DeviceState.CONNECTING
    if connection in (SessionState.CLOSED, SessionState.FAILED):
        return DeviceState.OFFLINE
    if user is UserTurn.IN_ACTIVITY:
        return DeviceState.LISTENING
    if model in (ModelTurn.ANSWERING, ModelTurn.GENERATED):
        return DeviceState.SPEAKING
    if user is UserTurn.STREAMING:
        return DeviceState.LISTENING
    if user is UserTurn.START_DEFERRED or model in (
        ModelTurn.REQUESTED,
        ModelTurn.TOOL_WAIT,
        ModelTurn.BACKGROUND,
    ):
        return DeviceState.THINKING
    return DeviceState.IDLE
