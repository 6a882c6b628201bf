"""Benchmarks behind `edgevoice bench` and `edgevoice bench <name>`.

`edgevoice bench` alone runs `suite`: the resampler, then the real daemon measured from outside
(`live_run`: the rig's real-time devices, the simulator, the daemon's trace read by
`trace_read`, the figures by `latency`, `procstat` and `stats`, the table and targets by
`report`; `device_floor` is the rig's own cost). Nothing here is imported by the daemon.

Each benchmark is a module here with:

- NAME: the word after `edgevoice bench`;
- HELP: one line for `edgevoice bench --help`;
- add_arguments(parser): its options;
- run(args) -> int: runs it, prints a table (or JSON), returns the exit status.

Add one by writing the module and listing it in BENCHMARKS. Benchmarks may use development
dependencies (soxr, scipy): they import them lazily and say how to install them when missing.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType
from typing import Protocol, cast

# Benchmark name -> module, in the order `edgevoice bench --help` lists them.
BENCHMARKS: dict[str, str] = {
    "resampler": "edgevoice.bench.resampler",
}


class Benchmark(Protocol):
    NAME: str
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def load(name: str) -> Benchmark:
    """The benchmark module registered as `name` (KeyError when there is none)."""
    module: ModuleType = importlib.import_module(BENCHMARKS[name])
    return cast(Benchmark, module)
