"""The JSON-schema subset operator tools declare their arguments in. Core: no I/O.

An operator tool (a command from the config the model may run) declares its arguments as a
small JSON schema. Three uses:

- `schema_problems(schema)`: what is wrong with a schema, for `check-config` (each problem names
  its place in the schema: "properties.room.maxLength: ..."). A schema with problems is never
  used.
- `check_arguments(schema, args)`: what is wrong with the arguments the model sent for a call,
  each problem naming the argument ("argument 'room': must be a string, got a number"). The
  arguments are outside input: names and values quoted in a problem are cut short and escaped
  (`edgevoice.redact.printable`), and the work is bounded (at most `MAX_PROBLEMS` problems,
  patterns run only on bounded strings and only if they passed `schema_problems`).
- `live_parameters(schema)`: the same schema as the Live API's `FunctionDeclaration.parameters`
  (its OpenAPI subset, upper-case type names), or None for a tool without arguments.

The subset:

- `type`: "object" (the root must be one), "string", "integer", "number", "boolean";
- objects: `properties` (names of letters, digits and `_`, not starting with a digit, distinct
  even when upper-cased: each becomes an environment variable `EDGEVOICE_ARG_<NAME>`),
  `required` (a list of declared names), `additionalProperties: false` (the rule anyway:
  arguments that are not declared are refused), nested objects up to `MAX_DEPTH`;
- strings: `enum` (strings; the Live API lists enum values as strings), `maxLength`, `pattern`
  (a Python regular expression, searched anywhere in the value as JSON schema does; groups that
  repeat a repetition or an alternation, like `(a+)+`, and backreferences are refused: they can
  take exponential time on a hostile value; and a pattern only ever runs on strings of at most
  `MAX_MATCHED` characters, longer ones are refused);
- integers and numbers: `minimum`, `maximum` (inclusive);
- `description` anywhere (it tells the model what the argument is for).

Anything else (`$ref`, `oneOf`, `items`, `format`, ...) is a problem: a schema that is only
partly checked would let arguments through that the operator meant to refuse.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import cast

from edgevoice.live.json_view import JsonValue, json_type, snippet

TYPES = ("object", "string", "integer", "number", "boolean")
MAX_DEPTH = 4  # nested objects, the root included
MAX_PROPERTIES = 32  # per object
MAX_ENUM = 64  # values of one enum
MAX_TEXT = 1024  # characters of a description, an enum value
MAX_PATTERN = 256  # characters of a pattern
# Characters of a string a pattern is run on. Python's `re` has no time limit, and even a pattern
# without nested repetition (\d+\d+\d+x) backtracks polynomially: 256 keeps that to
# milliseconds while identifiers, names and short phrases (what patterns are for) fit.
MAX_MATCHED = 256
MAX_PROBLEMS = 20  # problems reported for one call's arguments

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_COMMON = frozenset({"type", "description"})
_BY_TYPE: Mapping[str, frozenset[str]] = {
    "object": _COMMON | {"properties", "required", "additionalProperties"},
    "string": _COMMON | {"enum", "maxLength", "pattern"},
    "integer": _COMMON | {"minimum", "maximum"},
    "number": _COMMON | {"minimum", "maximum"},
    "boolean": _COMMON,
}
_ALL_KEYWORDS = frozenset().union(*_BY_TYPE.values())


# --------------------------------------------------------------------------------------------
# The schema itself


def schema_problems(schema: object) -> list[str]:
    """Everything wrong with `schema` as an operator tool's argument schema; [] when usable."""
    problems: list[str] = []
    if not isinstance(schema, Mapping):
        return [f"the argument schema must be an object, got {json_type(schema)}"]
    if schema.get("type") != "object":
        problems.append('type: the argument schema must have "type": "object" at the top')
    _schema(schema, "", 1, problems)
    return problems


