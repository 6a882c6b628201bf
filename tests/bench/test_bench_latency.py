"""The latency series read from a trace: each figure pairs the right two events, and a trace
point that is missing leaves its series empty (the bench then fails that target)."""

from __future__ import annotations

import pytest

from edgevoice.bench.latency import latencies
from edgevoice.bench.trace_read import Event, parse_lines


def ev(at_ms: float, name: str, value: str = "") -> Event:
    return Event(at_ms / 1000.0, name, value)


def cold_turn() -> list[Event]:
    """A press with no connection: setup, setupComplete, the turn, its answer played out."""
    return [
        ev(1000, "ctl", "press"),
        ev(1004, "ws.setup"),
        ev(1011, "ws.setup_complete"),
        ev(1012, "ws.activity_start"),
        ev(1013, "ws.audio"),
        ev(1033, "ws.audio"),
        ev(1900, "ctl", "release"),
        ev(1902, "ws.activity_end"),
        ev(2100, "ws.recv_audio"),
        ev(2140, "ws.recv_audio"),
        ev(2190, "play.start", "960"),
        ev(2900, "play.stop", "320"),
    ]


def warm_barge_in_turn() -> list[Event]:
    """A warm press while the answer plays: it cuts the answer (silence 14 ms later)."""
    return [
        ev(3000, "ws.recv_audio"),
        ev(3090, "play.start", "960"),
        ev(3300, "ctl", "press"),
        ev(3301, "play.clear", "4000"),
        ev(3302, "ws.activity_start"),
        ev(3303.5, "ws.audio"),
        ev(3314, "play.stop", "192"),
        ev(3323.5, "ws.audio"),
        ev(4000, "ctl", "release"),
        ev(4003, "ws.activity_end"),
        ev(4200, "ws.recv_audio"),
        ev(4296, "play.start", "960"),
        ev(4800, "play.stop", "100"),
    ]


def test_each_series_pairs_the_events_the_method_names() -> None:
    # The first turn's release -> activityEnd is 2 ms; the barge-in turn's 3 ms, and so on.
    got = latencies([*cold_turn(), *warm_barge_in_turn()])
    assert got.release_to_activity_end_ms == pytest.approx([2.0, 3.0])
    assert got.cold_press_to_setup_complete_ms == pytest.approx([11.0])
    assert got.warm_press_to_first_frame_ms == pytest.approx([3.5])
    # First reply audio after each activityEnd -> the next play.start.
    assert got.reply_to_device_ms == pytest.approx([90.0, 96.0])
    # The only press while audible: 3300 -> the play.stop at 3314.
    assert got.barge_in_to_silence_ms == pytest.approx([14.0])


def test_a_missing_trace_point_leaves_its_series_empty() -> None:
    events = [e for e in cold_turn() + warm_barge_in_turn() if e.name != "ws.activity_end"]
    got = latencies(events)
    assert got.release_to_activity_end_ms == []
    assert got.reply_to_device_ms == []  # measured from the turn's activityEnd on
    assert got.cold_press_to_setup_complete_ms == pytest.approx([11.0])


def test_an_event_after_the_next_press_belongs_to_another_turn() -> None:
    # A release whose activityEnd never came, then a new press and its activityEnd: the
    # second activityEnd must not be paired with the first release.
    events = [
        ev(0, "ctl", "release"),
        ev(500, "ctl", "press"),
        ev(501, "ws.audio"),
        ev(900, "ctl", "release"),
        ev(905, "ws.activity_end"),
    ]
    assert latencies(events).release_to_activity_end_ms == pytest.approx([5.0])


def test_a_reply_cut_before_it_played_is_left_out() -> None:
    events = [
        ev(0, "ctl", "release"),
        ev(1, "ws.activity_end"),
        ev(200, "ws.recv_audio"),
        ev(250, "ctl", "press"),  # before any play.start
        ev(251, "ws.audio"),
        ev(300, "play.start", "960"),
    ]
    assert latencies(events).reply_to_device_ms == []


def test_a_press_in_silence_is_no_barge_in() -> None:
    events = [
        ev(0, "play.start", "960"),
        ev(100, "play.stop", "10"),
        ev(200, "ctl", "press"),
        ev(201, "ws.audio"),
        ev(900, "play.stop", "5"),
    ]
    got = latencies(events)
    assert got.barge_in_to_silence_ms == []
    assert got.warm_press_to_first_frame_ms == pytest.approx([1.0])


def test_trace_lines_parse_and_bad_ones_are_counted() -> None:
    data = b"ctl 12.500000 press\nws.audio 12.520000\nnot-a-time x\n\nplay.start 13.0 960\n"
    events, bad = parse_lines(data)
    assert events == [
        Event(12.5, "ctl", "press"),
        Event(12.52, "ws.audio", ""),
        Event(13.0, "play.start", "960"),
    ]
    assert bad == 1
