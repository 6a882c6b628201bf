"""The app's parts on their own: the microphone path, the connection policy, the timers, the
latency summary, and the state store keeping the day's usage."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest

from edgevoice.adapters.state_store import JsonStateStore
from edgevoice.app.backoff import delays_from
from edgevoice.app.inputs import Input, TimerFired
from edgevoice.app.mic import MicPath
from edgevoice.app.policy import ConnectionPolicy
from edgevoice.app.session_config import live_plan
from edgevoice.app.status import Latency
from edgevoice.app.timers import Timers
from edgevoice.audio.vad_gate import GateTiming, Speech, Triggered, VoiceGate
from edgevoice.config import Config, ReconnectConfig, parse_config
from edgevoice.errors import (
    ATTENTION_RETRY_S,
    MAX_CONSECUTIVE_FAILURES,
    Action,
    ConnectError,
    SessionClosedError,
)
from edgevoice.limits import DayUsage
from edgevoice.ports import ResumptionHandle
from edgevoice.sim import VirtualClock

FRAME = 640  # 20 ms of 16 kHz int16


def frame(n: int) -> bytes:
    return bytes([n % 256]) * FRAME


# --------------------------------------------------------------------------------------------
# The microphone path


def voice_path(**kw: object) -> tuple[MicPath, list[bool]]:
    """A path whose speech detector says what the list says, frame by frame."""
    flags: list[bool] = []
    gate = VoiceGate(GateTiming(onset_ms=40, min_utterance_ms=100, end_ms=100, preroll_ms=60))
    path = MicPath(preroll_ms=100, gate=gate, is_speech=lambda _f: flags.pop(0), **kw)  # type: ignore[arg-type]
    return path, flags


def test_muted_frames_are_dropped_and_never_kept() -> None:
    path = MicPath(preroll_ms=100)
    path.set_muted(True)
    assert [path.feed(frame(i), 0.0, speaking=False) for i in range(10)] == [[]] * 10
    assert path.frames_muted == 10
    path.set_muted(False)
    assert path.start_button_turn() == ()  # nothing from the muted time is pre-roll


def test_a_button_turn_gets_the_preroll_then_every_frame() -> None:
    path = MicPath(preroll_ms=60)  # three frames
    for i in range(5):
        assert path.feed(frame(i), 0.0, speaking=False) == []
    assert path.start_button_turn() == (frame(2), frame(3), frame(4))
    assert path.feed(frame(5), 0.0, speaking=False) == [Speech(frame(5))]
    path.end_turn()
    assert path.feed(frame(6), 0.0, speaking=False) == []
    assert path.take_preroll() == (frame(6),)  # the next pre-roll starts after the turn


def test_the_voice_gate_triggers_and_nothing_is_handed_out_before() -> None:
    path, flags = voice_path()
    flags += [False] * 3 + [True] * 5
    events = [path.feed(frame(i), 0.0, speaking=False) for i in range(8)]
    assert events[:7] == [[]] * 7  # a candidate: held back
    (triggered,) = events[7]
    assert isinstance(triggered, Triggered) and len(triggered.preroll) == 3 + 5


def test_half_duplex_deafens_the_gate_while_speaking_and_for_the_tail() -> None:
    path, flags = voice_path(half_duplex=True, echo_tail_s=0.3)
    flags += [True] * 30
    for i in range(10):  # the device speaks: its own voice must not trigger a turn
        assert path.feed(frame(i), 1.0, speaking=True) == []
    path.speaking_ended(now=1.0)
    for i in range(10):  # the echo tail
        assert path.feed(frame(i), 1.2, speaking=False) == []
    events = [path.feed(frame(i), 1.4, speaking=False) for i in range(10)]
    assert any(isinstance(e, Triggered) for batch in events for e in batch)


def test_without_half_duplex_the_gate_hears_the_speaker() -> None:
    path, flags = voice_path(half_duplex=False)
    flags += [True] * 10
    events = [path.feed(frame(i), 1.0, speaking=True) for i in range(10)]
    assert any(isinstance(e, Triggered) for batch in events for e in batch)


def test_an_open_voice_turn_goes_on_while_the_device_speaks() -> None:
    path, flags = voice_path(half_duplex=True)
    flags += [True] * 12
    for i in range(5):
        path.feed(frame(i), 0.0, speaking=False)
    assert path.voice_turn
    assert path.feed(frame(9), 0.0, speaking=True) == [Speech(frame(9))]


def test_a_press_takes_over_an_open_voice_turn() -> None:
    path, flags = voice_path()
    flags += [True] * 5
    for i in range(5):
        path.feed(frame(i), 0.0, speaking=False)
    path.take_over()
    assert not path.voice_turn
    assert path.feed(frame(7), 0.0, speaking=False) == [Speech(frame(7))]  # no flag consumed


# --------------------------------------------------------------------------------------------
# The connection policy


def policy(
    tmp_path: Path, handle: ResumptionHandle | None = None, **kw: float
) -> tuple[ConnectionPolicy, JsonStateStore, list[float]]:
    now = [1_000_000.0]
    store = JsonStateStore(tmp_path, write_interval=0)
    store.load()
    result = ConnectionPolicy(
        live_plan(Config()),
        store,
        handle,
        resumption=True,
        window_s=kw.get("window_s", 7200.0),
        delays=delays_from(ReconnectConfig()),
        throttled_s=60.0,
        wall=lambda: now[0],
        clock=lambda: now[0],
    )
    return result, store, now


def test_the_next_setup_resumes_a_fresh_handle_and_forgets_an_old_one(tmp_path: Path) -> None:
    fresh, _, _ = policy(tmp_path, ResumptionHandle("h-1", 1_000_000.0 - 60))
    assert fresh.setup().resumption_handle == "h-1"
    stale, store, _ = policy(tmp_path, ResumptionHandle("h-2", 1_000_000.0 - 9000))
    assert stale.setup().resumption_handle is None
    assert store.state.resumption is None


def test_a_new_handle_is_saved_and_a_refused_one_dropped(tmp_path: Path) -> None:
    p, store, _ = policy(tmp_path)
    p.new_handle("h-9")
    assert store.state.resumption is not None and store.state.resumption.value == "h-9"
    result = p.failed(SessionClosedError(1008, "BidiGenerateContent session not found")).disposition
    assert result.action is Action.RETRY and not result.keep_handle
    assert p.handle is None and store.state.resumption is None
    assert p.last_error is not None and "session not found" in p.last_error.message


def test_a_fatal_error_refuses_connecting_until_a_restart(tmp_path: Path) -> None:
    p, _, _ = policy(tmp_path)
    result = p.failed(SessionClosedError(1007, "API key not valid. Please pass a valid API key."))
    assert result.attention
    refusal = p.refusal()
    assert refusal is not None and refusal.headline == "API key refused"
    assert p.refusal() is not None  # still: no retry_after for a bad key


def test_bounded_failures_end_in_attention_with_a_slow_retry(tmp_path: Path) -> None:
    p, _, now = policy(tmp_path)
    error = SessionClosedError(1011, "Internal error encountered.")
    for _ in range(MAX_CONSECUTIVE_FAILURES):
        assert not p.failed(error).attention
    assert p.failed(error).attention
    assert p.refusal() is not None
    now[0] += ATTENTION_RETRY_S
    assert p.refusal() is None  # one more try after the slow retry interval


def test_network_failures_never_need_attention(tmp_path: Path) -> None:
    p, _, _ = policy(tmp_path)
    for _ in range(3 * MAX_CONSECUTIVE_FAILURES):
        assert not p.failed(ConnectError("connection refused")).attention
    assert p.refusal() is None


# --------------------------------------------------------------------------------------------
# Timers and latency


async def test_timers_fire_on_virtual_time_and_a_restarted_one_only_once() -> None:
    clock = VirtualClock()
    fired: list[Input] = []
    tasks: list[asyncio.Task[None]] = []

    def spawn(work: object) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)  # type: ignore[arg-type]
        tasks.append(task)
        return task

    timers = Timers(spawn, fired.append, clock.sleep)
    timers.set("a", 10.0)
    await clock.until_sleeping(1)
    await clock.advance(5.0)
    timers.set("a", 10.0)  # restarted: fires 10 s from now, once
    timers.set("b", 1.0)
    await clock.until_sleeping(2)
    timers.cancel("b")
    await clock.advance(9.0)
    assert fired == []
    await clock.advance(1.5)
    (only,) = fired
    assert isinstance(only, TimerFired) and only.name == "a"
    assert timers.is_current(only) and not timers.running("a")
    assert not timers.is_current(TimerFired("a", 1))  # the first, cancelled one
    for task in tasks:
        task.cancel()


def test_latency_percentiles() -> None:
    latency = Latency(keep=5)
    assert latency.summary()["p50_ms"] is None
    for seconds in (0.9, 0.1, 0.5, 0.3, 0.7, 0.2):  # the first falls out of the window
        latency.add(seconds)
    assert latency.summary() == {"turns": 5, "p50_ms": 300, "p90_ms": 700, "max_ms": 700}
    latency.add(float("nan"))
    assert len(latency) == 5


# --------------------------------------------------------------------------------------------
# The day's usage in the state store


def test_the_days_usage_survives_a_restart(tmp_path: Path) -> None:
    store = JsonStateStore(tmp_path, write_interval=0)
    store.load()
    usage = DayUsage(dt.date(2026, 11, 5), 12.5, 900, 3)
    store.save_usage(usage)
    store.close()
    assert JsonStateStore(tmp_path).load().usage == usage


def test_a_bad_usage_entry_is_ignored_with_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "muted": True, "usage": {"day": "yesterday"}}))
    path.chmod(0o600)
    state = JsonStateStore(tmp_path).load()
    assert state.muted is True and state.usage is None


@pytest.mark.parametrize("mode", ["button", "voice", "both"])
def test_every_trigger_mode_makes_a_valid_config(mode: str) -> None:
    parse_config(f'[trigger]\nmode = "{mode}"\n', "t")
