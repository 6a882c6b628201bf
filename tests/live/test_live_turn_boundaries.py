"""Turn boundaries that hold on gemini-3.8 (issue #8 item 4; docs/live-protocol.md section 4.2):
interactionStatus keeps an interaction open, late transcriptions do not reopen a turn, and a
turn without audio is reported as such."""

from __future__ import annotations

from collections.abc import Callable

from edgevoice.live.decode import decode_server_message
from edgevoice.live.events import InteractionUpdate, OutputTranscription, TurnComplete
from edgevoice.live.session import LiveSession
from edgevoice.live.states import ModelTurn, SessionState
from edgevoice.ports import DeviceState

S = SessionState
AUDIO = (
    '{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
    '{"mimeType":"audio/pcm;rate=24000","data":"AAABAA=="}}]}}}'
)
TURN_COMPLETE = '{"serverContent":{"turnComplete":true}}'
GO_AWAY = '{"goAway":{"timeLeft":"30s"}}'


def turn_complete(status: str) -> str:
    return '{"serverContent":{"turnComplete":true,"interactionStatus":"' + status + '"}}'


def test_interaction_status_is_decoded() -> None:
    assert decode_server_message(turn_complete("IN_PROGRESS")) == [
        TurnComplete(None, "IN_PROGRESS")
    ]
    [event] = decode_server_message(turn_complete("IDLE"))
    assert isinstance(event, TurnComplete) and not event.continues
    assert decode_server_message('{"serverContent":{"interactionStatus":"IDLE"}}') == [
        InteractionUpdate("IDLE")
    ]
    [event] = decode_server_message(turn_complete("REQUIRES_ACTION"))
    assert isinstance(event, TurnComplete) and event.continues


def test_in_progress_keeps_the_interaction_open_until_idle(
    session_in: Callable[..., LiveSession],
) -> None:
    session = session_in(S.ACTIVE)
    session.receive(GO_AWAY, now=0.0)
    session.receive(AUDIO, now=0.0)
    session.receive(turn_complete("IN_PROGRESS"), now=1.0)
    assert session.model_turn is ModelTurn.BACKGROUND
    assert not session.interaction_idle and not session.can_rotate
    assert session.device_state is DeviceState.THINKING
    session.receive(AUDIO, now=2.0)  # the background work speaks
    session.receive(turn_complete("IN_PROGRESS"), now=3.0)
    assert not session.can_rotate
    session.receive(turn_complete("IDLE"), now=4.0)
    assert session.interaction_idle and session.can_rotate
    assert session.turns_completed == 3


def test_a_turn_complete_without_the_field_ends_the_interaction(
    session_in: Callable[..., LiveSession],
) -> None:
    session = session_in(S.GOING_AWAY)
    session.receive(turn_complete("IN_PROGRESS"), now=0.0)
    assert not session.can_rotate
    session.receive(TURN_COMPLETE, now=1.0)
    assert session.can_rotate


def test_interaction_idle_alone_ends_background_work(
    session_in: Callable[..., LiveSession],
) -> None:
    session = session_in(S.GOING_AWAY)
    session.receive(turn_complete("IN_PROGRESS"), now=0.0)
    session.receive('{"serverContent":{"interactionStatus":"IDLE"}}', now=1.0)
    assert session.can_rotate


def test_an_unknown_status_does_not_hold_the_interaction_open(
    session_in: Callable[..., LiveSession],
) -> None:
    # A value newer than this code must not block rotation until the server cuts the link.
    session = session_in(S.GOING_AWAY)
    session.receive(turn_complete("SOMETHING_NEW"), now=0.0)
    assert session.can_rotate


def test_a_late_transcription_does_not_reopen_the_turn(
    session_in: Callable[..., LiveSession],
) -> None:
    session = session_in(S.ACTIVE)
    session.receive(AUDIO, now=0.0)
    session.receive(TURN_COMPLETE, now=1.0)
    session.receive(GO_AWAY, now=1.5)
    assert session.can_rotate
    session.receive('{"serverContent":{"outputTranscription":{"text":"late"}}}', now=2.0)
    session.receive('{"serverContent":{"inputTranscription":{"text":"late too"}}}', now=2.0)
    assert session.model_turn is ModelTurn.IDLE
    assert session.can_rotate  # the supervisor may rotate now, not at the goAway deadline
    assert OutputTranscription("late") in session.events()


def test_a_turn_without_audio_is_reported_silent_not_failed(
    session_in: Callable[..., LiveSession],
) -> None:
    session = session_in(S.ACTIVE)
    session.begin_activity()
    session.end_activity()
    assert session.model_turn is ModelTurn.REQUESTED
    session.events()
    # gemini-3.8 with proactive audio may choose not to answer (section 4.2).
    session.receive('{"serverContent":{"outputTranscription":{"text":""}}}', now=0.0)
    session.receive(TURN_COMPLETE, now=1.0)
    assert session.events() == [TurnComplete(silent=True)]
    assert session.model_turn is ModelTurn.IDLE and session.interaction_idle
    assert session.close_error is None and session.failure is None
    # The next turn had audio: not silent.
    session.receive(AUDIO, now=2.0)
    session.receive(TURN_COMPLETE, now=3.0)
    assert session.events()[-1] == TurnComplete(silent=False)
