"""The daemon process's resources, read from /proc and its control socket's status.

`sample(pid, status)` is taken while the daemon is idle (no turn, no connection, nothing
playing), so two samples taken at the start and the end of a soak compare like with like:
any fd, task or thread more at the end is a leak.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Sample:
    rss_kb: int  # VmRSS
    fds: int  # open file descriptors
    threads: int
    tasks: int  # asyncio tasks (the status's "tasks"); -1 when the daemon does not report it

    def line(self) -> str:
        return (
            f"RSS {self.rss_kb / 1024:.1f} MB, {self.fds} fds, {self.threads} threads, "
            f"{self.tasks} tasks"
        )


def read_status_file(pid: int) -> dict[str, str]:
    """/proc/PID/status as a dict. Raises OSError when the process is gone."""
    fields: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def rss_kb(pid: int) -> int:
    return int(read_status_file(pid).get("VmRSS", "0 kB").split()[0])


def sample(pid: int, status: dict[str, Any]) -> Sample:
    """The daemon's resources now. Raises OSError when the process is gone."""
    fields = read_status_file(pid)
    tasks = status.get("tasks")
    return Sample(
        rss_kb=int(fields.get("VmRSS", "0 kB").split()[0]),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=int(fields.get("Threads", "0")),
        tasks=tasks if isinstance(tasks, int) else -1,
    )


def fd_targets(pid: int) -> list[str]:
    """What each open fd points at (for the report when fds leaked)."""
    out = []
    for name in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        try:
            out.append(f"{name} -> {os.readlink(f'/proc/{pid}/fd/{name}')}")
        except OSError:
            continue
    return out
