"""`edgevoice bench <name>`: run one of the built-in benchmarks (see edgevoice.bench).

`edgevoice bench resampler [--json] [--seconds 60] [--chunk-ms 20]` compares the streaming
resampler with soxr HQ and a scipy upfirdn baseline and checks the bounds it must meet.
Exit status: 0 when every bound is met, 1 when one is not, 2 on bad use or a missing
development dependency.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgevoice import bench
from edgevoice.commands._common import without_config

NAME = "bench"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="run a benchmark (resampler, ...)",
        description="Run one of the built-in benchmarks and print its results.",
    )
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
    parser.set_defaults(func=without_config(_missing_benchmark(parser), NAME))


def _missing_benchmark(parser: argparse.ArgumentParser) -> Any:
    def run(args: argparse.Namespace) -> int:
        names = ", ".join(bench.BENCHMARKS)
        print(f"edgevoice bench: name a benchmark: {names}", file=sys.stderr)
        parser.print_usage(sys.stderr)
        return 2

    return run
