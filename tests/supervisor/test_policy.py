"""The backoff and the connection policy on their own (no sockets, no tasks): delays that grow,
are jittered within their bounds and stop at the cap; the run of failures reset by a stable
connection; quota waits long; a refused handle retries at once without it; fallback models in
order, said once each."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest

from edgevoice.adapters.state_store import JsonStateStore
from edgevoice.app.backoff import backoff, delays_from
from edgevoice.app.policy import ConnectionPolicy
from edgevoice.app.session_config import live_plan
from edgevoice.config import ReconnectConfig, parse_config
from edgevoice.errors import (
    ATTENTION_RETRY_S,
    MAX_CONSECUTIVE_FAILURES,
    ConnectError,
    SessionClosedError,
)
from edgevoice.ports import ResumptionHandle

REFUSED = ConnectError("connection to 127.0.0.1:9 refused: nothing listens there; check ...")
NOT_FOUND = SessionClosedError(
    1008,
    "models/gemini-3.8-live is not found for API version v1beta, or is not supported for "
    "bidiGenerateContent. Call ListModels",
)
INTERNAL = SessionClosedError(1011, "Internal error encountered.")


def test_delays_grow_by_the_multiplier_up_to_the_cap() -> None:
    top = backoff(0.5, 30.0, 2.0, 1.0, random=lambda: 0.0)  # no jitter drawn: the bounds
    assert list(itertools.islice(top, 9)) == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


@pytest.mark.parametrize("jitter", [0.0, 0.2, 1.0])
def test_every_delay_is_jittered_within_its_bound(jitter: float) -> None:
    draws = itertools.cycle([0.0, 0.25, 0.5, 0.999])
    delays = list(itertools.islice(backoff(0.5, 8.0, 2.0, jitter, random=lambda: next(draws)), 40))
    bounds = [min(8.0, 0.5 * 2**n) for n in range(40)]
    for delay, bound in zip(delays, bounds, strict=True):
        assert bound * (1 - jitter) - 1e-9 <= delay <= bound + 1e-9
    if jitter:
        assert len({round(d / b, 6) for d, b in zip(delays, bounds, strict=True)}) > 1


def test_full_jitter_spreads_devices_that_failed_together() -> None:
    import random

    rng = random.Random(7)
    firsts = [next(backoff(0.5, 30.0, 2.0, 1.0, random=rng.random)) for _ in range(200)]
    assert min(firsts) < 0.1 and max(firsts) > 0.4  # all over [0, 0.5]
    assert all(0 <= d <= 0.5 for d in firsts)


def test_bad_backoff_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        next(backoff(float("nan"), 30.0))
    with pytest.raises(ValueError):
        next(backoff(0.5, 30.0, jitter=1.5))


def policy(
    tmp_path: Path,
    text: str = "",
    *,
    handle: ResumptionHandle | None = None,
    random: float = 0.5,
) -> tuple[ConnectionPolicy, JsonStateStore, list[float]]:
    now = [1_000_000.0]
    config = parse_config(text, "test")
    store = JsonStateStore(tmp_path, write_interval=0)
    store.load()
    result = ConnectionPolicy(
        live_plan(config),
        store,
        handle,
        resumption=True,
        window_s=config.live.resumption_window,
        delays=delays_from(config.reconnect, random=lambda: random),
        throttled_s=config.reconnect.throttled_delay,
        wall=lambda: now[0],
        clock=lambda: now[0],
    )
    return result, store, now


def test_failures_in_a_row_back_off_and_a_stable_connection_resets_them(tmp_path: Path) -> None:
    p, _, now = policy(tmp_path)
    delays = [p.failed(REFUSED).delay for _ in range(4)]
    assert delays == [0.25, 0.5, 1.0, 2.0]  # half of each bound (random pinned at 0.5)
    assert p.attempt == 4
    assert p.wait_left() == pytest.approx(2.0)
    now[0] += 1.5
    assert p.wait_left() == pytest.approx(0.5)
    p.connected()
    assert p.wait_left() == 0.0
    p.stable()
    assert p.attempt == 0
    assert p.failed(REFUSED).delay == 0.25  # the backoff starts over


def test_a_connection_that_is_not_stable_does_not_reset_the_backoff(tmp_path: Path) -> None:
    p, _, _ = policy(tmp_path)
    p.failed(REFUSED)
    p.failed(REFUSED)
    p.connected()  # up, but it failed again before reconnect.stable_after
    assert p.failed(REFUSED).delay == 1.0


def test_a_quota_refusal_waits_the_throttled_delay_on_top(tmp_path: Path) -> None:
    p, _, _ = policy(tmp_path, "[reconnect]\nthrottled_delay = 120\n")
    quota = SessionClosedError(1011, "You exceeded your current quota, please check your plan.")
    verdict = p.failed(quota)
    assert verdict.delay == 120.25 and not verdict.attention
    assert p.wait_left() == pytest.approx(120.25)


def test_a_refused_handle_retries_at_once_without_it(tmp_path: Path) -> None:
    p, store, _ = policy(tmp_path, handle=ResumptionHandle("h-old", 1_000_000.0 - 60))
    assert p.setup().resumption_handle == "h-old"
    verdict = p.failed(SessionClosedError(1008, "BidiGenerateContent session not found"))
    assert verdict.delay == 0.0 and not verdict.disposition.keep_handle
    assert p.setup().resumption_handle is None and store.state.resumption is None
    assert p.wait_left() == 0.0


def test_bounded_failures_need_attention_then_retry_slowly(tmp_path: Path) -> None:
    p, _, now = policy(tmp_path)
    for _ in range(MAX_CONSECUTIVE_FAILURES):
        assert not p.failed(INTERNAL).attention
    verdict = p.failed(INTERNAL)
    assert verdict.attention and verdict.delay == ATTENTION_RETRY_S
    assert p.refusal() is not None
    now[0] += ATTENTION_RETRY_S
    assert p.refusal() is None


def test_fallback_models_are_tried_in_order_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = (
        '[live]\nmodel = "gemini-3.8-live"\n'
        'fallback_models = ["gemini-3.1-flash-live-preview", '
        '"gemini-2.5-flash-native-audio-preview-12-2025"]\n'
    )
    p, _, now = policy(tmp_path, text, handle=ResumptionHandle("h-38", 1_000_000.0 - 5))
    caplog.set_level(logging.INFO, "edgevoice.policy")
    first = p.failed(NOT_FOUND)
    assert first.fallback == "gemini-3.1-flash-live-preview" and first.delay == 0.0
    assert not first.attention and p.refusal() is None
    setup = p.setup()
    assert setup.bare_model == "gemini-3.1-flash-live-preview"
    assert setup.resumption_handle is None  # the 3.8 session's handle is not the 3.1 one's
    # The fallback keeps failing (bounded): past the bound, the next model.
    for _ in range(MAX_CONSECUTIVE_FAILURES):
        assert p.failed(INTERNAL).fallback is None
    second = p.failed(INTERNAL)
    assert second.fallback == "gemini-2.5-flash-native-audio-preview-12-2025"
    # The last one not found either: nothing left, needs attention until a reload.
    last = p.failed(NOT_FOUND)
    assert last.attention and last.fallback is None
    assert p.refusal() is not None
    now[0] += 10 * ATTENTION_RETRY_S
    assert p.refusal() is not None  # "not found" waits for a person: no retry_after
    switches = [r for r in caplog.records if "switching to live.fallback_models" in r.message]
    assert len(switches) == 2
    assert "[0] gemini-3.1-flash-live-preview" in switches[0].getMessage()
    assert "[1] gemini-2.5-flash-native-audio-preview-12-2025" in switches[1].getMessage()


def test_an_expected_end_keeps_the_backoff_where_it_was(tmp_path: Path) -> None:
    p, _, _ = policy(tmp_path)
    p.failed(REFUSED)
    aborted = SessionClosedError(1008, "The operation was aborted.")
    verdict = p.ended(aborted)
    assert not verdict.counted and verdict.delay == 0.0
    assert p.attempt == 1 and p.consecutive == 0
    assert p.failed(REFUSED).delay == 0.5  # the run goes on from where it was


def test_the_default_reconnect_section_is_full_jitter() -> None:
    config = ReconnectConfig()
    assert config.jitter == 1.0
    low = delays_from(config, random=lambda: 0.999)()
    assert next(low) < 0.001  # full jitter reaches (almost) zero


FALLBACK_CONFIG = (
    '[live]\nmodel = "gemini-3.8-live"\nfallback_models = ["gemini-3.1-flash-live-preview"]\n'
)


def test_a_handle_is_saved_with_its_model_and_not_offered_to_another_after_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p, store, now = policy(tmp_path, FALLBACK_CONFIG)
    p.failed(NOT_FOUND)  # on the fallback model now
    p.new_handle("h-31")
    store.flush()
    saved = JsonStateStore(tmp_path).load().resumption
    assert saved is not None and saved.model == "gemini-3.1-flash-live-preview"
    # A restart goes back to live.model: the 3.1 session's handle would only be refused.
    caplog.set_level(logging.INFO, "edgevoice.policy")
    restarted, _, _ = policy(tmp_path / "again", FALLBACK_CONFIG, handle=saved)
    setup = restarted.setup()
    assert setup.bare_model == "gemini-3.8-live" and setup.resumption_handle is None
    assert any("was with gemini-3.1-flash-live-preview" in r.getMessage() for r in caplog.records)
    # The same model's handle (or one saved before models were recorded) is resumed.
    for model in ("gemini-3.8-live", None):
        handle = ResumptionHandle("h-38", now[0] - 5, model)
        same, _, _ = policy(tmp_path / f"same-{model}", FALLBACK_CONFIG, handle=handle)
        assert same.setup().resumption_handle == "h-38"
