"""The control socket's line protocol (`<paths.runtime_dir>/control.sock`). Core: no I/O.

One request per line, one reply per line, each a JSON object in UTF-8:

```
> {"cmd": "press"}              hold-to-talk: start a turn, whatever button.mode says
> {"cmd": "release"}            ... and end it
> {"cmd": "toggle"}             a click: start a turn, or end the open one
> {"cmd": "cancel"}             end the conversation
> {"cmd": "mute"}               nothing leaves the device until unmute (kept across restarts)
> {"cmd": "unmute"}
> {"cmd": "say", "text": "..."} send text as the user's turn
> {"cmd": "volume", "percent": 40}
> {"cmd": "status"}
< {"ok": true, ...}             what the command returns (status: the state and counters)
< {"ok": false, "error": "one line"}
```

The server side calls `parse_request(line)`: a typed request (`Press()`, `Say(text)`, ...; match
on them) or a `ControlError` whose message is the one-line reason to send back with
`encode_reply(Reply.failure(str(error)))`. The line is outside input and everything about it is
bounded: at most `MAX_LINE` bytes, UTF-8, a flat JSON object (nesting, duplicate keys, NaN,
huge numbers refused), known commands and fields only. Text quoted in an error is cut short and
escaped (`edgevoice.redact.printable`), so a reply or a log line quoting it stays one line.

The client side (`edgevoice ctl`) builds a request, sends `encode_request(request)` and reads
the answer with `parse_reply(line)`, which treats the line as outside input too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, TypeAlias

from edgevoice.live.json_view import json_type
from edgevoice.redact import printable

MAX_LINE = 4096  # bytes of one request line, its newline included
MAX_REPLY = 65_536  # bytes of one reply line (status with its counters fits easily)
MAX_SAY = 2000  # characters of text for `say`
MAX_ERROR = 300  # characters of an error message in a reply
_MAX_DEPTH = 2  # requests are flat; a value nested in one is refused anyway
_MAX_DIGITS = 20  # characters of an integer literal


class ControlError(ValueError):
    """A request (or a reply) that cannot be used. The message is one line, safe to send back
    and to log."""


# --------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True, slots=True)
class Press:
    """Hold-to-talk press: a turn starts (barging in when the device speaks)."""

    cmd: ClassVar[str] = "press"


@dataclass(frozen=True, slots=True)
class Release:
    """Hold-to-talk release: the open turn ends."""

    cmd: ClassVar[str] = "release"


@dataclass(frozen=True, slots=True)
class Toggle:
    """A click: starts a turn, or ends the open one."""

    cmd: ClassVar[str] = "toggle"


@dataclass(frozen=True, slots=True)
class Cancel:
    """End the conversation (close 1000, drop the resumption handle)."""

    cmd: ClassVar[str] = "cancel"


@dataclass(frozen=True, slots=True)
class Mute:
    """Mute the microphone: nothing leaves the device until `Unmute`; kept across restarts."""

    cmd: ClassVar[str] = "mute"


@dataclass(frozen=True, slots=True)
class Unmute:
    cmd: ClassVar[str] = "unmute"


@dataclass(frozen=True, slots=True)
class Say:
    """Send `text` as the user's turn (realtimeInput.text). 1-`MAX_SAY` characters, no control
    characters other than newline and tab."""

    text: str
    cmd: ClassVar[str] = "say"

    def __post_init__(self) -> None:
        problem = _text_problem(self.text)
        if problem:
            raise ControlError(problem)


@dataclass(frozen=True, slots=True)
class Volume:
    """Set the speaker's volume to `percent` (0-100)."""

    percent: int
    cmd: ClassVar[str] = "volume"

    def __post_init__(self) -> None:
        percent = self.percent
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise ControlError(f"volume: percent must be a whole number 0-100, got {percent!r}")


@dataclass(frozen=True, slots=True)
class Status:
    """The daemon's state, counters and latencies."""

    cmd: ClassVar[str] = "status"


