"""The voice trigger's gate (edgevoice.audio.vad_gate): hysteresis, pre-roll, minimum utterance,
maximum length and reset, as pure unit tests over numbered frames, plus Hypothesis properties
checked against a batch re-statement of the rules over the whole flag sequence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgevoice.audio.vad_gate import (
    Ended,
    GateEvent,
    GateState,
    GateTiming,
    PrerollRing,
    Rejected,
    Speech,
    Triggered,
    VoiceGate,
)

FRAME_BYTES = 640  # 20 ms at 16 kHz, int16


def frame(i: int) -> bytes:
    """Frame number i: its number in the first four bytes, so the tests can follow it."""
    return i.to_bytes(4, "little") + bytes(FRAME_BYTES - 4)


def index(f: bytes) -> int:
    return int.from_bytes(f[:4], "little")


# 3 frames of onset, 10 of speech for a turn, 5 of silence to end, 5 of pre-roll, 50 at most.
TIMING = GateTiming(onset_ms=60, min_utterance_ms=200, end_ms=100, preroll_ms=100, max_turn_ms=1000)
S, N = True, False  # speech, no speech


def flags(*runs: tuple[bool, int]) -> list[bool]:
    out: list[bool] = []
    for value, count in runs:
        out += [value] * count
    return out


@dataclass
class Fed:
    """What feeding a gate produced: each event with the frame number that caused it."""

    events: list[tuple[int, GateEvent]]

    def kinds(self) -> list[tuple[int, str]]:
        return [(i, type(e).__name__) for i, e in self.events]

    def sent(self) -> list[int]:
        """Frame numbers handed out for sending, in order."""
        out: list[int] = []
        for _, event in self.events:
            match event:
                case Triggered(preroll=preroll):
                    out += [index(f) for f in preroll]
                case Speech(frame=f):
                    out.append(index(f))
        return out

    def of(self, kind: type) -> list[tuple[int, GateEvent]]:
        return [(i, e) for i, e in self.events if isinstance(e, kind)]


def feed(gate: VoiceGate, speech: Sequence[bool], start: int = 0) -> Fed:
    events: list[tuple[int, GateEvent]] = []
    for i, flag in enumerate(speech, start):
        events += [(i, e) for e in gate.feed(frame(i), flag)]
    return Fed(events)


# --------------------------------------------------------------------------------------------
# Nothing before a trigger; a cough or a door does not become a turn


def test_silence_hands_out_nothing() -> None:
    gate = VoiceGate(TIMING)
    assert feed(gate, [N] * 500).events == []
    assert gate.state is GateState.IDLE


def test_a_door_shorter_than_the_onset_is_not_even_a_candidate() -> None:
    gate = VoiceGate(TIMING)
    fed = feed(gate, flags((N, 10), (S, 2), (N, 20), (S, 1), (N, 1), (S, 2), (N, 20)))
    assert fed.events == []


def test_a_cough_is_rejected_and_nothing_of_it_is_handed_out() -> None:
    gate = VoiceGate(TIMING)
    # 5 frames (100 ms) of speech: past the onset (3), short of a turn (10).
    fed = feed(gate, flags((N, 10), (S, 5), (N, 30)))
    # The candidate dies on the 5th silent frame after the cough (index 15 + 4).
    assert fed.kinds() == [(19, "Rejected")]
    assert fed.of(Rejected)[0][1] == Rejected("too_short")
    assert fed.sent() == []
    assert gate.state is GateState.IDLE


def test_sporadic_noise_never_adds_up_to_a_turn() -> None:
    # An onset, then one speech-flagged frame in four: the pauses are all shorter than end_ms,
    # yet the speech never reaches min_utterance within min_utterance + end (15 frames).
    gate = VoiceGate(TIMING)
    noise = flags((S, 3)) + flags((N, 3), (S, 1)) * 10
    fed = feed(gate, noise)
    # 15 frames after the onset (0) is frame 14, a speech frame; the next, silent, one ends it.
    assert fed.kinds() == [(15, "Rejected")]
    assert fed.sent() == []


def test_exactly_min_utterance_of_speech_is_a_turn_and_one_frame_less_is_not() -> None:
    short = feed(VoiceGate(TIMING), flags((S, 9), (N, 10)))
    assert short.kinds() == [(13, "Rejected")]
    enough = feed(VoiceGate(TIMING), flags((S, 10), (N, 10)))
    assert enough.kinds()[0] == (9, "Triggered")


# --------------------------------------------------------------------------------------------
# A turn: pre-roll, speech, end of speech


def test_an_utterance_is_one_turn_with_its_pre_roll_and_trailing_silence() -> None:
    gate = VoiceGate(TIMING)
    fed = feed(gate, flags((N, 20), (S, 15), (N, 10)))
    # Onset at 20; the 10th speech frame (29) triggers; the 5th silent frame (39) ends it.
    assert [k for k in fed.kinds() if k[1] != "Speech"] == [(29, "Triggered"), (39, "Ended")]
    (_, triggered), (_, ended) = fed.of(Triggered)[0], fed.of(Ended)[0]
    assert isinstance(triggered, Triggered)
    assert [index(f) for f in triggered.preroll] == list(range(15, 30))  # 5 frames before 20
    assert ended == Ended("silence")
    assert fed.sent() == list(range(15, 40))  # every frame from the pre-roll to the end
    assert gate.state is GateState.IDLE and not gate.in_turn


def test_nothing_is_lost_from_the_pre_roll_at_the_very_start() -> None:
    fed = feed(VoiceGate(TIMING), flags((S, 12)))
    [(_, triggered)] = fed.of(Triggered)
    assert isinstance(triggered, Triggered)
    assert [index(f) for f in triggered.preroll] == list(range(10))


def test_the_pre_roll_keeps_what_a_too_short_run_before_the_onset_held() -> None:
    # A run of 2 speech frames (no onset), a pause, then the utterance: the short run is history
    # and lands in the pre-roll like any other frame.
    fed = feed(VoiceGate(TIMING), flags((N, 10), (S, 2), (N, 2), (S, 10)))
    [(_, triggered)] = fed.of(Triggered)
    assert isinstance(triggered, Triggered)
    assert [index(f) for f in triggered.preroll] == list(range(9, 24))


def test_a_turn_right_after_a_rejected_cough_keeps_the_cough_as_pre_roll() -> None:
    fed = feed(VoiceGate(TIMING), flags((N, 5), (S, 4), (N, 5), (S, 10)))
    assert [k[1] for k in fed.kinds()][:2] == ["Rejected", "Triggered"]
    [(_, triggered)] = fed.of(Triggered)
    assert isinstance(triggered, Triggered)
    # Onset at 14: the 5 frames before it (9..13) are the rejected candidate's silent tail.
    assert [index(f) for f in triggered.preroll] == list(range(9, 24))


def test_pauses_shorter_than_end_ms_do_not_split_a_candidate_or_a_turn() -> None:
    speech = flags((S, 4), (N, 4), (S, 6), (N, 4), (S, 3), (N, 4), (S, 1), (N, 5))
    fed = feed(VoiceGate(TIMING), speech)
    assert [k[1] for k in fed.kinds() if k[1] != "Speech"] == ["Triggered", "Ended"]
    assert fed.sent() == list(range(len(speech)))


def test_the_next_turn_never_repeats_frames_of_the_last_one() -> None:
    gate = VoiceGate(TIMING)
    first = feed(gate, flags((S, 12), (N, 5)))
    assert first.sent() == list(range(17))
    second = feed(gate, flags((N, 1), (S, 12), (N, 5)), start=17)
    # Onset at 18: only frame 17 lies between the end of the last turn and the onset.
    assert second.sent() == list(range(17, 35))


def test_each_event_type_matches_by_pattern() -> None:
    # The app dispatches with `match`: every event is a frozen dataclass with a field pattern.
    descriptions = []
    for _, event in feed(VoiceGate(TIMING), flags((S, 10), (N, 5))).events:
        match event:
            case Triggered(preroll=p):
                descriptions.append(f"start {len(p)}")
            case Speech():
                descriptions.append("frame")
            case Ended(reason=reason):
                descriptions.append(reason)
            case Rejected(reason=reason):
                descriptions.append(reason)
    assert descriptions == ["start 10", *["frame"] * 5, "silence"]


# --------------------------------------------------------------------------------------------
# Maximum length


def test_a_turn_ends_at_max_turn_ms_from_the_onset() -> None:
    gate = VoiceGate(TIMING)
    fed = feed(gate, flags((N, 8), (S, 100)))
    ends = fed.of(Ended)
    assert [(i, e) for i, e in ends] == [(57, Ended("max_length"))]  # onset 8 + 50 frames - 1
    assert fed.sent() == list(range(3, 58))  # pre-roll 3..7, then 50 frames from the onset


def test_a_room_that_never_goes_quiet_gets_one_turn_not_an_endless_series() -> None:
    gate = VoiceGate(TIMING)
    fed = feed(gate, flags((S, 400)))
    assert [k[1] for k in fed.kinds() if k[1] != "Speech"] == ["Triggered", "Ended"]
    assert gate.state is GateState.COOLDOWN
    # Short pauses do not re-arm it; end_ms of silence does, and the next utterance is a turn
    # whose pre-roll is taken from the quiet frames (nothing after the last turn is repeated).
    more = feed(gate, flags((N, 4), (S, 20), (N, 5), (S, 12)), start=400)
    starts = more.of(Triggered)
    assert len(starts) == 1
    triggered = starts[0][1]
    assert isinstance(triggered, Triggered)
    assert [index(f) for f in triggered.preroll] == list(range(424, 439))  # onset 429, trigger 438


# --------------------------------------------------------------------------------------------
# reset(): half duplex and mute


def test_reset_drops_a_candidate_and_the_pre_roll() -> None:
    gate = VoiceGate(TIMING)
    feed(gate, flags((N, 10), (S, 5)))
    assert gate.state is GateState.CANDIDATE
    gate.reset()
    assert gate.state is GateState.IDLE
    fed = feed(gate, flags((S, 10)), start=15)
    [(_, triggered)] = fed.of(Triggered)
    assert isinstance(triggered, Triggered)
    assert [index(f) for f in triggered.preroll] == list(range(15, 25))  # nothing from before


def test_reset_drops_an_open_turn_without_an_end() -> None:
    gate = VoiceGate(TIMING)
    feed(gate, flags((S, 12)))
    assert gate.in_turn
    gate.reset()
    assert not gate.in_turn
    assert feed(gate, [N] * 20, start=12).events == []


def test_reset_during_the_cooldown_re_arms_the_gate() -> None:
    gate = VoiceGate(TIMING)
    feed(gate, [S] * 60)
    assert gate.state is GateState.COOLDOWN
    gate.reset()
    assert [k[1] for k in feed(gate, [S] * 10, start=60).kinds()] == ["Triggered"]


# --------------------------------------------------------------------------------------------
# Input checks


def test_a_frame_of_the_wrong_length_is_refused_and_changes_nothing() -> None:
    gate = VoiceGate(TIMING)
    feed(gate, flags((S, 5)))
    for bad in (b"", bytes(639), bytes(641), bytes(1280)):
        with pytest.raises(ValueError, match=r"640 bytes"):
            gate.feed(bad, True)
    assert gate.state is GateState.CANDIDATE
    assert [k[1] for k in feed(gate, flags((S, 5)), start=5).kinds()] == ["Triggered"]


def test_another_rate_takes_frames_of_its_own_length() -> None:
    gate = VoiceGate(TIMING, rate=8000)
    assert gate.frame_bytes == 320
    with pytest.raises(ValueError, match="whole number of samples"):
        VoiceGate(GateTiming(frame_ms=10), rate=44_100 + 1)


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"onset_ms": 0}, "onset_ms"),
        ({"end_ms": 0}, "end_ms"),
        ({"preroll_ms": -20}, "preroll_ms"),
        ({"min_utterance_ms": 40, "onset_ms": 60}, "min_utterance_ms"),
        ({"max_turn_ms": 980, "min_utterance_ms": 300, "end_ms": 700}, "max_turn_ms"),
        # Equal in ms, one frame short once each is rounded up to whole frames.
        ({"max_turn_ms": 962, "min_utterance_ms": 281, "end_ms": 681}, "max_turn_ms"),
        ({"onset_ms": 60.5}, "onset_ms"),
        ({"onset_ms": True}, "onset_ms"),
        ({"frame_ms": 0}, "frame_ms"),
    ],
)
def test_bad_timing_names_the_parameter(fields: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        GateTiming(**fields)  # type: ignore[arg-type]


def test_durations_round_up_to_whole_frames() -> None:
    timing = GateTiming(onset_ms=41, min_utterance_ms=41, end_ms=21, preroll_ms=1, max_turn_ms=1000)
    fed = feed(VoiceGate(timing), flags((N, 4), (S, 2), (N, 1), (S, 3), (N, 2)))
    # onset 3 frames (41 ms), so the 2-frame run does not count; end 2 frames; pre-roll 1 frame.
    triggered = fed.of(Triggered)[0][1]
    assert isinstance(triggered, Triggered)
    assert [index(f) for f in triggered.preroll] == [6, 7, 8, 9]
    assert fed.kinds()[-1] == (11, "Ended")


# --------------------------------------------------------------------------------------------
# PrerollRing


def test_the_ring_keeps_the_newest_frames_in_order_and_take_empties_it() -> None:
    ring = PrerollRing(300)
    assert ring.capacity == 15
    for i in range(40):
        ring.push(frame(i))
    assert len(ring) == 15
    assert [index(f) for f in ring.take()] == list(range(25, 40))
    assert len(ring) == 0 and ring.take() == ()
    ring.push(frame(99))
    assert [index(f) for f in ring.take()] == [99]


def test_a_ring_of_zero_keeps_nothing_and_partial_frames_round_up() -> None:
    ring = PrerollRing(0)
    ring.push(frame(1))
    assert ring.take() == () and ring.capacity == 0
    assert PrerollRing(250).capacity == 13
    assert PrerollRing(30, frame_ms=10).capacity == 3
    ring = PrerollRing(40)
    ring.push(frame(1))
    ring.clear()
    assert ring.take() == ()
    with pytest.raises(ValueError, match="preroll_ms"):
        PrerollRing(-1)


# --------------------------------------------------------------------------------------------
# Properties against the batch statement of the rules


def batch_oracle(speech: Sequence[bool], t: GateTiming) -> tuple[list[int], list[str]]:
    """The frames handed out and the event kinds (Speech left out), computed over the whole
    sequence at once: find an onset, walk the candidate, walk the turn, repeat."""
    onset, min_speech, end = t.frames(t.onset_ms), t.frames(t.min_utterance_ms), t.frames(t.end_ms)
    pre, max_turn = t.frames(t.preroll_ms), t.frames(t.max_turn_ms)
    n = len(speech)
    sent: list[int] = []
    kinds: list[str] = []
    i = boundary = 0
    cooldown = False
    while i < n:
        if cooldown:
            quiet = next(
                (k for k in range(i + end - 1, n) if not any(speech[k - end + 1 : k + 1])), None
            )
            if quiet is None:
                break
            i, cooldown = quiet + 1, False
            continue
        first = next((j for j in range(i, n - onset + 1) if all(speech[j : j + onset])), None)
        if first is None:
            break
        k, said, silent, outcome = first + onset - 1, onset, 0, ""
        if said >= min_speech:
            outcome = "trigger"
        while not outcome and k + 1 < n:
            k += 1
            if speech[k]:
                said, silent = said + 1, 0
                outcome = "trigger" if said >= min_speech else ""
            else:
                silent += 1
                if silent >= end or k - first + 1 >= min_speech + end:
                    outcome = "reject"
        if not outcome:
            break
        if outcome == "reject":
            kinds.append("Rejected")
            i = k + 1
            continue
        kinds.append("Triggered")
        sent += range(max(boundary, first - pre), k + 1)
        reason = "max_length" if k - first + 1 >= max_turn else ""
        silent = 0
        while not reason and k + 1 < n:
            k += 1
            sent.append(k)
            silent = 0 if speech[k] else silent + 1
            if silent >= end:
                reason = "silence"
            elif k - first + 1 >= max_turn:
                reason = "max_length"
        if not reason:
            break
        kinds.append("Ended")
        boundary = i = k + 1
        cooldown = reason == "max_length"
    return sent, kinds


runs = st.lists(st.tuples(st.booleans(), st.integers(1, 40)), max_size=40).map(
    lambda rs: [value for value, count in rs for _ in range(count)]
)
timings = st.builds(
    lambda onset, extra, end, pre, turn: GateTiming(
        onset_ms=onset,
        min_utterance_ms=onset + extra,
        end_ms=end,
        preroll_ms=pre,
        max_turn_ms=onset + extra + end + 40 + turn,  # + 40: two frames of rounding
    ),
    st.integers(1, 120),
    st.integers(0, 400),
    st.integers(1, 400),
    st.integers(0, 400),
    st.integers(1, 1500),
)


@settings(max_examples=300, deadline=None)
@given(speech=runs, timing=timings)
def test_the_gate_follows_the_batch_statement_of_its_rules(
    speech: list[bool], timing: GateTiming
) -> None:
    fed = feed(VoiceGate(timing), speech)
    sent, kinds = batch_oracle(speech, timing)
    assert fed.sent() == sent
    assert [k for _, k in fed.kinds() if k != "Speech"] == kinds


@settings(max_examples=300, deadline=None)
@given(speech=runs, timing=timings, resets=st.sets(st.integers(0, 600), max_size=4))
def test_invariants_hold_with_resets_anywhere(
    speech: list[bool], timing: GateTiming, resets: set[int]
) -> None:
    gate = VoiceGate(timing)
    events: list[tuple[int, GateEvent]] = []
    max_turn = timing.frames(timing.max_turn_ms)
    pre = timing.frames(timing.preroll_ms)
    candidate = timing.frames(timing.min_utterance_ms) + timing.frames(timing.end_ms)
    open_since: int | None = None
    for i, flag in enumerate(speech):
        if i in resets:
            gate.reset()
            open_since = None
        fresh = [(i, e) for e in gate.feed(frame(i), flag)]
        events += fresh
        assert gate.in_turn is (gate.state is GateState.OPEN)
        for _, event in fresh:
            match event:
                case Triggered(preroll=preroll):
                    assert open_since is None
                    numbers = [index(f) for f in preroll]
                    assert numbers == list(range(numbers[0], i + 1))  # contiguous up to now
                    assert sum(speech[n] for n in numbers) >= timing.frames(timing.min_utterance_ms)
                    assert len(numbers) <= pre + candidate  # the pre-roll and the candidate
                    open_since = numbers[0]
                case Speech(frame=f):
                    assert open_since is not None and index(f) == i
                case Ended():
                    assert open_since is not None
                    assert i - open_since + 1 <= pre + max_turn
                    open_since = None
                case Rejected():
                    assert open_since is None
    sent = Fed(events).sent()
    # Each frame is handed out at most once, in order.
    assert sent == sorted(set(sent))
    if not any(speech):
        assert events == []
