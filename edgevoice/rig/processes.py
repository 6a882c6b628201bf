"""Child processes the rig starts, and the guarantee that none outlives it.

Every program the rig runs (the sound server, players, recorders, the daemon) is started here:

- in its own process group (`start_new_session`), so stopping it stops whatever it started;
- with the parent-death signal set (`setpriv --pdeathsig TERM`, util-linux, on every Debian and
  Raspberry Pi OS), so a rig killed with SIGKILL still takes its children with it. The kernel
  sends it when the *thread* that started the child ends: start children from the main thread
  (the event loop's), never from a worker thread. (A rig killed in the instant between a
  child's start and setpriv setting the signal leaves that one child behind.);
- registered until it is stopped; an `atexit` hook stops every one still running (a command that
  ends on an exception, or on `sys.exit` from a signal handler, leaves nothing behind).

`stop_process` is SIGTERM to the group, then SIGKILL after a grace period, always reaped. Only
processes started here are ever signalled, by their own group id (never by name).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

STOP_TIMEOUT_S = 5.0

_running: dict[int, subprocess.Popen[bytes] | asyncio.subprocess.Process] = {}


def _death_signal_prefix() -> list[str]:
    """`setpriv --pdeathsig TERM --` when setpriv is installed, else nothing."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


def edgevoice_command() -> list[str]:
    """How to run this edgevoice: the `edgevoice` script of this interpreter's environment,
    else `python -m edgevoice`."""
    script = Path(sys.executable).with_name("edgevoice")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "edgevoice"]


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: int | IO[Any] | None = subprocess.DEVNULL,
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
    stderr: int | IO[Any] | None = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own process group, dying with the rig; registered until stopped.

    Raises OSError (FileNotFoundError when the program is not installed)."""
    process = subprocess.Popen(
        [*_death_signal_prefix(), *argv],
        env=dict(env) if env is not None else None,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    _running[process.pid] = process
    return process


async def spawn_async(
    argv: Sequence[str], *, env: Mapping[str, str], umask: int = -1, stdin_pipe: bool = False
) -> asyncio.subprocess.Process:
    """`spawn` for asyncio: stdout and stderr are pipes; stdin a pipe with `stdin_pipe`, else
    /dev/null."""
    process = await asyncio.create_subprocess_exec(
        *_death_signal_prefix(),
        *argv,
        env=dict(env),
        stdin=asyncio.subprocess.PIPE if stdin_pipe else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        umask=umask,
        start_new_session=True,
    )
    _running[process.pid] = process
    return process


def signal_group(pid: int, sig: int) -> None:
    """Send `sig` to the process group of a child this module started (and has not reaped)."""
    if pid in _running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)


def forget(pid: int) -> None:
    """The child has been reaped: never signal its (reusable) id again."""
    _running.pop(pid, None)


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM to its group, SIGKILL after `timeout_s`; always reaped. Its exit status."""
    # While it is not reaped its id cannot be reused, so the group id is still its own.
    if process.returncode is None and process.poll() is None:
        signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            signal_group(process.pid, signal.SIGKILL)
            process.wait()
    else:  # the leader is gone; what it started may not be
        signal_group(process.pid, signal.SIGKILL)
    forget(process.pid)
    assert process.returncode is not None
    return process.returncode


def running_children() -> list[int]:
    """Ids of the children started here and not stopped yet (for tests and diagnostics)."""
    return [pid for pid, p in _running.items() if p.returncode is None]


@atexit.register
def stop_all() -> None:
    """Stop every child still registered: SIGTERM to each group, then SIGKILL to stragglers.

    Runs at interpreter exit; callable any time (the demo's last line of defence)."""
    pending = dict(_running)
    for pid, process in pending.items():
        if process.returncode is None:
            signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for pid, process in pending.items():
        if isinstance(process, subprocess.Popen):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
            if process.poll() is None:
                signal_group(pid, signal.SIGKILL)
                process.wait()
        else:  # an asyncio child: its loop may be gone; reap it directly
            _reap_pid(pid, deadline)
        forget(pid)


def _reap_pid(pid: int, deadline: float) -> None:
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # already reaped (by its event loop's watcher)
            return
        if done:
            return
        if time.monotonic() > deadline:
            signal_group(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            return
        time.sleep(0.02)