def _where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _schema(schema: Mapping[str, object], path: str, depth: int, problems: list[str]) -> None:
    for key in schema:
        if not isinstance(key, str) or key not in _ALL_KEYWORDS:
            hint = "; write the referenced schema out" if key == "$ref" else ""
            problems.append(
                f"{path or 'schema'}: keyword {snippet(str(key))} is not supported{hint}"
            )
    kind = schema.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        shown = snippet(kind) if isinstance(kind, str) else json_type(kind)
        problems.append(f"{_where(path, 'type')}: {shown} is not one of {', '.join(TYPES)}")
        return
    for key in schema:
        if key in _ALL_KEYWORDS and key not in _BY_TYPE[kind]:
            problems.append(f"{_where(path, key)}: does not apply to type {kind}")
    description = schema.get("description")
    if description is not None and not (
        isinstance(description, str) and len(description) <= MAX_TEXT
    ):
        problems.append(f"{_where(path, 'description')}: must be text of at most {MAX_TEXT}")
    if kind == "object":
        _object(schema, path, depth, problems)
    elif kind == "string":
        _string(schema, path, problems)
    elif kind in ("integer", "number"):
        _bounds(schema, path, kind, problems)


def _object(schema: Mapping[str, object], path: str, depth: int, problems: list[str]) -> None:
    if depth > MAX_DEPTH:
        problems.append(f"{path}: objects nest at most {MAX_DEPTH} deep")
        return
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        problems.append(f"{_where(path, 'properties')}: must be an object of argument schemas")
        properties = {}
    if len(properties) > MAX_PROPERTIES:
        problems.append(f"{_where(path, 'properties')}: at most {MAX_PROPERTIES} arguments")
    seen: dict[str, str] = {}
    for name, sub in list(properties.items())[:MAX_PROPERTIES]:
        where = _where(path, f"properties.{name}")  # used once the name is known to be safe
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            problems.append(
                f"{_where(path, 'properties')}: argument name {snippet(str(name))} must be "
                "letters, digits and _ (not starting with a digit, at most 64)"
            )
            continue
        upper = name.upper()
        if upper in seen:
            problems.append(
                f"{where}: {name!r} and {seen[upper]!r} are the same environment variable "
                f"(EDGEVOICE_ARG_{upper}); rename one"
            )
        seen[upper] = name
        if not isinstance(sub, Mapping):
            problems.append(f"{where}: must be a schema object, got {json_type(sub)}")
            continue
        _schema(sub, where, depth + 1, problems)
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        problems.append(f"{_where(path, 'required')}: must be a list of argument names")
    else:
        for name in required:
            if name not in properties:
                problems.append(f"{_where(path, 'required')}: {snippet(name)} is not declared")
        if len(set(required)) != len(required):
            problems.append(f"{_where(path, 'required')}: names a property twice")
    if schema.get("additionalProperties", False) is not False:
        problems.append(
            f"{_where(path, 'additionalProperties')}: only false is supported "
            "(undeclared arguments are always refused)"
        )


def _string(schema: Mapping[str, object], path: str, problems: list[str]) -> None:
    if "enum" in schema:
        enum = schema["enum"]
        if (
            not isinstance(enum, list)
            or not 1 <= len(enum) <= MAX_ENUM
            or not all(isinstance(v, str) and len(v) <= MAX_TEXT for v in enum)
        ):
            problems.append(
                f"{_where(path, 'enum')}: must be a list of 1-{MAX_ENUM} strings (the Live API "
                "takes enum values as strings)"
            )
        elif len(set(enum)) != len(enum):
            problems.append(f"{_where(path, 'enum')}: lists a value twice")
    max_length = schema.get("maxLength")
    if "maxLength" in schema and not _whole(max_length, 0):
        problems.append(f"{_where(path, 'maxLength')}: must be a whole number >= 0")
        max_length = None
    pattern: str | None = None
    if "pattern" in schema:
        problem = pattern_problem(schema["pattern"])
        if problem:
            problems.append(f"{_where(path, 'pattern')}: {problem}")
        else:
            pattern = cast(str, schema["pattern"])
        if isinstance(max_length, int) and max_length > MAX_MATCHED:
            problems.append(
                f"{_where(path, 'maxLength')}: a pattern is checked on strings of at most "
                f"{MAX_MATCHED} characters; lower maxLength or drop the pattern"
            )
    enum = schema.get("enum")
    if isinstance(enum, list) and all(isinstance(v, str) for v in enum):
        # An enum value the other keywords refuse could be offered to the model but never pass.
        for value in cast(list[str], enum):
            if isinstance(max_length, int) and len(value) > max_length:
                problems.append(
                    f"{_where(path, 'enum')}: {snippet(value)} is longer than maxLength "
                    f"{max_length}; no call could pass it"
                )
            elif pattern is not None and (
                len(value) > MAX_MATCHED or re.search(pattern, value) is None
            ):
                problems.append(
                    f"{_where(path, 'enum')}: {snippet(value)} does not match the pattern; no "
                    "call could pass it"
                )


