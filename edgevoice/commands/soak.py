"""`edgevoice soak`: the real daemon against the local simulator for minutes, with faults at
random (seeded), then a report; exit 1 on any lost or doubled frame, leak, fault not recovered
from. What it does is in `edgevoice.soak`.

    edgevoice soak                        # 10 minutes, a fresh seed (printed)
    edgevoice soak --duration 60 --seed 7 # a minute, replaying seed 7's choices
    edgevoice soak --json report.json     # the report as JSON too

Needs what the demo needs (pulseaudio, pulseaudio-utils, libasound2-plugins, espeak-ng: `make
deps`; exit 69 when missing). Exit status: 0 pass, 1 fail, 2 bad option, 69 tools missing,
130/143 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from edgevoice.commands._common import until_signal, without_config
from edgevoice.rig.host import ToolsMissing, require_tools
from edgevoice.soak import FaultKind, Soak, SoakOptions

NAME = "soak"
EX_USAGE = 2
EX_UNAVAILABLE = 69


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="run the daemon against faults for minutes; fail on loss or leak",
        description=(
            "Start the built-in Live simulator and virtual real-time audio devices, run the "
            "real daemon on them, and talk to it every few seconds (button turns, voice turns, "
            "barge-ins) while faults are injected at random moments (drops, 1011, 1008, goAway, "
            "stalls, malformed frames, refused connections, the microphone unplugged). Reports "
            "turns, faults recovered from, frames sent vs received, RSS, fds and tasks; exit 1 "
            "on any loss or leak."
        ),
    )
    parser.add_argument(
        "--duration", type=float, default=600.0, metavar="S",
        help="seconds of turns and faults (default: %(default)g)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, help="replay a run's choices (its report's seed)")
    parser.add_argument(
        "--fault-rate", type=float, default=0.5, metavar="P",
        help="the chance a turn comes with a fault, 0-1 (default: %(default)g)",
    )  # fmt: skip
    parser.add_argument(
        "--faults", metavar="KIND,...",
        help="only these faults: " + ", ".join(k.value for k in FaultKind),
    )  # fmt: skip
    parser.add_argument(
        "--rss-limit", type=float, default=10.0, metavar="MB",
        help="the RSS growth (idle start -> idle end) that fails the run (default: %(default)g)",
    )  # fmt: skip
    parser.add_argument("--json", metavar="FILE", help="write the report as JSON to FILE")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs) even when it passes"
    )
    parser.set_defaults(func=without_config(run, NAME))


def options_from_args(args: argparse.Namespace) -> SoakOptions:
    """SoakOptions from the arguments; ValueError naming a bad one."""
    if not 1 <= args.duration <= 7 * 24 * 3600:
        raise ValueError(f"--duration {args.duration:g}: give 1 s to a week")
    if not 0 <= args.fault_rate <= 1:
        raise ValueError(f"--fault-rate {args.fault_rate:g}: give a fraction 0-1")
    if not args.rss_limit > 0:
        raise ValueError(f"--rss-limit {args.rss_limit:g}: give megabytes > 0")
    faults: tuple[FaultKind, ...] | None = None
    if args.faults:
        try:
            faults = tuple(FaultKind(name.strip()) for name in args.faults.split(","))
        except ValueError:
            names = ", ".join(k.value for k in FaultKind)
            raise ValueError(f"--faults {args.faults!r}: use some of {names}") from None
    return SoakOptions(
        duration_s=args.duration,
        seed=args.seed,
        fault_rate=args.fault_rate,
        faults=faults,
        rss_growth_limit_mb=args.rss_limit,
        keep=args.keep,
    )


def run(args: argparse.Namespace) -> int:
    try:
        options = options_from_args(args)
    except ValueError as error:
        print(f"edgevoice soak: {error}", file=sys.stderr)
        return EX_USAGE
    try:
        require_tools()
    except ToolsMissing as exc:
        print(f"edgevoice soak: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    json_path = Path(args.json) if args.json else None
    return asyncio.run(_main(options, json_path))


async def _main(options: SoakOptions, json_path: Path | None) -> int:
    """The soak, stopped cleanly (its teardown runs) by SIGINT or SIGTERM."""
    return await until_signal(
        _soak(options, json_path),
        lambda signum: (
            f"edgevoice soak: stopped by {signum.name}; everything it started is stopped"
        ),
    )


async def _soak(options: SoakOptions, json_path: Path | None) -> int:
    report = await Soak(options, sys.stdout).run()
    print(report.text(), flush=True)
    if json_path is not None:
        await asyncio.to_thread(json_path.write_text, report.as_json() + "\n")
    return 0 if report.passed else 1
