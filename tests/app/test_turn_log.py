"""The per-turn summary's bookkeeping (edgevoice.app.turn_log), without a daemon."""

from __future__ import annotations

import logging

import pytest

from edgevoice.app.turn_log import TurnLog


def summaries(caplog: pytest.LogCaptureFixture) -> dict[int, dict[str, object]]:
    return {
        int(record.TURN_ID): {"INTERRUPTED": record.INTERRUPTED, "OUTCOME": record.TURN_OUTCOME}
        for record in caplog.records
        if record.name == "edgevoice.turns"
    }


def test_a_barge_in_marks_the_cut_turn_not_the_new_one(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "edgevoice.turns")
    log = TurnLog()
    log.begin(1, "button", 0.0)
    log.first_audio(0.2)
    log.reply_audio(1.5)  # turn 1's answer is playing
    log.begin(2, "button", 2.0)  # the press barges in: turn 1 is summed up, interrupted
    log.interrupted()  # the server's `interrupted` for turn 1's answer arrives after the press
    log.first_audio(0.3)
    log.reply_audio(1.0)
    log.finish("answered")
    assert summaries(caplog) == {
        1: {"INTERRUPTED": "yes", "OUTCOME": "interrupted"},
        2: {"INTERRUPTED": "no", "OUTCOME": "answered"},
    }


def test_an_answer_cut_by_the_server_marks_its_own_turn(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "edgevoice.turns")
    log = TurnLog()
    log.begin(1, "voice", 0.0)
    log.reply_audio(0.8)
    log.interrupted()  # server VAD heard the person over the answer; no new turn of ours yet
    log.finish("answered")
    assert summaries(caplog) == {1: {"INTERRUPTED": "yes", "OUTCOME": "answered"}}
