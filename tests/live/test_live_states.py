"""The user-turn and model-turn tables and the device state, each against an expectation
written out here by hand (not read from the code under test), then the same rules through the
public LiveSession API."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import pytest

from edgevoice.live.session import LiveSession
from edgevoice.live.states import (
    MODEL_TRANSITIONS,
    USER_TRANSITIONS,
    ModelInput,
    ModelTurn,
    SessionState,
    UserAction,
    UserInput,
    UserTurn,
    device_state,
)
from edgevoice.ports import DeviceState

# --------------------------------------------------------------------------------------------
# User turn: (state, input) -> (state, frame sent); anything else is refused.

U = UserTurn
UI = UserInput
START, END, NOTHING = "activityStart", "activityEnd", None

EXPECTED_USER: dict[tuple[UserTurn, UserInput], tuple[UserTurn, str | None]] = {
    (U.IDLE, UI.BEGIN): (U.IN_ACTIVITY, START),
    (U.IDLE, UI.BEGIN_BLOCKED): (U.START_DEFERRED, NOTHING),  # section 3.2: no activityStart
    (U.START_DEFERRED, UI.UNBLOCKED): (U.IN_ACTIVITY, START),  # right after the toolResponse
    (U.START_DEFERRED, UI.END): (U.IDLE, NOTHING),  # released before: nothing for that turn
    (U.IN_ACTIVITY, UI.END): (U.IDLE, END),  # its start went out: the end always goes through
    (U.IDLE, UI.UNBLOCKED): (U.IDLE, NOTHING),
    (U.IN_ACTIVITY, UI.UNBLOCKED): (U.IN_ACTIVITY, NOTHING),
    (U.STREAMING, UI.UNBLOCKED): (U.STREAMING, NOTHING),
    (U.IDLE, UI.AUDIO): (U.STREAMING, NOTHING),
    (U.STREAMING, UI.AUDIO): (U.STREAMING, NOTHING),
    (U.IDLE, UI.STREAM_END): (U.IDLE, NOTHING),
    (U.STREAMING, UI.STREAM_END): (U.IDLE, NOTHING),
    (U.IDLE, UI.RESET): (U.IDLE, NOTHING),
    (U.IN_ACTIVITY, UI.RESET): (U.IDLE, NOTHING),
    (U.START_DEFERRED, UI.RESET): (U.IDLE, NOTHING),
    (U.STREAMING, UI.RESET): (U.IDLE, NOTHING),
}


@pytest.mark.parametrize(
    ("state", "what"), list(itertools.product(UserTurn, UserInput)), ids=lambda x: x.name
)
def test_user_table(state: UserTurn, what: UserInput) -> None:
    expected = EXPECTED_USER.get((state, what))
    got = USER_TRANSITIONS.get((state, what))
    if expected is None:
        assert got is None
        return
    assert got is not None
    target, action = got
    sent = {UserAction.NONE: None, UserAction.SEND_ACTIVITY_START: START}
    sent[UserAction.SEND_ACTIVITY_END] = END
    assert (target, sent[action]) == expected


# --------------------------------------------------------------------------------------------
# Model turn: one row per state, columns in the order below; "-" = cannot happen there.

M = ModelTurn
COLUMNS = [
    "USER_TURN_END",
    "PART",
    "GENERATION_COMPLETE",
    "INTERRUPTED",
    "TURN_COMPLETE",
    "TURN_CONTINUES",
    "INTERACTION_IDLE",
    "INTERACTION_BUSY",
    "BLOCKING_CALL",
    "CALLS_ANSWERED",
    "CALLS_CANCELLED",
    "RESET",
]
SHORT = {
    "IDLE": M.IDLE,
    "REQ": M.REQUESTED,
    "ANS": M.ANSWERING,
    "GEN": M.GENERATED,
    "TOOL": M.TOOL_WAIT,
    "BG": M.BACKGROUND,
    "-": None,
}
# TOOL_WAIT: only the blocking call's answer or cancellation moves the model on. BACKGROUND
# (3.8 IN_PROGRESS): open until interactionStatus IDLE or a plain turnComplete (section 4.2).
# A user turn ending during an answer leaves the answer running until interrupted.
GRID = """
             usrEnd part gen  intr tc   cont iIdle iBusy call ans  canc reset
