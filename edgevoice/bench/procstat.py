"""CPU time and memory of another process, from /proc (Linux).

- `cpu_seconds(pid)`: user + system CPU time of every thread of the process so far
  (/proc/<pid>/stat fields utime and stime, in clock ticks: 1/100 s on Linux, so a window must
  be long enough for the ticks to count: 10 s at 0.5 % is 5 ticks);
- `rss_mb(pid)`: its resident set (VmRSS of /proc/<pid>/status), in MB (10^6 bytes);
- `CpuWindow`: CPU time over a stretch of wall time, as ms per s and percent of one core.

Raises ProcessGone when the process has exited (its /proc entry is gone).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


class ProcessGone(RuntimeError):
    """The process measured has exited."""


def _read(pid: int, name: str, proc: Path) -> str:
    try:
        return (proc / str(pid) / name).read_text()
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessGone(f"process {pid} has exited") from None


def parse_stat_cpu(text: str, ticks_per_s: int = TICKS_PER_S) -> float:
    """utime + stime in seconds from the text of /proc/<pid>/stat.

    The command name (field 2) is in parentheses and may hold spaces or parentheses itself:
    the fields are counted from the last ')'."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(rest[11]) + int(rest[12])) / ticks_per_s


def parse_status_rss_mb(text: str) -> float:
    """VmRSS of the text of /proc/<pid>/status in MB (10^6 bytes; the file's "kB" are KiB).
    ValueError when absent."""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise ValueError("no VmRSS line (a kernel thread or a zombie?)")


def cpu_seconds(pid: int, proc: Path = Path("/proc")) -> float:
    return parse_stat_cpu(_read(pid, "stat", proc))


def rss_mb(pid: int, proc: Path = Path("/proc")) -> float:
    return parse_status_rss_mb(_read(pid, "status", proc))


@dataclass
class CpuWindow:
    """CPU time of `pid` over wall time: `start()`, ..., `stop()`; several stretches add up
    (`start()`/`stop()` again)."""

    pid: int
    clock: Callable[[], float] = time.monotonic
    cpu_s: float = 0.0
    wall_s: float = 0.0
    _cpu0: float | None = None
    _wall0: float = 0.0

    def start(self) -> None:
        self._cpu0 = cpu_seconds(self.pid)
        self._wall0 = self.clock()

    def stop(self) -> None:
        if self._cpu0 is None:
            return
        self.cpu_s += cpu_seconds(self.pid) - self._cpu0
        self.wall_s += self.clock() - self._wall0
        self._cpu0 = None

    @property
    def ms_per_s(self) -> float:
        """CPU milliseconds per second of wall time (NaN before any stretch)."""
        return self.cpu_s * 1000.0 / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def percent(self) -> float:
        """Percent of one core."""
        return self.ms_per_s / 10.0