def _bounds(schema: Mapping[str, object], path: str, kind: str, problems: list[str]) -> None:
    values: dict[str, float] = {}
    for key in ("minimum", "maximum"):
        if key not in schema:
            continue
        value = schema[key]
        if not _number(value):
            problems.append(f"{_where(path, key)}: must be a finite number")
        else:
            values[key] = float(cast(float, value))
    if values.keys() == {"minimum", "maximum"} and values["minimum"] > values["maximum"]:
        problems.append(f"{_where(path, 'minimum')}: is above maximum; no value could pass")
    elif kind == "integer" and values.keys() == {"minimum", "maximum"}:
        if math.floor(values["maximum"]) < math.ceil(values["minimum"]):
            problems.append(f"{_where(path, 'minimum')}: no whole number lies in the range")


def pattern_problem(pattern: object) -> str | None:
    """Why `pattern` cannot be used (None when it can): not text, too long, not a regular
    expression, a backreference, or a group that repeats a repetition or an alternation."""
    if not isinstance(pattern, str):
        return f"must be a regular expression, got {json_type(pattern)}"
    if len(pattern) > MAX_PATTERN:
        return f"is {len(pattern)} characters long; at most {MAX_PATTERN}"
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"{snippet(pattern)} is not a regular expression ({snippet(str(exc))})"
    return _backtracking_risk(pattern)


_QUANTIFIER = re.compile(r"[*+?]|\{\d*(,\d*)?\}")


def _backtracking_risk(pattern: str) -> str | None:
    """A scan of the pattern's structure: a repeated group that repeats inside, or has
    alternatives, can take exponential time (catastrophic backtracking); backreferences too."""
    # Per open group: does it hold a repetition or an alternation?
    stack: list[bool] = [False]
    last_group_risky = False  # the element just closed was a group that holds one
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 < n and pattern[i + 1] in "123456789":
                return f"{snippet(pattern)} uses a backreference; these are not supported"
            i += 2
            last_group_risky = False
            continue
        if c == "[":
            i = _class_end(pattern, i)
            last_group_risky = False
            continue
        if c == "(":
            stack.append(False)
            i += 1
            if i < n and pattern[i] == "?":  # (?:, (?P<name>, (?=, ...: not a quantifier
                i += 1
                if pattern.startswith("P=", i):
                    return f"{snippet(pattern)} uses a backreference; these are not supported"
            last_group_risky = False
            continue
        if c == ")":
            inner = stack.pop() if len(stack) > 1 else False
            last_group_risky = inner
            i += 1
            continue
        if c == "|":
            stack[-1] = True
            i += 1
            last_group_risky = False
            continue
        quantifier = _QUANTIFIER.match(pattern, i)
        if quantifier:
            unbounded = quantifier.group() in ("*", "+") or quantifier.group().endswith(",}")
            if last_group_risky and (unbounded or quantifier.group() != "?"):
                return (
                    f"{snippet(pattern)} repeats a group that itself repeats or has "
                    "alternatives (like (a+)+ or (a|b)*), which can take exponential time; "
                    "simplify it"
                )
            stack[-1] = True
            i = quantifier.end()
            if i < n and pattern[i] in "?+":  # lazy or possessive modifier
                i += 1
            last_group_risky = False
            continue
        i += 1
        last_group_risky = False
    return None