Request: TypeAlias = Press | Release | Toggle | Cancel | Mute | Unmute | Say | Volume | Status

_SIMPLE: Mapping[str, type[Press | Release | Toggle | Cancel | Mute | Unmute | Status]] = {
    kind.cmd: kind for kind in (Press, Release, Toggle, Cancel, Mute, Unmute, Status)
}
COMMANDS = (*_SIMPLE, Say.cmd, Volume.cmd)
_FIELDS: Mapping[str, frozenset[str]] = {
    **{name: frozenset() for name in _SIMPLE},
    Say.cmd: frozenset({"text"}),
    Volume.cmd: frozenset({"percent"}),
}
_EXAMPLE = '{"cmd": "status"}'


def parse_request(line: bytes | str) -> Request:
    """The request on one line (its trailing newline may be included).

    Raises ControlError with the one-line reason for anything else: too long, not UTF-8, not a
    flat JSON object, an unknown command or field, a bad value.
    """
    obj = _parse_line(line, MAX_LINE, "request")
    if not isinstance(obj, dict):
        raise ControlError(f"a request is a JSON object like {_EXAMPLE}, not {json_type(obj)}")
    cmd = obj.get("cmd")
    if not isinstance(cmd, str):
        raise ControlError(f'a request needs "cmd", one of: {", ".join(COMMANDS)}')
    if cmd not in _FIELDS:
        raise ControlError(f"unknown command {_quote(cmd)}; one of: {', '.join(COMMANDS)}")
    for key in obj:
        if key != "cmd" and key not in _FIELDS[cmd]:
            allowed = ", ".join(sorted(_FIELDS[cmd])) or "none"
            raise ControlError(f"{cmd}: unknown field {_quote(key)} (fields: {allowed})")
    if cmd == Say.cmd:
        text = obj.get("text")
        if not isinstance(text, str):
            raise ControlError(f'say: "text" must be a string, got {json_type(text)}')
        return Say(text)
    if cmd == Volume.cmd:
        percent = obj.get("percent")
        if isinstance(percent, float) and percent.is_integer():
            percent = int(percent)  # 40.0 from a script that only has floats
        if isinstance(percent, bool) or not isinstance(percent, int):
            raise ControlError(
                f'volume: "percent" must be a whole number 0-100, got {json_type(percent)}'
            )
        return Volume(percent)
    return _SIMPLE[cmd]()


def encode_request(request: Request) -> bytes:
    """The line that carries `request`, newline included."""
    body: dict[str, object] = {"cmd": request.cmd}
    if isinstance(request, Say):
        body["text"] = request.text
    elif isinstance(request, Volume):
        body["percent"] = request.percent
    line = json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"
    if len(line) > MAX_LINE:
        raise ControlError(f"{request.cmd}: the request is longer than {MAX_LINE} bytes")
    return line


# --------------------------------------------------------------------------------------------
# Replies


@dataclass(frozen=True, slots=True)
class Reply:
    """`ok` with what the command returns (`data`), or not `ok` with a one-line `error`."""

    ok: bool
    error: str = ""
    data: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def success(cls, data: Mapping[str, object] | None = None) -> Reply:
        return cls(True, "", dict(data or {}))

    @classmethod
    def failure(cls, message: str) -> Reply:
        return cls(False, _one_line(message))


def encode_reply(reply: Reply) -> bytes:
    """The line that carries `reply`, newline included; never raises.

    An error message is escaped and cut to `MAX_ERROR` characters. Data that cannot be sent
    (not JSON, the keys "ok" or "error", longer than `MAX_REPLY`) is a bug here: the client
    gets an error reply saying so instead.
    """
    if not reply.ok:
        return _line({"ok": False, "error": _one_line(reply.error or "failed")})
    if "ok" in reply.data or "error" in reply.data:
        return _line({"ok": False, "error": "internal error: reply data uses a reserved key"})
    try:
        line = _line({"ok": True, **reply.data})
    except (TypeError, ValueError, RecursionError):
        return _line({"ok": False, "error": "internal error: the reply is not JSON"})
    if len(line) > MAX_REPLY:
        return _line({"ok": False, "error": f"internal error: reply longer than {MAX_REPLY} B"})
    return line


