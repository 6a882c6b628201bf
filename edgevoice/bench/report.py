"""What `edgevoice bench` prints: the figures, their targets (issue #11), PASS/FAIL, the JSON.

`figures(results, resampler, ...)` turns one run into the JSON object (milliseconds unless the
key names another unit; each latency `{"median", "p95", "n"}`); `verdicts(report)` checks it
against TARGETS; `render(report)` is the table. No I/O here.

A figure that could not be measured (no sample: a trace point missing, a turn that never came)
is None in the JSON and fails its target: a bench that measured nothing must not pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edgevoice.bench.latency import KEYS as LATENCY_KEYS
from edgevoice.bench.live_run import LiveResults
from edgevoice.bench.stats import summary

Report = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """One target: `value(report)` is the figure checked, `limit(report)` its bound (<=)."""

    key: str  # where the checked figure is in the JSON
    text: str  # the target as the table prints it
    value: Callable[[Report], float | None]
    limit: Callable[[Report], float | None]


def _get(report: Report, *path: str) -> Any:
    node: Any = report
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _latency(key: str, stat: str) -> Callable[[Report], float | None]:
    return lambda r: _get(r, "latency", key, stat)


def _plus(key: str, extra: float) -> Callable[[Report], float | None]:
    def limit(report: Report) -> float | None:
        base = report.get(key)
        return None if base is None else float(base) + extra

    return limit


def _const(value: float) -> Callable[[Report], float | None]:
    return lambda _r: value


TARGETS: tuple[Target, ...] = (
    Target(
        "latency.release_to_activity_end_ms.median",
        "median <= 5 ms",
        _latency("release_to_activity_end_ms", "median"),
        _const(5.0),
    ),
    Target(
        "latency.warm_press_to_first_frame_ms.median",
        "median <= 30 ms",
        _latency("warm_press_to_first_frame_ms", "median"),
        _const(30.0),
    ),
    Target(
        "latency.reply_to_device_ms.median",
        "median <= jitter buffer + 5 ms",
        _latency("reply_to_device_ms", "median"),
        _plus("jitter_buffer_ms", 5.0),
    ),
    # The issue gives no statistic for this one ("<= one device period + 10 ms"): the p95 is
    # checked, the stricter of the two the bench reports.
    Target(
        "latency.barge_in_to_silence_ms.p95",
        "p95 <= device period + 10 ms",
        _latency("barge_in_to_silence_ms", "p95"),
        _plus("device_period_ms", 10.0),
    ),
    Target(
        "cpu.full_duplex_ms_per_audio_s",
        "<= 20 ms per s of audio",
        lambda r: _get(r, "cpu", "full_duplex_ms_per_audio_s"),
        _const(20.0),
    ),
    Target(
        "cpu.idle_percent.connected",
        "<= 0.5 % of a core",
        lambda r: _get(r, "cpu", "idle_percent", "connected"),
        _const(0.5),
    ),
    Target("rss_mb", "<= 80 MB", lambda r: r.get("rss_mb"), _const(80.0)),
    # Every start counts: the slowest is checked.
    Target("ready_s.max", "<= 1.5 s", lambda r: r.get("ready_s_max"), _const(1.5)),
)


def _number(value: float | None, digits: int = 3) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def figures(
    results: LiveResults,
    resampler: Mapping[str, Any] | None,
    *,
    quick: bool,
    machine: Mapping[str, Any],
    resampler_passes: bool | None,
) -> Report:
    """The JSON object of one run (see the module docstring)."""
    series = results.latency.series()
    latency = {
        key: {k: _number(v) if isinstance(v, float) else v for k, v in summary(series[key]).items()}
        for key in LATENCY_KEYS
    }

    def window(attribute: str, unit: str) -> float | None:
        w = getattr(results, attribute)
        return None if w is None else _number(getattr(w, unit))

    ready = sorted(results.ready_s)
    report: Report = {
        "machine": dict(machine),
        "quick": quick,
        "latency": latency,
        "cpu": {
            "full_duplex_ms_per_audio_s": window("full_duplex", "ms_per_s"),
            "full_duplex_window_s": window("full_duplex", "wall_s"),
            "idle_percent": {
                "connected": window("idle_connected", "percent"),
                "unconnected": window("idle_unconnected", "percent"),
            },
            "idle_window_s": window("idle_connected", "wall_s"),
            "device_floor_percent": _number(results.device_floor_percent),
        },
        "rss_mb": _number(results.rss_mb if results.rss_mb > 0 else None, 1),
        "rss_start_mb": _number(results.rss_start_mb if results.rss_start_mb > 0 else None, 1),
        "rss_after_s": _number(results.turns_s, 0),
        "ready_s": _number(ready[len(ready) // 2]) if ready else None,
        "ready_s_max": _number(ready[-1]) if ready else None,
        "ready_starts": len(ready),
        "jitter_buffer_ms": results.jitter_buffer_ms,
        "device_period_ms": results.device_period_ms,
        "turns": results.turns,
        "turns_answered": results.turns_answered,
        "trace_events": results.trace_events,
        "problems": list(results.problems),
        "resampler": dict(resampler) if resampler is not None else None,
        "resampler_passes": resampler_passes,
    }
    report["targets"] = verdicts(report)
    report["pass"] = all(t["pass"] for t in report["targets"]) and not results.problems
    return report


def verdicts(report: Report) -> list[dict[str, Any]]:
    """[{"key", "target", "value", "limit", "pass"}] for every target, plus the resampler's
    bounds when it ran."""
    found: list[dict[str, Any]] = []
    for target in TARGETS:
        value, limit = target.value(report), target.limit(report)
        ok = value is not None and limit is not None and value <= limit
        found.append(
            {"key": target.key, "target": target.text, "value": value, "limit": limit, "pass": ok}
        )
    if report.get("resampler_passes") is not None:
        found.append(
            {
                "key": "resampler",
                "target": "every bound of `edgevoice bench resampler`",
                "value": None,
                "limit": None,
                "pass": bool(report["resampler_passes"]),
            }
        )
    return found


# --------------------------------------------------------------------------------------------
# The table

LATENCY_ROWS = (
    ("release_to_activity_end_ms", "button release -> activityEnd sent"),
    ("warm_press_to_first_frame_ms", "press (warm) -> first audio frame sent"),
    ("reply_to_device_ms", "reply audio received -> handed to device"),
    ("barge_in_to_silence_ms", "barge-in press -> playback silent"),
    ("cold_press_to_setup_complete_ms", "press (cold) -> setupComplete"),
)

METHODS = (
    "Latencies: the daemon's own trace (EDGEVOICE_TRACE_SOCKET; CLOCK_MONOTONIC, one clock for",
    "  every process). 'Sent' = the frame was handed to the socket (websockets' send() returned:",
    "  the bytes are in the kernel), 'received' = the read returned, before decoding. Presses and",
    "  releases are requests on the control socket, timed when the daemon receives them;",
    "  'handed to device' / 'silent' = the PortAudio callback handed the first audible samples /",
    "  the period in which the audio ends (a fade-out, then only silence). Timing on the daemon's",
    "  side, not the simulator's: the simulator shares the bench's busy event loop, and its read",
    "  would add that loop's delay to the daemon's figure.",
    "CPU: utime+stime of the daemon process (all threads, /proc/<pid>/stat) over wall time.",
    "  Full duplex: the warm turns (press to the next turn: 48 kHz stereo capture, the voice gate,",
    "  the turn's audio sent, the reply received, resampled 24 -> 48 kHz stereo and played).",
    "  Idle: no turn, connected / no connection (capture and the voice gate still run).",
    "  Device floor: a do-nothing PortAudio client with the same two streams on the same devices",
    "  (what PortAudio and the ALSA pulse plugin of the rig cost; not the daemon's code).",
    "RSS: VmRSS of the daemon after the turns. Startup: spawn -> READY=1 on the bench's",
    "  NOTIFY_SOCKET (the slowest start is checked).",
)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render(report: Report, resampler_table: str | None = None) -> str:
    """The table `edgevoice bench` prints (resampler first, when it ran)."""
    m = report.get("machine", {})
    lines: list[str] = []
    if resampler_table:
        lines += [resampler_table, ""]
    kind = "quick run" if report.get("quick") else "full run"
    lines += [
        f"edgevoice bench ({kind}): {m.get('date', '?')}, {m.get('machine', '?')}, "
        f"{m.get('cpu', '?')} ({m.get('cores', '?')} cores), Python {m.get('python', '?')}",
        "The real daemon (`edgevoice run`) on real-time virtual audio devices (PulseAudio null "
        "sinks), against the local Live simulator on loopback.",
        f"{report.get('turns', 0)} turns ({report.get('turns_answered', 0)} answered) over "
        f"{_fmt(report.get('rss_after_s'), 0)} s; jitter buffer "
        f"{_fmt(report.get('jitter_buffer_ms'))} ms, device period "
        f"{_fmt(report.get('device_period_ms'))} ms.",
        "",
        f"{'latency (ms)':<44} {'median':>8} {'p95':>8} {'n':>5}",
    ]
    for key, label in LATENCY_ROWS:
        entry = report["latency"][key]
        lines.append(
            f"{label:<44} {_fmt(entry['median']):>8} {_fmt(entry['p95']):>8} {entry['n']:>5}"
        )
    cpu = report["cpu"]
    lines += [
        "",
        f"{'CPU, memory, startup':<44} {'value':>8}",
        f"{'full duplex (ms CPU per s of audio)':<44} {_fmt(cpu['full_duplex_ms_per_audio_s']):>8}",
        f"{'idle, connected (% of a core)':<44} {_fmt(cpu['idle_percent']['connected'], 2):>8}",
        f"{'idle, no connection (% of a core)':<44} "
        f"{_fmt(cpu['idle_percent']['unconnected'], 2):>8}",
        f"{'device floor, rig (% of a core)':<44} {_fmt(cpu.get('device_floor_percent'), 2):>8}",
        f"{'RSS after the turns (MB)':<44} {_fmt(report.get('rss_mb')):>8}",
        f"{'startup to READY=1 (s, median of starts)':<44} {_fmt(report.get('ready_s'), 3):>8}",
        "",
        f"{'target':<66} {'value':>8}  verdict",
    ]
    for t in report["targets"]:
        lines.append(
            f"{t['key'] + ': ' + t['target']:<66} {_fmt(t['value'], 2):>8}  "
            f"{'PASS' if t['pass'] else 'FAIL'}"
        )
    for problem in report.get("problems", []):
        lines.append(f"problem: {problem}")
    lines += ["", *METHODS, "", f"edgevoice bench: {'PASS' if report['pass'] else 'FAIL'}"]
    return "\n".join(lines)
