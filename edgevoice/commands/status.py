"""`edgevoice status`: what the daemon is doing, for a person.

It asks the running daemon over its control socket (`<paths.runtime_dir>/control.sock`, as
`edgevoice ctl status` does) and prints a short summary: the state, what needs attention and
its fix, the connection, today's use, the reply latency, then every other field. When nobody
answers it says "not running", with systemd's view of the unit and the unit's last journal
line, which usually says why.

Exit status (as `systemctl status`, LSB): 0 running; 3 not running; 75 running but not
answering; 76 not edgevoice on the socket; 77 permission denied (join the group edgevoice, or
use sudo); 78 the config file is wrong.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TextIO

from edgevoice.adapters.control_client import ControlClient, ControlClientError, NotRunningError
from edgevoice.commands import _unit_state
from edgevoice.commands.ctl import render, socket_from_args
from edgevoice.control_protocol import Status as StatusRequest
from edgevoice.redact import printable

NAME = "status"
EX_NOT_RUNNING: Final = 3  # LSB: program is not running
# How each ports.DeviceState reads after "edgevoice is running: ".
STATE_WORDS: Final = {
    "starting": "starting",
    "idle": "idle, waiting for a press or speech",
    "connecting": "connecting",
    "listening": "listening",
    "thinking": "waiting for the answer",
    "speaking": "speaking",
    "offline": "offline, retrying",
    "error": "needs attention",
}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="what the daemon is doing (or why it is not running)",
        description=(
            "Ask the running daemon what it is doing and print it for a person. When it is not "
            "running, show the unit's state and its last log line. Exit status 0 running, 3 not "
            "running. For scripts: `edgevoice ctl status --json`."
        ),
    )
    parser.add_argument(
        "--socket",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the control socket (default: from the config's paths.runtime_dir)",
    )
    parser.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    path = socket_from_args(args)
    if isinstance(path, int):
        return path  # the config could not be read: reported, 78
    return show_status(Path(path))


def show_status(
    path: Path,
    *,
    timeout: float = 5.0,
    runner: _unit_state.Runner = _unit_state.run_program,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Print the status (stdout) or why there is none (stderr for errors); the exit status."""
    stdout = out if out is not None else sys.stdout
    stderr = err if err is not None else sys.stderr
    try:
        reply = ControlClient(path, timeout_s=timeout).send(StatusRequest())
    except NotRunningError as error:
        print(f"edgevoice is not running ({_reason(str(error))})", file=stdout)
        _service_lines(runner, stdout, log=True)
        return EX_NOT_RUNNING
    except ControlClientError as error:
        print(f"edgevoice status: {printable(str(error), 400)}", file=stderr)
        _service_lines(runner, stdout, log=error.exit_status != 77)
        return error.exit_status
    for line in summarize(reply.data):
        print(line, file=stdout)
    _service_lines(runner, stdout, log=False)
    return 0


def _reason(message: str) -> str:
    """The client's "edgevoice is not running (no control socket at X)" -> "no control socket
    at X" (the headline says the rest)."""
    start, end = message.find("("), message.rfind(")")
    inner = message[start + 1 : end] if 0 <= start < end else message
    return printable(inner, 300)


def _service_lines(runner: _unit_state.Runner, out: TextIO, *, log: bool) -> None:
    state = _unit_state.service_state(runner)
    if state is not None and state.installed:
        print(f"service: {state.describe()}", file=out)
    if log:
        line = _unit_state.last_log_line(runner)
        if line is not None:
            print(f"last log line: {line}", file=out)
        else:
            print(
                "last log line: none to see here (`sudo journalctl -u edgevoice` shows the log)",
                file=out,
            )


def _text(value: object, limit: int = 300) -> str:
    return printable(str(value), limit)


def summarize(data: Mapping[str, object]) -> list[str]:
    """The status reply as lines for a person: the fields edgevoice's daemon sends summed up
    first, then every other field as `edgevoice ctl status` shows it. Everything in it came
    over a socket and is escaped."""
    used = {"state", "muted", "needs_attention", "connected", "connection_age_s", "model",
            "resumable", "last_error", "today", "latency"}  # fmt: skip
    state = data.get("state")
    headline = "edgevoice is running"
    if isinstance(state, str):
        headline += f": {STATE_WORDS.get(state, _text(state, 40))}"
    if data.get("muted") is True:
        headline += " (muted: nothing leaves the device)"
    lines = [headline]
    attention = data.get("needs_attention")
    if isinstance(attention, Mapping):
        text = "needs attention"
        if attention.get("headline"):
            text += f": {_text(attention['headline'], 120)}"
        if attention.get("error"):
            text += f" ({_text(attention['error'])})"
        if attention.get("fix"):
            text += f". Fix: {_text(attention['fix'])}"
        lines.append(text)
    connection = _connection(data)
    if connection:
        lines.append(connection)
    last = data.get("last_error")
    if isinstance(last, Mapping) and last.get("message"):
        kind = f" ({_text(last['class'], 20)})" if last.get("class") else ""
        lines.append(f"last error: {_text(last['message'])}{kind}")
    today = _today(data.get("today"))
    if today:
        lines.append(today)
    latency = _latency(data.get("latency"))
    if latency:
        lines.append(latency)
    rest = {k: v for k, v in data.items() if k not in used}
    lines += render(rest)
    return lines


def _connection(data: Mapping[str, object]) -> str:
    parts = []
    connected = data.get("connected")
    age = data.get("connection_age_s")
    if connected is True:
        up = f" for {_duration(age)}" if isinstance(age, (int, float)) else ""
        parts.append(f"connected{up}")
    elif connected is False:
        parts.append("not connected (it connects when someone speaks)")
    if isinstance(data.get("model"), str):
        parts.append(f"model {_text(data['model'], 80)}")
    if data.get("resumable") is True:
        parts.append("the conversation can be resumed")
    return "connection: " + ", ".join(parts) if parts else ""


def _today(today: object) -> str:
    if not isinstance(today, Mapping):
        return ""
    parts = []
    sent, cap = today.get("audio_sent_s"), today.get("audio_cap_s")
    if isinstance(sent, (int, float)):
        of = f" (daily cap {_duration(cap)})" if isinstance(cap, (int, float)) and cap else ""
        parts.append(f"{_duration(sent)} of speech sent{of}")
    for key, word in (("turns", "turns"), ("tokens", "tokens")):
        value = today.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            parts.append(f"{value} {word}")
    return "today: " + ", ".join(parts) if parts else ""


def _latency(latency: object) -> str:
    if not isinstance(latency, Mapping):
        return ""
    values = {k: latency.get(k) for k in ("p50_ms", "p90_ms", "max_ms")}
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values.values()):
        return ""
    turns = latency.get("turns")
    over = f" over {turns} turns" if isinstance(turns, int) else ""
    return (
        f"reply latency: median {values['p50_ms']} ms, 90% within {values['p90_ms']} ms, "
        f"longest {values['max_ms']} ms{over}"
    )


def _duration(seconds: object) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "?"
    value = float(seconds)
    if value < 120:
        return f"{value:g} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"