def parse_reply(line: bytes | str) -> Reply:
    """The daemon's reply on one line. Raises ControlError (one line) when it is not one: the
    error of a failed reply is escaped, so it can be printed as it is."""
    obj = _parse_line(line, MAX_REPLY, "reply", max_depth=16)
    if not isinstance(obj, dict) or not isinstance(obj.get("ok"), bool):
        raise ControlError('the daemon\'s reply is not a JSON object with "ok"')
    if not obj["ok"]:
        error = obj.get("error")
        if not isinstance(error, str):
            raise ControlError('the daemon\'s failed reply has no "error" text')
        return Reply(False, _one_line(error))
    return Reply(True, "", {k: v for k, v in obj.items() if k != "ok"})


def _one_line(message: str) -> str:
    """`message` escaped (`printable`), then cut to MAX_ERROR characters."""
    escaped = printable(message[: MAX_ERROR * 2])
    return escaped if len(escaped) <= MAX_ERROR else escaped[: MAX_ERROR - 3] + "..."


def _line(body: Mapping[str, object]) -> bytes:
    # ensure_ascii: every newline, control character and non-ASCII character is a JSON escape,
    # so the reply is one line whatever the data holds.
    text = json.dumps(body, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.encode("ascii") + b"\n"


# --------------------------------------------------------------------------------------------
# Reading a line


def _parse_line(line: bytes | str, limit: int, what: str, max_depth: int = _MAX_DEPTH) -> object:
    raw = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line
    if len(raw) > limit:
        raise ControlError(f"the {what} is longer than {limit} bytes; send one short line")
    raw = raw.removesuffix(b"\n").removesuffix(b"\r")
    if b"\n" in raw:
        raise ControlError(f"the {what} spans several lines; send one JSON object per line")
    if not raw.strip():
        raise ControlError(f"empty {what}; send one JSON object per line, like {_EXAMPLE}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ControlError(f"the {what} is not UTF-8 text (bad byte at {exc.start})") from None
    depth = _depth(text)
    if depth > max_depth:
        raise ControlError(f"the {what} nests {depth} levels deep; at most {max_depth}")
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_int=_bounded_int,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as exc:
        raise ControlError(f"the {what} is not JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:  # the depth scan makes this unreachable; kept as a last guard
        raise ControlError(f"the {what} nests too deep") from None


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _depth(text: str) -> int:
    """How deep arrays and objects nest, strings left out (a bracket in a string is text)."""
    deepest = level = 0
    for char in _STRING.sub("", text):
        if char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ControlError(f"field {_quote(key)} is given twice")
        result[key] = value
    return result


def _no_constant(name: str) -> object:
    raise ControlError(f"{name} is not a JSON number")


def _bounded_int(literal: str) -> int:
    if len(literal) > _MAX_DIGITS:
        raise ControlError(f"a number has {len(literal)} digits; at most {_MAX_DIGITS}")
    return int(literal)


def _finite_float(literal: str) -> float:
    value = float(literal[:64]) if len(literal) <= 64 else math.inf
    if not math.isfinite(value):
        raise ControlError(f"the number {_quote(literal)} is out of range")
    return value


# C0 controls but tab and newline, DEL, C1 controls, lone surrogates.
_BAD_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _text_problem(text: object) -> str | None:
    if not isinstance(text, str):
        return f"say: text must be a string, got {json_type(text)}"
    if not text.strip():
        return "say: text is empty; give the words to send"
    if len(text) > MAX_SAY:
        return f"say: text is {len(text)} characters long; at most {MAX_SAY}"
    bad = _BAD_TEXT.search(text)
    if bad:
        return f"say: text holds the control character {_quote(bad.group())}; remove it"
    return None


def _quote(text: str) -> str:
    return "'" + printable(text, 40).replace("'", "\\'") + "'"
