"""`parse_server_json`: the text of one server frame -> a JSON object, with the work bounded.

A server frame is outside input: a hostile or broken server (or anything between it and us)
must not be able to crash the decoder with an exception that is not ours, or make one frame
cost seconds of CPU. Issue #7 section 4 lists what got through `json.loads` before; each bound
here answers one of them, and every refusal is a `RemoteProtocolError` with one line:

- nesting deeper than `MAX_DEPTH` (a 500-deep array hit Python's recursion limit in whoever
  walked the result next): measured on the frame's bracket skeleton before parsing, at C speed;
- integer literals longer than `MAX_INT_DIGITS` characters (Python refuses to convert more than
  4,300 digits, and proto3 JSON integers are at most 20 characters: int64 and uint64);
- NaN, Infinity and -Infinity literals, and numbers that overflow a float (1e400): not JSON,
  and proto3 JSON never writes them;
- a key given twice in one object (proto3 JSON parsers refuse duplicate fields; keeping the last
  one, as json.loads does, would let two readers of one frame disagree);
- lone UTF-16 surrogates (from "\\ud800" escapes, or in text handed in directly): replaced with
  U+FFFD, as a UTF-8 decoder does with bytes it cannot read, so every decoded string can be
  printed and encoded. The rest of the frame is kept: a transcript with one bad character is
  still worth showing.

Sizes of arrays the decoder walks (parts, calls, ids) are bounded where they are read
(`edgevoice.live.decode`); the frame as a whole is bounded by the WebSocket's max_size.
Core: no I/O. numpy is used for the depth scan only (this module is imported by the decoder,
not by the configuration path).
"""

from __future__ import annotations

import json
import re
from typing import cast

import numpy as np

from edgevoice.errors import RemoteProtocolError
from edgevoice.live.json_view import json_type, snippet

MAX_DEPTH = 64  # arrays and objects; real server frames nest about 6 deep
MAX_INT_DIGITS = 32  # characters of one integer literal (int64 needs 20)

# A JSON string (with its escapes); what is left after removing them is the bracket skeleton.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPENERS = re.compile(r"[\[{]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
REPLACEMENT = "\ufffd"


def parse_server_json(text: str) -> dict[str, object]:
    """The JSON object in `text`, parsed with the bounds of the module docstring. Its values
    are JSON values only (dict, list, str, int, float, bool, None).

    Raises RemoteProtocolError (one line) for text that is not a JSON object or breaks a bound.
    """
    depth = _nesting_depth(text)
    if depth > MAX_DEPTH:
        raise RemoteProtocolError(
            f"server frame is nested {depth} levels deep; more than {MAX_DEPTH} is refused"
        )
    try:
        parsed = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
        )
    except RemoteProtocolError:
        raise
    except RecursionError as exc:  # not reached after the depth scan; kept as a last guard
        raise RemoteProtocolError("server frame is nested too deeply to parse") from exc
    except ValueError as exc:
        raise RemoteProtocolError(f"server frame is not JSON ({exc}): {snippet(text)}") from exc
    if not isinstance(parsed, dict):
        raise RemoteProtocolError(
            f"server frame is not a JSON object but {json_type(parsed)}: {snippet(text)}"
        )
    result = cast(dict[str, object], parsed)
    if _SURROGATE.search(text) or _SURROGATE_ESCAPE.search(text):
        result = _replace_surrogates(result)
    return result


def _nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text`, strings left out.

    Exact for valid JSON; for invalid JSON a bound json.loads would not reach anyway. A frame
    with few brackets (every real one) is answered by counting them alone.
    """
    skeleton = _STRING.sub("", text)
    if len(_OPENERS.findall(skeleton)) <= MAX_DEPTH:
        return 0
    raw = np.frombuffer(skeleton.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    steps = (raw == ord("[")).astype(np.int32) + (raw == ord("{"))
    steps -= (raw == ord("]")).astype(np.int32) + (raw == ord("}"))
    return int(np.cumsum(steps).max(initial=0))


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RemoteProtocolError(
                    f"server frame gives the key {snippet(key)} twice in one object"
                )
            seen.add(key)
    return result


def _integer(literal: str) -> int:
    if len(literal) > MAX_INT_DIGITS:
        raise RemoteProtocolError(
            f"server frame has an integer of {len(literal)} characters "
            f"(starting {snippet(literal, 12)}); more than {MAX_INT_DIGITS} is refused"
        )
    return int(literal)


def _float(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise RemoteProtocolError(
            f"server frame has a number beyond the range of a double: {snippet(literal, 24)}"
        )
    return value


def _constant(name: str) -> float:
    raise RemoteProtocolError(f"server frame has {name}, which is not a JSON number")


def _clean(text: str) -> str:
    return _SURROGATE.sub(REPLACEMENT, text) if _SURROGATE.search(text) else text


def _replace_surrogates(root: dict[str, object]) -> dict[str, object]:
    """`root` with every lone surrogate in keys and strings replaced by U+FFFD (iterative: the
    depth is bounded, but no recursion is needed)."""
    cleaned: dict[str, object] = {}
    stack: list[tuple[object, dict[str, object] | list[object]]] = [(root, cleaned)]
    while stack:
        source, target = stack.pop()
        items = (
            source.items() if isinstance(source, dict) else enumerate(cast(list[object], source))
        )
        for key, value in items:
            if isinstance(value, str):
                new: object = _clean(value)
            elif isinstance(value, dict):
                new = {}
                stack.append((value, cast(dict[str, object], new)))
            elif isinstance(value, list):
                new = []
                stack.append((value, cast(list[object], new)))
            else:
                new = value
            if isinstance(target, dict):
                name = _clean(cast(str, key))
                if name in target:  # two keys that differed only in their bad characters
                    raise RemoteProtocolError(
                        f"server frame gives the key {snippet(name)} twice in one object"
                    )
                target[name] = new
            else:
                target.append(new)
    return cleaned
