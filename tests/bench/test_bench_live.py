"""The live bench end to end, shortened: the real daemon on the rig's real-time devices against
the simulator. Every figure must come out measured (a trace point missing in the daemon, a key
missing, a window that measured nothing fails here); the numbers themselves are not judged
(the machine is shared): `edgevoice bench` judges them."""

from __future__ import annotations

import asyncio
import math
import os

import pytest

from edgevoice.bench.latency import KEYS
from edgevoice.bench.live_run import LiveOptions, run_live
from edgevoice.bench.report import figures
from edgevoice.rig.host import missing_tools

HANG_GUARD_S = 300.0


def require_tools() -> None:
    missing = missing_tools()
    if missing and not os.environ.get("EDGEVOICE_E2E_REQUIRED"):
        pytest.skip(f"the live bench needs {', '.join(missing)}: make deps")


@pytest.mark.slow
async def test_a_short_live_run_measures_every_figure() -> None:
    require_tools()
    lines: list[str] = []
    # Turn 0 is cold, 1 and 3 barge in, 2 is warm: every kind of press is in it.
    options = LiveOptions(
        min_turns=4, turns_s=0, idle_window_s=1.0, ready_starts=2, progress=lines.append
    )
    async with asyncio.timeout(HANG_GUARD_S):
        results = await run_live(options)
    assert results.problems == []
    assert results.turns == 4 and results.turns_answered == 4
    series = results.latency.series()
    wanted = {
        "release_to_activity_end_ms": 4,
        "warm_press_to_first_frame_ms": 3,
        "reply_to_device_ms": 4,
        "barge_in_to_silence_ms": 1,
        "cold_press_to_setup_complete_ms": 1,
    }
    for key in KEYS:
        values = series[key]
        assert len(values) >= wanted[key], (key, values)
        # Each is a span between two events in order: positive, finite, under the hang guard.
        assert all(0 <= v < 20_000 and math.isfinite(v) for v in values), (key, values)
    assert len(results.ready_s) == 2 and all(0 < s < 30 for s in results.ready_s)
    assert results.jitter_buffer_ms == 100 and results.device_period_ms == 20  # the defaults
    for w in (results.full_duplex, results.idle_connected, results.idle_unconnected):
        assert w is not None and w.wall_s > 0 and w.cpu_s > 0
    assert results.device_floor_percent is not None and results.device_floor_percent > 0
    assert results.rss_mb > 0 and results.trace_bad_lines == 0
    report = figures(results, {}, quick=True, machine={}, resampler_passes=None)
    for key in KEYS:
        assert report["latency"][key]["median"] is not None, key
    assert None not in (
        report["cpu"]["full_duplex_ms_per_audio_s"],
        report["cpu"]["idle_percent"]["connected"],
        report["cpu"]["idle_percent"]["unconnected"],
        report["rss_mb"],
        report["ready_s"],
    )
    assert any("READY=1" in line for line in lines)
