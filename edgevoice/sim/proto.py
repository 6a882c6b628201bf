"""Strict proto3-JSON parsing of client frames, as the real Live service does it.

The service parses every client frame as proto3 JSON (protocol doc section 3.1): a field may be
spelled in lowerCamelCase (its json_name) or snake_case (its proto name), at any depth and mixed
freely; bytes are base64 in either alphabet; `null` means "not set". Unknown names and wrong JSON
types are refused with close code 1007 and the service's own reason format:

- `Invalid JSON payload received. Unknown name "X" at 'setup.generation_config': Cannot find field.`
  The path uses proto (snake_case) names, `[i]` for list items and `[i].value` for map entries,
  as Google's JSON front end does (for example `'tools[0].function_declarations[0].parameters'`);
  an unknown name at the top level has no `at '...'` part.
- `Invalid value at 'realtime_input.audio.data' (TYPE_BYTES), Base64 decoding failed for "..."`,
  `Invalid value at 'setup.generation_config.top_k' (TYPE_INT32), "x"`, and for enums and
  messages the type URL in the parentheses.

Several problems are joined with a newline like the service does; the close reason is cut to 123
bytes, so usually only the first shows. What the texts for duplicate keys, two oneof members,
malformed JSON and an empty envelope are is not known: those use the generic
"Request contains an invalid argument." (see reasons.py) with the cause in `CloseSpec.detail`.

`parse_client_frame` returns the frame in a canonical form: camelCase keys, bytes decoded to
`bytes`, enums as their names, int64 as `int`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgevoice.sim import reasons
from edgevoice.sim.models import KNOWN_MODELS, RULES, Family, Proactivity, family_of_resource
from edgevoice.sim.reasons import CloseSpec
from edgevoice.sim.schema import ENUMS, MESSAGES, ROOT, Field, Gate, Kind, Message

PACKAGE = "google.ai.generativelanguage"
INT32_RANGE = (-(2**31), 2**31 - 1)
INT64_RANGE = (-(2**63), 2**63 - 1)
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
MALFORMED_JSON = "Invalid JSON payload received. Unexpected token."  # unverified text
FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class ParseContext:
    """What the parser needs to know about the connection (fields are gated by it)."""

    api_version: str = "v1beta"  # "v1beta" or "v1alpha", from the path
    constrained: bool = False  # the BidiGenerateContentConstrained (ephemeral token) method
    family: Family | None = None  # the session's model family; None until setup has been read
    served: Mapping[str, Family] = field(default_factory=lambda: KNOWN_MODELS)
    """Served model ids, to read setup.model's family."""


@dataclass(frozen=True)
class ClientFrame:
    """One accepted client frame: its message type and its canonical body."""

    kind: str  # "setup" | "clientContent" | "realtimeInput" | "toolResponse"
    body: dict[str, Any]  # the message under that key, canonical (camelCase, bytes decoded)