def _class_end(pattern: str, start: int) -> int:
    """The index after the character class that opens at `start`."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


# --------------------------------------------------------------------------------------------
# Arguments


def check_arguments(schema: Mapping[str, JsonValue], args: object) -> list[str]:
    """What is wrong with `args` (the model's arguments for one call) under `schema`; [] when
    they may be passed on. `schema` must have passed `schema_problems` (ValueError otherwise).
    At most `MAX_PROBLEMS` problems are listed."""
    if schema_problems(schema):
        raise ValueError("check_arguments needs a schema that passed schema_problems")
    problems: list[str] = []
    if not isinstance(args, Mapping):
        return [f"the arguments must be an object, got {json_type(args)}"]
    _check_object(schema, args, "", problems)
    if len(problems) > MAX_PROBLEMS:
        problems[MAX_PROBLEMS - 1 :] = ["... and more"]
    return problems


def _label(path: str) -> str:
    return f"argument {snippet(path)}"


def _check_object(
    schema: Mapping[str, JsonValue], args: Mapping[object, object], path: str, out: list[str]
) -> None:
    properties = cast(Mapping[str, Mapping[str, JsonValue]], schema.get("properties") or {})
    for name in args:
        if len(out) > MAX_PROBLEMS:
            return
        if name not in properties:
            declared = ", ".join(sorted(properties)) or "none"
            out.append(f"{_label(_join(path, str(name)))}: is not declared (declared: {declared})")
    for name in cast(list[str], schema.get("required") or []):
        if name not in args:
            out.append(f"{_label(_join(path, name))}: is missing")
    for name, sub in properties.items():
        if name in args and len(out) <= MAX_PROBLEMS:
            _check_value(sub, args[name], _join(path, name), out)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check_value(schema: Mapping[str, JsonValue], value: object, path: str, out: list[str]) -> None:
    kind = schema["type"]
    label = _label(path)
    if kind == "object":
        if not isinstance(value, Mapping):
            out.append(f"{label}: must be an object, got {json_type(value)}")
        else:
            _check_object(schema, value, path, out)
    elif kind == "string":
        if not isinstance(value, str):
            out.append(f"{label}: must be a string, got {json_type(value)}")
        else:
            _check_string(schema, value, label, out)
    elif kind == "boolean":
        if not isinstance(value, bool):
            out.append(f"{label}: must be true or false, got {json_type(value)}")
    elif kind == "integer":
        if not _number(value) or not float(cast(float, value)).is_integer():
            out.append(f"{label}: must be a whole number, got {_shown(value)}")
        else:
            _check_range(schema, cast(float, value), label, out)
    elif not _number(value):
        out.append(f"{label}: must be a number, got {_shown(value)}")
    else:
        _check_range(schema, cast(float, value), label, out)


def _check_string(schema: Mapping[str, JsonValue], value: str, label: str, out: list[str]) -> None:
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        listed = ", ".join(str(v) for v in enum[:10]) + (", ..." if len(enum) > 10 else "")
        out.append(f"{label}: {snippet(value)} is not one of {listed}")
        return
    max_length = schema.get("maxLength")
    if isinstance(max_length, int) and len(value) > max_length:
        out.append(f"{label}: is {len(value)} characters long; at most {max_length}")
        return
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        if len(value) > MAX_MATCHED:
            out.append(f"{label}: is {len(value)} characters long; at most {MAX_MATCHED}")
        elif re.search(pattern, value) is None:
            out.append(f"{label}: {snippet(value)} does not match {snippet(pattern)}")


def _check_range(schema: Mapping[str, JsonValue], value: float, label: str, out: list[str]) -> None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(low, (int, float)) and value < low:
        out.append(f"{label}: {_shown(value)} is below the minimum {low}")
    elif isinstance(high, (int, float)) and value > high:
        out.append(f"{label}: {_shown(value)} is above the maximum {high}")


def _number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and (isinstance(value, int) or math.isfinite(value))
    )


def _whole(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _shown(value: object) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = repr(value)  # digits, ".", "e", "-", "inf": nothing to escape
        return text if len(text) <= 24 else text[:21] + "..."
    return json_type(value)


# --------------------------------------------------------------------------------------------
# The Live API's form

_LIVE_KEYS = {
    "description": "description",
    "enum": "enum",
    "maxLength": "maxLength",
    "pattern": "pattern",
    "minimum": "minimum",
    "maximum": "maximum",
}


def live_parameters(schema: Mapping[str, JsonValue]) -> dict[str, JsonValue] | None:
    """`schema` as FunctionDeclaration.parameters (OpenAPI subset: "OBJECT", "STRING", ...),
    or None when it declares no arguments. `schema` must have passed `schema_problems`
    (ValueError otherwise)."""
    if schema_problems(schema):
        raise ValueError("live_parameters needs a schema that passed schema_problems")
    if not schema.get("properties"):
        return None
    return _live(schema)


def _live(schema: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {"type": str(schema["type"]).upper()}
    for key, live_key in _LIVE_KEYS.items():
        if key in schema:
            value = schema[key]
            out[live_key] = list(value) if isinstance(value, list) else value
    if schema["type"] == "object":
        properties = cast(Mapping[str, Mapping[str, JsonValue]], schema.get("properties") or {})
        out["properties"] = {name: _live(sub) for name, sub in properties.items()}
        required = cast(list[str], schema.get("required") or [])
        if required:
            out["required"] = list(required)
    return out
