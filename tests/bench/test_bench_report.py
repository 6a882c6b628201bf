"""The bench's JSON and table: every key the issue names, PASS/FAIL at each target's bound,
and a figure that could not be measured fails its target."""

from __future__ import annotations

from typing import Any

import pytest

from edgevoice.bench.latency import Latencies
from edgevoice.bench.live_run import LiveResults
from edgevoice.bench.procstat import CpuWindow
from edgevoice.bench.report import figures, render

MACHINE = {"date": "2026-11-30 02:00 UTC", "machine": "x86_64", "cpu": "Test CPU", "cores": 2}

REQUIRED = [
    "latency.release_to_activity_end_ms",
    "latency.warm_press_to_first_frame_ms",
    "latency.reply_to_device_ms",
    "latency.barge_in_to_silence_ms",
    "latency.cold_press_to_setup_complete_ms",
    "cpu.full_duplex_ms_per_audio_s",
    "cpu.idle_percent",
    "rss_mb",
    "ready_s",
    "jitter_buffer_ms",
    "device_period_ms",
    "resampler",
]


def window(cpu_s: float, wall_s: float) -> CpuWindow:
    w = CpuWindow(pid=0)
    w.cpu_s, w.wall_s = cpu_s, wall_s
    return w


def results(**changes: Any) -> LiveResults:
    """A run that meets every target (by the bounds the issue gives)."""
    r = LiveResults(
        latency=Latencies(
            release_to_activity_end_ms=[1.0, 2.0, 9.0],  # median 2 <= 5
            warm_press_to_first_frame_ms=[10.0, 20.0, 25.0],  # median 20 <= 30
            reply_to_device_ms=[90.0, 100.0, 140.0],  # median 100 <= 100 + 5
            barge_in_to_silence_ms=[10.0, 12.0, 14.0],  # p95 13.8 <= 20 + 10
            cold_press_to_setup_complete_ms=[8.0, 9.0],
        ),
        ready_s=[0.9, 1.2, 1.0],
        full_duplex=window(1.5, 100.0),  # 15 ms per s
        idle_connected=window(0.12, 30.0),  # 0.4 %
        idle_unconnected=window(0.09, 30.0),
        rss_start_mb=40.0,
        rss_mb=60.0,
        turns=3,
        turns_answered=3,
        turns_s=600.0,
        jitter_buffer_ms=100,
        device_period_ms=20,
    )
    for key, value in changes.items():
        setattr(r, key, value)
    return r


def report(r: LiveResults | None = None, resampler_passes: bool = True) -> dict[str, Any]:
    return figures(
        r or results(),
        {"48000->16000": {"edgevoice": {"xrt": 300.0}}},
        quick=False,
        machine=MACHINE,
        resampler_passes=resampler_passes,
    )


def lookup(obj: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        assert isinstance(obj, dict) and part in obj, dotted
        obj = obj[part]
    return obj


def verdict(r: dict[str, Any], key: str) -> bool:
    (found,) = [t["pass"] for t in r["targets"] if t["key"] == key]
    return bool(found)


def test_every_required_key_is_there_with_median_and_p95_for_latencies() -> None:
    r = report()
    for key in REQUIRED:
        lookup(r, key)
    for key in REQUIRED[:5]:
        entry = lookup(r, key)
        assert set(entry) >= {"median", "p95"}
    assert lookup(r, "latency.reply_to_device_ms.median") == 100.0
    assert lookup(r, "latency.barge_in_to_silence_ms.p95") == pytest.approx(13.8)
    assert lookup(r, "cpu.full_duplex_ms_per_audio_s") == pytest.approx(15.0)
    assert lookup(r, "cpu.idle_percent.connected") == pytest.approx(0.4)
    assert lookup(r, "cpu.idle_percent.unconnected") == pytest.approx(0.3)
    assert r["ready_s"] == 1.0 and r["ready_s_max"] == 1.2
    assert r["resampler"] == {"48000->16000": {"edgevoice": {"xrt": 300.0}}}


def test_a_run_within_every_bound_passes() -> None:
    r = report()
    assert [t["key"] for t in r["targets"] if not t["pass"]] == []
    assert r["pass"] is True
    assert render(r).rstrip().endswith("edgevoice bench: PASS")


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"latency": Latencies([5.0, 5.5, 6.0], [1.0], [90.0], [10.0], [])},
         "latency.release_to_activity_end_ms.median"),
        ({"latency": Latencies([1.0], [30.5], [90.0], [10.0], [])},
         "latency.warm_press_to_first_frame_ms.median"),
        ({"latency": Latencies([1.0], [1.0], [105.5], [10.0], [])},
         "latency.reply_to_device_ms.median"),
        ({"latency": Latencies([1.0], [1.0], [90.0], [10.0] * 18 + [200.0, 200.0], [])},
         "latency.barge_in_to_silence_ms.p95"),
        ({"full_duplex": window(2.1, 100.0)}, "cpu.full_duplex_ms_per_audio_s"),
        ({"idle_connected": window(0.18, 30.0)}, "cpu.idle_percent.connected"),
        ({"rss_mb": 80.5}, "rss_mb"),
        ({"ready_s": [0.5, 0.6, 1.6]}, "ready_s.max"),
    ],
)  # fmt: skip
def test_a_figure_past_its_bound_fails_that_target_and_the_run(
    changes: dict[str, Any], key: str
) -> None:
    r = report(results(**changes))
    failed = [t["key"] for t in r["targets"] if not t["pass"]]
    assert failed == [key]
    assert r["pass"] is False
    text = render(r)
    assert text.rstrip().endswith("edgevoice bench: FAIL")
    assert any(line.startswith(key) and line.endswith("FAIL") for line in text.splitlines())


def test_the_bound_itself_passes() -> None:
    r = report(results(latency=Latencies([5.0], [30.0], [105.0], [30.0], [])))
    for key in (
        "latency.release_to_activity_end_ms.median",
        "latency.warm_press_to_first_frame_ms.median",
        "latency.reply_to_device_ms.median",
        "latency.barge_in_to_silence_ms.p95",
    ):
        assert verdict(r, key), key


def test_a_bound_follows_the_jitter_buffer_and_device_period_the_daemon_used() -> None:
    lat = Latencies([1.0], [1.0], [150.0], [45.0], [])
    assert not verdict(report(results(latency=lat)), "latency.reply_to_device_ms.median")
    wider = report(results(latency=lat, jitter_buffer_ms=150, device_period_ms=40))
    assert verdict(wider, "latency.reply_to_device_ms.median")
    assert verdict(wider, "latency.barge_in_to_silence_ms.p95")


def test_nothing_measured_fails() -> None:
    r = report(LiveResults())
    assert r["latency"]["reply_to_device_ms"] == {"median": None, "p95": None, "n": 0}
    assert r["rss_mb"] is None and r["ready_s"] is None
    assert all(not t["pass"] for t in r["targets"] if t["key"] != "resampler")
    assert r["pass"] is False
    assert "FAIL" in render(r)


def test_a_problem_in_the_run_fails_it_even_within_the_bounds() -> None:
    r = report(results(problems=["turn 3: no answer played"]))
    assert all(t["pass"] for t in r["targets"])
    assert r["pass"] is False
    assert "problem: turn 3: no answer played" in render(r)


def test_a_resampler_bound_missed_fails_the_run() -> None:
    r = report(resampler_passes=False)
    assert not verdict(r, "resampler") and r["pass"] is False
