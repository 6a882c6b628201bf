"""`edgevoice ctl`: drive the running daemon through its control socket.

    edgevoice ctl press | release | toggle | cancel | mute | unmute
    edgevoice ctl say TEXT...        (TEXT "-" reads it from stdin)
    edgevoice ctl volume PERCENT
    edgevoice ctl status [--json]

The socket is `<paths.runtime_dir>/control.sock` from the same config the daemon reads (so
`--config` and `--set` work as for every command), or `--socket PATH`. One request, one reply;
success prints nothing except what the daemon answers with (status), failures print one line
on stderr. Exit statuses are listed in `EXIT_STATUSES` (and in `--help`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any, Final

from edgevoice.adapters.config_file import load_config_from_args
from edgevoice.adapters.control_client import (
    BadReplyError,
    ControlClient,
    ControlClientError,
    NoAnswerError,
    NotRunningError,
    PermissionDeniedError,
    RefusedError,
)
from edgevoice.adapters.control_socket import socket_path
from edgevoice.commands._common import report_config_error, seconds_type
from edgevoice.control_protocol import (
    MAX_SAY,
    Cancel,
    ControlError,
    Mute,
    Press,
    Release,
    Request,
    Say,
    Status,
    Toggle,
    Unmute,
    Volume,
)
from edgevoice.errors import ConfigError
from edgevoice.redact import printable

NAME = "ctl"
EX_USAGE: Final = 2  # as argparse: the command line itself is wrong
EXIT_STATUSES: Final = (
    (0, "done"),
    (RefusedError.exit_status, "the daemon refused the request (the reason is printed)"),
    (EX_USAGE, "bad command line (a value out of range, empty text)"),
    (NotRunningError.exit_status, "edgevoice is not running (no socket, or nobody listens)"),
    (NoAnswerError.exit_status, "no answer in time (see --timeout)"),
    (BadReplyError.exit_status, "the answer was not edgevoice's control protocol"),
    (PermissionDeniedError.exit_status, "permission denied on the socket"),
    (ConfigError.exit_status, "the config file is wrong"),
)
_Simple = Press | Release | Toggle | Cancel | Mute | Unmute
_SIMPLE: Final[Mapping[str, tuple[type[_Simple], str]]] = {
    "press": (Press, "hold-to-talk: start a turn (whatever button.mode says)"),
    "release": (Release, "hold-to-talk: end the turn"),
    "toggle": (Toggle, "a click: start a turn, or end the open one"),
    "cancel": (Cancel, "end the conversation"),
    "mute": (Mute, "stop all audio from leaving the device (kept across restarts)"),
    "unmute": (Unmute, "let audio leave the device again"),
}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    statuses = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_STATUSES)
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="drive the running daemon (press, mute, say, status, ...)",
        description=(
            "Send one request to the running daemon through its control socket\n"
            "(<paths.runtime_dir>/control.sock). Root and members of the service's group may."
        ),
        epilog=f"exit statuses:\n{statuses}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--socket",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the control socket (default: from the config's paths.runtime_dir)",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=seconds_type("--timeout", 3600),
        default=argparse.SUPPRESS,
        help="how long to wait for the answer (default: 5)",
    )
    requests = parser.add_subparsers(dest="ctl_command", metavar="REQUEST", required=True)
    for name, (_, text) in _SIMPLE.items():
        requests.add_parser(name, parents=[common], help=text, description=text)
    say = requests.add_parser(
        "say",
        parents=[common],
        help="send text as the user's turn",
        description=f"Send TEXT as the user's turn (at most {MAX_SAY} characters).",
    )
    say.add_argument("text", nargs="+", metavar="TEXT", help='the words; "-" reads stdin')
    volume = requests.add_parser(
        "volume", parents=[common], help="set the speaker volume", description="Set the volume."
    )
    volume.add_argument("percent", type=int, metavar="PERCENT", help="0-100")
    status = requests.add_parser(
        "status",
        parents=[common],
        help="state, counters and latencies",
        description="Print the daemon's state, counters and latency percentiles.",
    )
    status.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        request = build_request(args)
    except ControlError as error:
        return _fail(str(error), EX_USAGE)
    path = socket_from_args(args)
    if isinstance(path, int):
        return path  # the config could not be read: reported, 78
    client = ControlClient(path, timeout_s=getattr(args, "timeout", 5.0))
    try:
        reply = client.send(request)
    except ControlClientError as error:
        return _fail(str(error), error.exit_status)
    if isinstance(request, Status) and args.json:
        print(json.dumps(dict(reply.data), ensure_ascii=True, sort_keys=False))
    else:
        for line in render(reply.data):
            print(line)
    return 0


def build_request(args: argparse.Namespace) -> Request:
    """The request the command line asks for; ControlError (one line) for a bad value."""
    name = args.ctl_command
    if name in _SIMPLE:
        return _SIMPLE[name][0]()
    if name == "say":
        words: list[str] = args.text
        text = sys.stdin.read(MAX_SAY * 4 + 1).strip() if words == ["-"] else " ".join(words)
        return Say(text)
    if name == "volume":
        return Volume(args.percent)
    return Status()


def _fail(message: str, status: int) -> int:
    print(f"edgevoice ctl: {printable(message)}", file=sys.stderr)
    return status


def render(data: Mapping[str, object], indent: str = "", unit: str = "") -> list[str]:
    """The reply's fields as `label: value` lines for a person, in the order the daemon sent
    them: numbers under a `_s` / `_ms` key (or inside an object whose key has one, such as
    `latency_ms`) get their unit, true/false read yes/no, nested objects are indented.
    Everything is escaped (`printable`): it came over a socket."""
    lines: list[str] = []
    for key, value in data.items():
        label = printable(key.removesuffix("_s").removesuffix("_ms").replace("_", " "), 60)
        own = _unit(key) or unit
        if isinstance(value, Mapping):
            lines.append(f"{indent}{label}:" if value else f"{indent}{label}: none")
            lines += render(value, indent + "  ", own)
        else:
            lines.append(f"{indent}{label}: {_value(value, own)}")
    return lines


def _unit(key: str) -> str:
    return " ms" if key.endswith("_ms") else " s" if key.endswith("_s") else ""


def _value(value: object, unit: str) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return (f"{value:g}" if isinstance(value, float) else str(value)) + unit
    if isinstance(value, list):
        return ", ".join(_value(item, unit) for item in value) or "none"
    return printable(str(value), 300)


def socket_from_args(args: argparse.Namespace) -> str | int:
    """The control socket's path: `--socket`, else from the config's paths.runtime_dir. An int
    is the exit status after a config problem was reported (78)."""
    path: str | None = getattr(args, "socket", None)
    if path is not None:
        return path
    try:
        config = load_config_from_args(args).config
    except ConfigError as error:
        return report_config_error(error)
    return str(socket_path(config.paths.runtime_dir))
