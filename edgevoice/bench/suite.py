"""`edgevoice bench` (no benchmark named): every figure of issue #11 in one run and one table.

1. The resampler against soxr HQ and a stateful scipy baseline (edgevoice.bench.resampler; its
   object goes under `resampler` in the JSON).
2. The real daemon against the simulator (edgevoice.bench.live_run): latencies over at least
   50 turns (median, p95), CPU in full duplex and idle, RSS after 10 minutes of turns, startup
   to READY=1.

`--quick` (for CI and checks): 12 turns and 1 minute instead of 10, 10 s idle windows, one
start, 5 s of resampler signal. `--json` prints one JSON object instead of the table.

Exit status: 0 when every target is met, 1 when one is missed (or the run failed: the reason
is one line on stderr), 2 on a missing development dependency (soxr, scipy), 69 when the rig's
tools are missing (`make deps`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import sys
from typing import Any

from edgevoice.bench import resampler
from edgevoice.bench.live_run import LiveOptions, LiveResults, run_live
from edgevoice.bench.methods import MissingDependency
from edgevoice.bench.report import figures, render
from edgevoice.redact import printable
from edgevoice.rig.daemon import DaemonError
from edgevoice.rig.host import RigError, ToolsMissing

EX_OK = 0
EX_FAILED = 1
EX_USAGE = 2
EX_UNAVAILABLE = 69

FULL = LiveOptions(min_turns=50, turns_s=600.0, idle_window_s=30.0, ready_starts=3)
QUICK = LiveOptions(min_turns=12, turns_s=60.0, idle_window_s=10.0, ready_starts=1)
RESAMPLER_SECONDS = {False: 60.0, True: 5.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object, no table")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a shorter run for CI and checks: 12 turns, 1 minute instead of 10",
    )


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), or the platform's word for it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return printable(value.strip(), 80)
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


def _progress(text: str) -> None:
    print(f"edgevoice bench: {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    quick = bool(args.quick)
    seconds = RESAMPLER_SECONDS[quick]
    _progress(f"resampler ({seconds:g} s of signal per method)")
    try:
        resampled = resampler.run_benchmark(seconds)
    except MissingDependency as error:
        print(f"edgevoice bench: {error}", file=sys.stderr)
        return EX_USAGE
    options = QUICK if quick else FULL
    live = LiveOptions(
        min_turns=options.min_turns,
        turns_s=options.turns_s,
        idle_window_s=options.idle_window_s,
        ready_starts=options.ready_starts,
        progress=_progress,
    )
    try:
        results: LiveResults = asyncio.run(run_live(live))
    except ToolsMissing as exc:
        print(f"edgevoice bench: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    except DaemonError as exc:
        print(f"edgevoice bench: FAILED: {printable(exc.summary, 300)}", file=sys.stderr)
        for line in exc.log.splitlines()[-15:]:
            print(f"    {printable(line, 300)}", file=sys.stderr)
        return EX_FAILED
    except (RigError, OSError, TimeoutError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"edgevoice bench: FAILED: {printable(first, 300)}", file=sys.stderr)
        return EX_FAILED
    report = figures(
        results,
        json.loads(resampler.to_json(resampled)),
        quick=quick,
        machine=machine(),
        resampler_passes=resampler.edgevoice_passes(resampled),
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report, resampler.render_table(resampled, seconds, 20.0)))
    return EX_OK if report["pass"] else EX_FAILED
