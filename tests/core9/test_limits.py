"""UsageLedger (edgevoice.limits): the turn-length limit, the daily audio cap, token sums, the
day rollover by the local date passed in, and snapshot/restore through the state store's JSON."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgevoice.limits import DayUsage, TurnUsage, UsageLedger

DAY = dt.date(2026, 11, 5)
NEXT = dt.date(2026, 11, 6)
FRAME_S = 0.02


def ledger(max_turn_s: float | None = 30.0, daily_audio_s: float | None = 600.0) -> UsageLedger:
    return UsageLedger(max_turn_s=max_turn_s, daily_audio_s=daily_audio_s, today=DAY)


# --------------------------------------------------------------------------------------------
# One turn


def test_the_turn_limit_counts_from_the_start_of_the_turn() -> None:
    book = ledger(max_turn_s=10.0)
    assert not book.turn_limit_reached(100.0) and book.turn_time_left(100.0) is None
    book.begin_turn(100.0, DAY)
    assert book.turn_time_left(104.0) == pytest.approx(6.0)
    assert not book.turn_limit_reached(109.999)
    assert book.turn_limit_reached(110.0)
    assert book.turn_time_left(125.0) == 0.0
    book.end_turn(111.0)
    assert not book.turn_limit_reached(200.0)  # no open turn, nothing to end
    assert book.turn_time_left(200.0) is None


def test_without_a_turn_limit_a_turn_never_reaches_it() -> None:
    book = ledger(max_turn_s=None)
    book.begin_turn(0.0, DAY)
    assert not book.turn_limit_reached(10**9) and book.turn_time_left(10**9) is None


def test_a_turn_sums_its_audio_and_the_tokens_reported_after_it() -> None:
    book = ledger()
    book.add_audio(1.0, DAY)  # before any turn: counts to the day only
    assert book.turn is None
    book.begin_turn(5.0, DAY)
    for _ in range(150):
        book.add_audio(FRAME_S, DAY)
    ended = book.end_turn(8.0)
    assert ended == TurnUsage(started_at=5.0, ended_at=8.0, audio_seconds=3.0, tokens=0)
    assert not ended.open
    book.add_audio(0.5, DAY)  # between turns: not the turn's
    book.add_tokens(183, DAY)  # the answer's usageMetadata comes with its turnComplete
    book.add_tokens(17, DAY)
    assert book.turn == TurnUsage(5.0, 8.0, 3.0, 200)
    book.begin_turn(20.0, DAY)
    assert book.turn == TurnUsage(20.0, None, 0.0, 0) and book.turn.open and book.turn_open
    assert book.day(DAY) == DayUsage(DAY, audio_seconds=4.5, tokens=200, turns=2)


def test_ending_without_an_open_turn_changes_nothing() -> None:
    book = ledger()
    assert book.end_turn(1.0) is None
    book.begin_turn(2.0, DAY)
    book.end_turn(3.0)
    assert book.end_turn(9.0) == TurnUsage(2.0, 3.0, 0.0, 0)


def test_a_broken_server_cannot_subtract_tokens() -> None:
    book = ledger()
    book.add_tokens(-500, DAY)
    assert book.day(DAY).tokens == 0


@pytest.mark.parametrize("seconds", [-0.02, float("nan"), float("inf")])
def test_audio_must_be_a_finite_non_negative_duration(seconds: float) -> None:
    book = ledger()
    with pytest.raises(ValueError, match="audio seconds"):
        book.add_audio(seconds, DAY)
    assert book.day(DAY).audio_seconds == 0


# --------------------------------------------------------------------------------------------
# The day


def test_the_daily_cap_is_reached_by_the_frame_that_fills_it() -> None:
    book = ledger(daily_audio_s=1.0)
    book.begin_turn(0.0, DAY)
    for _ in range(49):
        book.add_audio(FRAME_S, DAY)
    assert not book.daily_limit_reached(DAY)
    assert book.daily_audio_left(DAY) == pytest.approx(FRAME_S)
    book.add_audio(FRAME_S, DAY)  # 50 frames of 20 ms: exactly 1 s, no float drift
    assert book.daily_limit_reached(DAY)
    assert book.daily_audio_left(DAY) == 0.0


def test_a_day_of_frames_sums_exactly() -> None:
    book = ledger(daily_audio_s=None)
    for _ in range(3 * 60 * 60 * 50):  # three hours of 20 ms frames
        book.add_audio(FRAME_S, DAY)
    assert book.day(DAY).audio_seconds == 3 * 60 * 60
    assert book.daily_audio_left(DAY) is None and not book.daily_limit_reached(DAY)


def test_a_new_local_date_starts_a_new_day_and_the_turn_goes_on() -> None:
    book = ledger(daily_audio_s=2.0)
    book.begin_turn(0.0, DAY)
    book.add_audio(2.0, DAY)
    book.add_tokens(50, DAY)
    assert book.daily_limit_reached(DAY)
    assert not book.daily_limit_reached(NEXT)  # midnight
    book.add_audio(0.5, NEXT)
    assert book.day(NEXT) == DayUsage(NEXT, 0.5, 0, 0)
    assert book.turn == TurnUsage(0.0, None, 2.5, 50)  # the turn spans midnight


def test_a_clock_set_back_starts_a_fresh_day_rather_than_blocking_until_a_future_date() -> None:
    future = dt.date(2027, 1, 1)
    book = UsageLedger(max_turn_s=None, daily_audio_s=1.0, today=future)
    book.add_audio(1.0, future)
    assert book.daily_limit_reached(future)
    assert not book.daily_limit_reached(DAY)  # the clock was corrected back


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"max_turn_s": 0.0}, "max_turn_s"),
        ({"max_turn_s": -1.0}, "max_turn_s"),
        ({"max_turn_s": float("nan")}, "max_turn_s"),
        ({"daily_audio_s": 0.0}, "daily_audio_s"),
        ({"daily_audio_s": float("inf")}, "daily_audio_s"),
    ],
)
def test_limits_must_be_positive(fields: dict[str, float], name: str) -> None:
    kwargs: dict[str, float | None] = {"max_turn_s": 1.0, "daily_audio_s": 1.0, **fields}
    with pytest.raises(ValueError, match=name):
        UsageLedger(today=DAY, **kwargs)


# --------------------------------------------------------------------------------------------
# Snapshot and restore


def test_a_restart_keeps_the_days_totals() -> None:
    book = ledger(daily_audio_s=10.0)
    book.begin_turn(0.0, DAY)
    book.add_audio(9.98, DAY)
    book.add_tokens(1234, DAY)
    saved = json.dumps(book.snapshot().to_json())  # what the state store writes

    after = ledger(daily_audio_s=10.0)
    assert after.restore(DayUsage.from_json(json.loads(saved)), DAY)
    assert after.day(DAY) == DayUsage(DAY, 9.98, 1234, 1)
    after.add_audio(FRAME_S, DAY)
    assert after.daily_limit_reached(DAY)  # the cap holds across the restart


def test_yesterdays_snapshot_is_ignored() -> None:
    book = ledger()
    yesterday = DayUsage(DAY, 500.0, 10, 3)
    assert not book.restore(yesterday, NEXT)
    assert book.day(NEXT) == DayUsage(NEXT)


@pytest.mark.parametrize(
    ("saved", "field"),
    [
        (None, "not a JSON object"),
        ([], "not a JSON object"),
        ({}, "'day'"),
        ({"day": 20261105}, "'day'"),
        ({"day": "2026-13-05"}, "'day'"),
        ({"day": "2026-11-05T00:00"}, "'day'"),
        ({"day": "2026-11-05", "audio_seconds": "1"}, "'audio_seconds'"),
        ({"day": "2026-11-05", "audio_seconds": -1}, "'audio_seconds'"),
        ({"day": "2026-11-05", "audio_seconds": float("nan")}, "'audio_seconds'"),
        ({"day": "2026-11-05", "audio_seconds": 1e300}, "'audio_seconds'"),
        ({"day": "2026-11-05", "audio_seconds": True}, "'audio_seconds'"),
        ({"day": "2026-11-05", "audio_seconds": 1, "tokens": 1.5, "turns": 0}, "'tokens'"),
        ({"day": "2026-11-05", "audio_seconds": 1, "tokens": 1, "turns": False}, "'turns'"),
        ({"day": "2026-11-05", "audio_seconds": 1, "tokens": -1, "turns": 0}, "'tokens'"),
        ({"day": "2026-11-05", "audio_seconds": 1, "tokens": 10**40, "turns": 0}, "'tokens'"),
    ],
)
def test_a_corrupt_snapshot_is_refused_in_one_line_naming_the_field(
    saved: object, field: str
) -> None:
    with pytest.raises(ValueError) as info:
        DayUsage.from_json(saved)
    assert field in str(info.value) and "\n" not in str(info.value)


def test_unknown_keys_in_a_snapshot_are_ignored() -> None:
    saved = {"day": "2026-11-05", "audio_seconds": 3, "tokens": 4, "turns": 5, "later": [1]}
    assert DayUsage.from_json(saved) == DayUsage(DAY, 3.0, 4, 5)


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 5000), st.integers(-10, 10_000)),
        max_size=60,
    )
)
def test_totals_are_the_sums_of_what_was_added_per_day_and_survive_a_round_trip(
    chunks: list[tuple[int, int, int]],
) -> None:
    book = UsageLedger(max_turn_s=None, daily_audio_s=None, today=DAY)
    audio: dict[dt.date, int] = {}
    tokens: dict[dt.date, int] = {}
    day = DAY
    for step, frames, count in chunks:
        day = day + dt.timedelta(days=1) if step == 2 else day
        book.add_audio(frames * FRAME_S, day)
        book.add_tokens(count, day)
        audio[day] = audio.get(day, 0) + frames
        tokens[day] = tokens.get(day, 0) + max(0, count)
    usage = book.day(day)
    assert usage.audio_seconds == pytest.approx(audio.get(day, 0) * FRAME_S, abs=1e-9)
    assert usage.tokens == tokens.get(day, 0)
    restored = UsageLedger(max_turn_s=None, daily_audio_s=None, today=day)
    assert restored.restore(DayUsage.from_json(json.loads(json.dumps(usage.to_json()))), day)
    assert restored.snapshot() == usage