IDLE         REQ    ANS  GEN  IDLE IDLE BG   IDLE  BG    TOOL -    -    IDLE
REQUESTED    REQ    ANS  GEN  IDLE IDLE BG   REQ   REQ   TOOL -    -    IDLE
ANSWERING    ANS    ANS  GEN  IDLE IDLE BG   ANS   ANS   TOOL -    -    IDLE
GENERATED    GEN    ANS  GEN  IDLE IDLE BG   GEN   GEN   TOOL -    -    IDLE
TOOL_WAIT    TOOL   TOOL TOOL TOOL TOOL TOOL TOOL  TOOL  TOOL REQ  IDLE IDLE
BACKGROUND   REQ    ANS  GEN  BG   IDLE BG   IDLE  BG    TOOL -    -    IDLE
"""
ROWS: dict[ModelTurn, list[ModelTurn | None]] = {
    M[name]: [SHORT[cell] for cell in cells]
    for name, *cells in (line.split() for line in GRID.strip().splitlines()[1:])
}


def test_the_columns_are_every_model_input() -> None:
    assert sorted(COLUMNS) == sorted(i.name for i in ModelInput)
    assert set(ROWS) == set(ModelTurn)


@pytest.mark.parametrize(("state", "column"), list(itertools.product(ModelTurn, COLUMNS)), ids=str)
def test_model_table(state: ModelTurn, column: str) -> None:
    expected = ROWS[state][COLUMNS.index(column)]
    assert MODEL_TRANSITIONS.get((state, ModelInput[column])) == expected


# --------------------------------------------------------------------------------------------
# Device state, by hand for every open combination

D = DeviceState
EXPECTED_OPEN: dict[tuple[UserTurn, ModelTurn], DeviceState] = {}
for _user in UserTurn:
    for _model in ModelTurn:
        if _user is U.IN_ACTIVITY:
            _shown = D.LISTENING  # the button turn wins, even over an answer still playing
        elif _model in (M.ANSWERING, M.GENERATED):
            _shown = D.SPEAKING
        elif _user is U.STREAMING:
            _shown = D.LISTENING
        elif _model is M.IDLE and _user is U.IDLE:
            _shown = D.IDLE
        else:
            _shown = D.THINKING  # REQUESTED, TOOL_WAIT, BACKGROUND, or a deferred user turn
        EXPECTED_OPEN[(_user, _model)] = _shown


@pytest.mark.parametrize(
    ("connection", "user", "model"),
    list(itertools.product(SessionState, UserTurn, ModelTurn)),
    ids=lambda x: x.name,
)
def test_device_state(connection: SessionState, user: UserTurn, model: ModelTurn) -> None:
    shown = device_state(connection, user, model)
    if connection in (SessionState.IDLE, SessionState.SETUP_SENT):
        assert shown is D.CONNECTING
    elif connection in (SessionState.CLOSED, SessionState.FAILED):
        assert shown is D.OFFLINE
    else:
        assert shown is EXPECTED_OPEN[(user, model)]


# --------------------------------------------------------------------------------------------
# Through the session: a whole button turn as the LED shows it


AUDIO = (
    '{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
    '{"mimeType":"audio/pcm;rate=24000","data":"AAABAA=="}}]}}}'
)


def test_a_button_turn_as_the_led_shows_it(session_in: Callable[..., LiveSession]) -> None:
    session = LiveSession(session_in(SessionState.IDLE).setup)
    seen = [session.device_state]
    session.start()
    seen.append(session.device_state)
    session.receive('{"setupComplete":{}}', now=0.0)
    seen.append(session.device_state)
    session.begin_activity()
    seen.append(session.device_state)
    session.end_activity()
    seen.append(session.device_state)
    session.receive(AUDIO, now=0.0)
    seen.append(session.device_state)
    session.receive('{"serverContent":{"generationComplete":true}}', now=0.0)
    seen.append(session.device_state)
    session.receive('{"serverContent":{"turnComplete":true}}', now=0.0)
    seen.append(session.device_state)
    session.closed(1000)
    seen.append(session.device_state)
    assert seen == [
        D.CONNECTING,
        D.CONNECTING,
        D.IDLE,
        D.LISTENING,
        D.THINKING,
        D.SPEAKING,
        D.SPEAKING,  # generated; the server waits for playback to end
        D.IDLE,
        D.OFFLINE,
    ]


def test_server_vad_streaming_lights_listening(
    session_in: Callable[..., LiveSession], auto_setup: Callable[..., object]
) -> None:
    session = session_in(SessionState.ACTIVE, auto_setup())
    assert session.device_state is D.IDLE
    session.send_audio(b"\x00\x00" * 160)
    assert session.user_turn is U.STREAMING and session.device_state is D.LISTENING
    session.receive(AUDIO, now=0.0)
    assert session.device_state is D.SPEAKING  # the answer wins over a streaming microphone
    session.receive('{"serverContent":{"turnComplete":true}}', now=0.0)
    assert session.device_state is D.LISTENING
    assert session.interaction_idle  # the server's VAD owns the turn boundaries
    session.audio_stream_end()
    assert session.user_turn is U.IDLE and session.device_state is D.IDLE
    assert json.loads(session.data_to_send()[-1]) == {"realtimeInput": {"audioStreamEnd": True}}
