"""`edgevoice bench`: the numbers of issue #11 (see edgevoice.bench.suite), or one benchmark.

`edgevoice bench [--json] [--quick]` runs everything: the resampler, then the real daemon
against the local simulator (latencies, CPU, RSS, startup), and prints one table with PASS/FAIL
per target. `edgevoice bench resampler [--json] [--seconds 60] [--chunk-ms 20]` compares the
streaming resampler with soxr HQ and a scipy upfirdn baseline alone.
Exit status: 0 when every target (bound) is met, 1 when one is not or the run failed, 2 on bad
use or a missing development dependency, 69 when the rig's tools are missing (`make deps`).
"""

from __future__ import annotations

import argparse
from typing import Any

from edgevoice import bench
from edgevoice.bench import suite
from edgevoice.commands._common import without_config

NAME = "bench"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="measure the daemon: latency, CPU, memory, startup, the resampler",
        description=suite.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    suite.add_arguments(parser)
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK")
    for name in bench.BENCHMARKS:
        module = bench.load(name)
        child = benchmarks.add_parser(
            name,
            parents=[common],
            help=module.HELP,
            description=getattr(module, "__doc__", None) or module.HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(child)
        child.set_defaults(func=without_config(module.run, f"{NAME} {name}"))
    parser.set_defaults(func=without_config(suite.run, NAME))
