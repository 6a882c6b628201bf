"""A checked, read-only view of one parsed JSON server message. Core: no I/O.

`Obj` wraps a JSON object and looks its fields up by their camelCase name (the snake_case
spelling matches too: the server speaks proto3 JSON, docs/live-protocol.md section 3.1). Every
typed accessor raises `RemoteProtocolError` with a one-line message naming the field's path
("serverContent.modelTurn.parts[0].text must be a string, got a number 1"). Every field read is
marked as consumed, and `Obj.done()` records the others as ignored paths, so the decoder can
report fields newer than this code instead of failing on them.

Text quoted in an error message (a bad value, a key) comes from the server: it is cut short and
escaped with `edgevoice.redact.printable`, so no server frame can flood or forge a log line.
"""

from __future__ import annotations

import math
import re
from typing import TypeAlias, cast

from edgevoice.errors import RemoteProtocolError
from edgevoice.redact import printable

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = "dict[str, JsonValue]"

SNIPPET = 60  # characters of a bad value quoted in an error message
MAX_IGNORED = 32  # ignored field paths recorded per message; the rest is summed up in one entry

# int64 needs at most 19 digits; ASCII digits only (\d would take any Unicode decimal digit).
_INTEGER = re.compile(r"-?[0-9]{1,20}")


def snippet(text: str, limit: int = SNIPPET) -> str:
    """`text` quoted on one line, cut to about `limit` characters and escaped (`printable`), so
    no payload floods a log line or forges a new one."""
    cut = text if len(text) <= limit else text[: max(0, limit - 3)] + "..."
    return "'" + printable(cut).replace("'", "\\'") + "'"


def json_type(value: object) -> str:
    """The JSON type of a parsed value, for error messages ("a string", "an array", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def camel(key: str) -> str:
    """proto3 JSON field name from either spelling: `turn_complete` -> `turnComplete`."""
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


class Value:
    """A JSON value at a known path, with typed accessors that raise RemoteProtocolError."""

    def __init__(self, value: object, path: str, ignored: list[str]) -> None:
        self.value = value
        self.where = path
        self.ignored = ignored

    def fail(self, expected: str) -> RemoteProtocolError:
        """The error for a value that is not `expected` (the caller raises it)."""
        got = json_type(self.value)
        if isinstance(self.value, (str, int, float)) and not isinstance(self.value, bool):
            got += " " + snippet(str(self.value))  # scalars only: never dump a whole object
        return RemoteProtocolError(f"server message: {self.where} must be {expected}, got {got}")

    def obj_value(self) -> Obj:
        if not isinstance(self.value, dict):
            raise self.fail("an object")
        return Obj(self.value, self.where, self.ignored)

    def text(self) -> str:
        if not isinstance(self.value, str):
            raise self.fail("a string")
        return self.value

    def boolean(self) -> bool:
        # proto3 JSON parsers accept the strings "true" and "false" for a bool (issue #8 item 6).
        if isinstance(self.value, bool):
            return self.value
        if self.value == "true":
            return True
        if self.value == "false":
            return False
        raise self.fail("true or false")

    def integer(self) -> int:
        # proto3 JSON writes int64 as a string and accepts it for every integer type.
        value = self.value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            return int(value)
        raise self.fail("an integer")


class Obj:
    """A JSON object whose fields are looked up by camelCase name (snake_case also matches).

    Every field read is marked as consumed; `done()` records the rest in `ignored`. A field
    given in both spellings ("turnComplete" and "turn_complete") is refused: the two could
    disagree, and guessing which one the server meant would be wrong.
    """

    def __init__(self, raw: dict[str, object], path: str, ignored: list[str]) -> None:
        self._raw = raw
        self._path = path
        self._ignored = ignored
        self._keys: dict[str, str] = {}  # camelCase name -> the key as sent
        for key in raw:
            name = camel(key)
            if name in self._keys:
                raise RemoteProtocolError(
                    f"server message: {self.path(printable(name, 60))} is given twice "
                    f"({snippet(self._keys[name])} and {snippet(key)})"
                )
            self._keys[name] = key
        self._consumed: set[str] = set()

    def path(self, name: str) -> str:
        """The dotted path of field `name` of this object ("" = the object itself)."""
        if not name:
            return self._path or "the message"
        return f"{self._path}.{name}" if self._path else name

    def consume(self, name: str) -> Value | None:
        """The field `name`, or None when it is absent or null (proto3: null = default)."""
        key = self._keys.get(name)
        if key is None:
            return None
        self._consumed.add(name)
        value = self._raw[key]
        if value is None:
            return None
        return Value(value, self.path(name), self._ignored)

    def obj(self, name: str) -> Obj | None:
        value = self.consume(name)
        return None if value is None else value.obj_value()

    def string(self, name: str) -> str | None:
        value = self.consume(name)
        return None if value is None else value.text()

    def boolean(self, name: str) -> bool:
        value = self.consume(name)
        return False if value is None else value.boolean()

    def integer(self, name: str) -> int | None:
        value = self.consume(name)
        return None if value is None else value.integer()

    def array(self, name: str, limit: int) -> list[Value]:
        """Field `name` as a list of values (empty when absent); more than `limit` items is
        refused, so one frame cannot make the decoder walk a million parts."""
        value = self.consume(name)
        if value is None:
            return []
        if not isinstance(value.value, list):
            raise value.fail("an array")
        if len(value.value) > limit:
            raise RemoteProtocolError(
                f"server message: {value.where} has {len(value.value)} items; "
                f"more than {limit} is refused"
            )
        return [
            Value(item, f"{value.where}[{i}]", self._ignored) for i, item in enumerate(value.value)
        ]

    def json_object(self, name: str) -> JsonObject | None:
        """Field `name` as a plain JSON object (None when absent)."""
        value = self.consume(name)
        if value is None:
            return None
        if not isinstance(value.value, dict):
            raise value.fail("an object")
        return cast(JsonObject, value.value)  # parse_server_json made only JSON values

    def raw_json(self) -> JsonObject:
        """The whole object as plain JSON, every field counted as consumed."""
        self._consumed.update(self._keys)
        return cast(JsonObject, self._raw)  # parse_server_json made only JSON values

    def done(self) -> None:
        """Record the fields nobody read as ignored paths."""
        for name in self._keys:
            if name not in self._consumed:
                if len(self._ignored) < MAX_IGNORED:
                    self._ignored.append(self.path(printable(name, 60)))
                elif len(self._ignored) == MAX_IGNORED:
                    self._ignored.append("... (more ignored fields)")
