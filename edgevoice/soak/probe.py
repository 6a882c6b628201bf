"""The daemon process's resources, read from /proc and its control socket's status.

`sample(pid, status)` is taken while the daemon is idle (no turn, no connection, nothing
playing), so two samples taken at the start and the end of a soak compare like with like:
any fd, task or thread more at the end is a leak.
"""

from __future__ import annotations

import contextlib
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


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def sample(pid: int, status: dict[str, Any], fds: int | None = None) -> Sample:
    """The daemon's resources now (`fds`: counted by the caller, e.g. the least of a few
    reads). Raises OSError when the process is gone."""
    fields = read_status_file(pid)
    tasks = status.get("tasks")
    return Sample(
        rss_kb=int(fields.get("VmRSS", "0 kB").split()[0]),
        fds=fd_count(pid) if fds is None else fds,
        threads=int(fields.get("Threads", "0")),
        tasks=tasks if isinstance(tasks, int) else -1,
    )


def fd_targets(pid: int) -> list[str]:
    """What each open fd points at (for the report when fds leaked); a socket with its TCP
    addresses or Unix path when /proc/PID/net has them."""
    sockets = _sockets(pid)
    out = []
    for name in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            target += " " + sockets.get(target[8:-1], "")
        out.append(f"{name} -> {target.rstrip()}")
    return out


def _sockets(pid: int) -> dict[str, str]:
    """Socket inode -> what it is, from /proc/PID/net/{tcp,tcp6,unix}."""
    found: dict[str, str] = {}
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                cols = line.split()
                if len(cols) > 9:
                    local, remote, state = cols[1], cols[2], cols[3]
                    found[cols[9]] = f"{table} {_port(local)}->{_port(remote)} state {state}"
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:
            cols = line.split()
            if len(cols) > 6:
                found[cols[6]] = "unix " + (cols[7] if len(cols) > 7 else "(unnamed)")
    return found


def _port(address: str) -> str:
    return ":" + str(int(address.rpartition(":")[2], 16))