class FrameRejected(Exception):
    """The frame breaks the protocol; the session must close with `close`."""

    def __init__(self, close: CloseSpec) -> None:
        super().__init__(close.detail or close.reason)
        self.close = close


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def decode_base64(text: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not (proto3 JSON accepts all four).

    Padding is accepted only where it completes the last 4-character quantum ("QQ==", "QUI="):
    "QQ=", "QUJD=" and "QUJD====" are refused, as strictly as the daemon's own decoder.
    """
    normalized = text.translate(_URLSAFE)
    body = normalized.rstrip("=")
    padding = len(normalized) - len(body)
    if padding and (padding > 2 or len(normalized) % 4):
        raise ValueError("padding that does not complete a quantum")
    if len(body) % 4 == 1:
        raise ValueError("truncated base64")
    return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)


_URLSAFE = str.maketrans("-_", "+/")


def field_available(gate: Gate | None, ctx: ParseContext) -> bool:
    """Whether a gated field exists for this endpoint and model family (models.py, §2.2, §9)."""
    if gate is None:
        return True
    family = RULES[ctx.family] if ctx.family is not None else None
    on_v1alpha = ctx.api_version == "v1alpha"
    if gate is Gate.PROACTIVITY:
        if family is not None and family.proactivity is Proactivity.ALWAYS_ON:
            return True
        if family is not None and family.proactivity is Proactivity.NEVER:
            return False
        return on_v1alpha and not ctx.constrained  # field reports, section 2.2
    if gate is Gate.AFFECTIVE_DIALOG:
        return on_v1alpha and (family is None or family.affective_dialog)
    return True


def _check_tree(obj: Any) -> str | None:
    """Why a parsed JSON document cannot be a proto message (too deep, not UTF-8), or None."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > reasons.MAX_JSON_DEPTH:
                return f"nested deeper than {reasons.MAX_JSON_DEPTH}"
            for key, item in value.items():
                if not _is_utf8(key):
                    return "a key is not valid UTF-8 (lone surrogate)"
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            if depth > reasons.MAX_JSON_DEPTH:
                return f"nested deeper than {reasons.MAX_JSON_DEPTH}"
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and not _is_utf8(value):
            return "a string is not valid UTF-8 (lone surrogate)"
    return None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _show(value: Any) -> str:
    return str(json.dumps(value, ensure_ascii=False))


class _Walker:
    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.problems: list[str] = []  # parse problems, in the service's own wording
        self.generic: list[str] = []  # problems whose real wording is unknown (details)

    # --- reporting ------------------------------------------------------------------------
    def unknown(self, key: str, path: str, why: str = "Cannot find field.") -> None:
        at = f" at '{path}'" if path else ""
        self.problems.append(f'Invalid JSON payload received. Unknown name "{key}"{at}: {why}')

    def invalid(self, path: str, label: str, value: Any) -> None:
        self.problems.append(f"Invalid value at '{path}' ({label}), {_show(value)}")

    def type_url(self, name: str) -> str:
        return f"type.googleapis.com/{PACKAGE}.{self.ctx.api_version}.{name}"

    def label(self, item: Field) -> str:
        if item.kind in (Kind.MESSAGE, Kind.ENUM):
            return self.type_url(item.type_name)
        if item.kind in (Kind.STRUCT, Kind.VALUE, Kind.TIMESTAMP):
            return f"type.googleapis.com/{item.kind.value}"
        return str(item.kind.value)

    # --- walking --------------------------------------------------------------------------
    def message(self, message: Message, obj: dict[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        used: dict[str, str] = {}
        oneofs: dict[str, str] = {}
        for key, value in obj.items():
            item = message.by_key.get(key)
            if item is None or not field_available(item.gate, self.ctx):
                self.unknown(key, path)
                continue
            if item.name in used:
                self.generic.append(
                    f"{key!r} and {used[item.name]!r} are the same field at {path!r}"
                )
                continue
            used[item.name] = key
            if value is None:  # proto3 JSON: null means "not set"
                continue
            if item.oneof:
                if item.oneof in oneofs:
                    self.generic.append(
                        f"{key!r} and {oneofs[item.oneof]!r} are both set in oneof "
                        f"{item.oneof!r} at {path or 'the top level'!r}"
                    )
                    continue
                oneofs[item.oneof] = key
            parsed = self.field(item, key, value, path)
            if parsed is not None:
                out[item.json_name] = parsed
        return out

    def field(self, item: Field, key: str, value: Any, parent: str) -> Any:
        path = _join(parent, item.name)
        if item.is_map:
            if not isinstance(value, dict):
                self.invalid(path, self.label(item), value)
                return None
            return {
                name: self.single(item, entry, f"{path}[{index}].value")
                for index, (name, entry) in enumerate(value.items())
            }
        if item.repeated:
            if not isinstance(value, list):
                self.invalid(path, self.label(item), value)
                return None
            return [self.single(item, entry, f"{path}[{i}]") for i, entry in enumerate(value)]
        if isinstance(value, list):
            self.unknown(key, parent, "Proto field is not repeating, cannot start list.")
            return None
        return self.single(item, value, path)

    def single(self, item: Field, value: Any, path: str) -> Any:
        kind = item.kind
        if kind is Kind.MESSAGE:
            if not isinstance(value, dict):
                self.invalid(path, self.label(item), value)
                return None
            return self.message(MESSAGES[item.type_name], value, path)
        if kind is Kind.STRUCT:
            if not isinstance(value, dict):
                self.invalid(path, self.label(item), value)
                return None
            return value
        if kind is Kind.VALUE:
            return value
        if kind in (Kind.STRING, Kind.TIMESTAMP):
            if not isinstance(value, str) or (
                kind is Kind.TIMESTAMP and not _TIMESTAMP.match(value)
            ):
                self.invalid(path, self.label(item), value)
                return None
            return value
        if kind is Kind.BOOL:
            if not isinstance(value, bool):
                self.invalid(path, self.label(item), value)
                return None
            return value
        if kind in (Kind.INT32, Kind.INT64):
            number = _as_int(value, INT32_RANGE if kind is Kind.INT32 else INT64_RANGE)
            if number is None:
                self.invalid(path, self.label(item), value)
            return number
        if kind in (Kind.FLOAT, Kind.DOUBLE):
            real = _as_float(value, FLOAT32_MAX if kind is Kind.FLOAT else math.inf)
            if real is None:
                self.invalid(path, self.label(item), value)
            return real
        if kind is Kind.BYTES:
            if isinstance(value, str):
                try:
                    return decode_base64(value)
                except (ValueError, binascii.Error):
                    self.problems.append(
                        f"Invalid value at '{path}' (TYPE_BYTES), "
                        f'Base64 decoding failed for "{value}"'
                    )
                    return None
            self.invalid(path, self.label(item), value)
            return None
        # Kind.ENUM
        enum_type = ENUMS[item.type_name]
        if isinstance(value, str) and value in enum_type.values:
            return value
        if (
            enum_type.numbered
            and isinstance(value, int)
            and not isinstance(value, bool)
            and 0 <= value < len(enum_type.values)
        ):
            return enum_type.values[value]
        self.invalid(path, self.label(item), value)
        return None


def _as_int(value: Any, bounds: tuple[int, int]) -> int | None:
    number: int | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"-?\d{1,20}", value):
        number = int(value)  # at most 20 digits: never near int()'s 4,300-digit limit
    if number is None or not bounds[0] <= number <= bounds[1]:
        return None
    return number


def _as_float(value: Any, limit: float) -> float | None:
    """A JSON number (or proto3's string forms) within +-limit; NaN/Infinity only as strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
        if not re.fullmatch(r"-?(\d{1,400}\.?\d{0,400}|\.\d{1,400})([eE][-+]?\d{1,4})?", value):
            return None
        value = float(value)
    if isinstance(value, int):
        if abs(value) > 10**309:
            return None  # float() would overflow
        value = float(value)
    if not isinstance(value, float) or not math.isfinite(value) or abs(value) > limit:
        return None
    return value


def _reject(reason: str, detail: str) -> FrameRejected:
    return FrameRejected(CloseSpec(reasons.INVALID_ARGUMENT, reason, detail))


def parse_client_frame(data: str | bytes, ctx: ParseContext) -> ClientFrame:
    """Parse and validate one client frame; raise FrameRejected (close 1007) when it is bad.

    Only the wire format is checked here (names, JSON types, enums, base64, exactly one message
    type). Session rules (setup first, VAD rules, one realtimeInput field) are the session's.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _DuplicateKey as dup:
        raise _reject(reasons.GENERIC_INVALID, f"duplicate JSON key {dup.args[0]!r}") from None
    except RecursionError:
        raise _reject(reasons.GENERIC_INVALID, "JSON nested too deep to parse") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, an over-long integer
        raise _reject(MALFORMED_JSON, f"not JSON: {str(error)[:200]}") from None
    if not isinstance(obj, dict):
        raise _reject(MALFORMED_JSON, f"the frame is JSON {type(obj).__name__}, not an object")
    problem = _check_tree(obj)
    if problem is not None:
        raise _reject(reasons.GENERIC_INVALID, f"the frame is {problem}")

    if ctx.family is None:  # the model in a setup frame gates other setup fields
        setup = obj.get("setup")
        if isinstance(setup, dict) and isinstance(setup.get("model"), str):
            family = family_of_resource(setup["model"], ctx.served)
            ctx = ParseContext(ctx.api_version, ctx.constrained, family, ctx.served)

    walker = _Walker(ctx)
    body = walker.message(MESSAGES[ROOT], obj, "")
    if walker.problems:
        raise _reject("\n".join(walker.problems), walker.problems[0])
    if walker.generic:
        raise _reject(reasons.GENERIC_INVALID, walker.generic[0])
    if len(body) != 1:
        raise _reject(reasons.GENERIC_INVALID, "the frame sets no message type")
    ((kind, content),) = body.items()
    return ClientFrame(kind, content)
