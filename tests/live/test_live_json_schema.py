"""The operator tools' JSON-schema subset (edgevoice.live.json_schema): problems in a schema
named by place, problems in the model's arguments named by argument (escaped, bounded), and
the translation to FunctionDeclaration.parameters checked by the SDK's types and the
simulator's proto3 parser."""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from google.genai import types
from hypothesis import given, settings
from hypothesis import strategies as st

from edgevoice.live.frames import FunctionDeclaration, Setup, encode_client_frame
from edgevoice.live.json_schema import (
    MAX_MATCHED,
    MAX_PROBLEMS,
    check_arguments,
    live_parameters,
    schema_problems,
)
from edgevoice.sim.proto import ParseContext, parse_client_frame

LIGHTS: dict[str, Any] = {
    "type": "object",
    "description": "Which lights, and how bright.",
    "properties": {
        "room": {"type": "string", "enum": ["kitchen", "hall"], "description": "The room."},
        "level": {"type": "integer", "minimum": 0, "maximum": 10},
        "fade_s": {"type": "number", "minimum": 0},
        "on": {"type": "boolean"},
        "label": {"type": "string", "maxLength": 20, "pattern": "^[a-z ]+$"},
        "timer": {
            "type": "object",
            "properties": {"minutes": {"type": "integer", "minimum": 1}},
            "required": ["minutes"],
        },
    },
    "required": ["room", "on"],
    "additionalProperties": False,
}


def obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


# --------------------------------------------------------------------------------------------
# The schema


def test_a_schema_of_the_subset_has_no_problems() -> None:
    assert schema_problems(LIGHTS) == []
    assert schema_problems({"type": "object"}) == []
    assert schema_problems(obj()) == []


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ([], "the argument schema must be an object, got an array"),
        ({"type": "string"}, 'type: the argument schema must have "type": "object"'),
        ({"type": ["object", "null"]}, "type: an array is not one of object, string"),
        (obj(a={"type": "array"}), "properties.a.type: 'array' is not one of"),
        (obj(a={"$ref": "#/defs/a"}), "write the referenced schema out"),
        (obj(a={"type": "string", "oneOf": []}), "properties.a: keyword 'oneOf' is not supported"),
        (obj(a={"type": "integer", "maxLength": 3}), "properties.a.maxLength: does not apply"),
        (obj(a={"type": "boolean", "enum": ["x"]}), "properties.a.enum: does not apply"),
        (obj(**{"1x": {"type": "string"}}), "argument name '1x' must be letters"),
        (obj(**{"a-b": {"type": "string"}}), "argument name 'a-b' must be letters"),
        (obj(**{"zählen": {"type": "string"}}), "argument name 'zählen' must be letters"),
        (
            obj(Room={"type": "string"}, room={"type": "string"}),
            "'room' and 'Room' are the same environment variable (EDGEVOICE_ARG_ROOM)",
        ),
        ({"type": "object", "properties": []}, "properties: must be an object"),
        (obj(a="string"), "properties.a: must be a schema object, got a string"),
        ({**obj(a={"type": "string"}), "required": "a"}, "required: must be a list"),
        ({**obj(a={"type": "string"}), "required": ["b"]}, "required: 'b' is not declared"),
        ({**obj(a={"type": "string"}), "required": ["a", "a"]}, "required: names a property"),
        ({"type": "object", "additionalProperties": True}, "only false is supported"),
        (obj(a={"type": "string", "enum": "x"}), "properties.a.enum: must be a list"),
        (obj(a={"type": "string", "enum": []}), "properties.a.enum: must be a list"),
        (obj(a={"type": "string", "enum": [1, 2]}), "enum values as strings"),
        (obj(a={"type": "string", "enum": ["x", "x"]}), "properties.a.enum: lists a value"),
        (
            obj(a={"type": "string", "enum": ["on", "off"], "maxLength": 2}),
            "properties.a.enum: 'off' is longer than maxLength 2; no call could pass it",
        ),
        (
            obj(a={"type": "string", "enum": ["on", "Off"], "pattern": "^[a-z]+$"}),
            "properties.a.enum: 'Off' does not match the pattern",
        ),
        (obj(a={"type": "string", "maxLength": -1}), "maxLength: must be a whole number"),
        (obj(a={"type": "string", "maxLength": 2.5}), "maxLength: must be a whole number"),
        (obj(a={"type": "string", "maxLength": True}), "maxLength: must be a whole number"),
        (obj(a={"type": "string", "pattern": "("}), "is not a regular expression"),
        (obj(a={"type": "string", "pattern": 5}), "pattern: must be a regular expression"),
        (obj(a={"type": "string", "pattern": "a" * 300}), "at most 256"),
        (
            obj(a={"type": "string", "pattern": "^a$", "maxLength": 1000}),
            "a pattern is checked on strings of at most 256 characters",
        ),
        (obj(a={"type": "integer", "minimum": math.nan}), "minimum: must be a finite number"),
        (obj(a={"type": "number", "maximum": "9"}), "maximum: must be a finite number"),
        (obj(a={"type": "number", "minimum": 5, "maximum": 1}), "is above maximum"),
        (obj(a={"type": "integer", "minimum": 0.2, "maximum": 0.8}), "no whole number"),
        (obj(a={"type": "string", "description": 5}), "description: must be text"),
        (obj(a=obj(b=obj(c=obj(d=obj())))), "objects nest at most 4 deep"),
        (obj(**{f"a{i}": {"type": "string"} for i in range(40)}), "at most 32 arguments"),
    ],
)
def test_each_problem_names_its_place(schema: Any, expected: str) -> None:
    problems = schema_problems(schema)
    assert any(expected in p for p in problems), problems
    assert all("\n" not in p for p in problems)


@pytest.mark.parametrize(
    "pattern",
    [
        r"(a+)+$",
        r"(a*)*b",
        r"(a|a)*b",
        r"(\w+\s?)+$",
        r"((ab)*c)+",
        r"(x+x+){2,}y",
        r"(?:a+)+",
        r"(a)\1",
        r"(?P<q>a)(?P=q)",
    ],
)
def test_patterns_that_can_backtrack_for_ever_are_refused(pattern: str) -> None:
    [problem] = schema_problems(obj(a={"type": "string", "pattern": pattern}))
    assert "exponential time" in problem or "backreference" in problem


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[a-z]+$",
        r"\d{1,3}",
        r"(ab)?c",
        r"(ab)+c",
        r"[()+*|]+",
        r"\(x+\)+",
        r"(a){2}",
        r"^(on|off)$",
        r"[\]a]+",
    ],
)
def test_ordinary_patterns_are_fine(pattern: str) -> None:
    assert schema_problems(obj(a={"type": "string", "pattern": pattern})) == []


def test_outside_text_in_a_schema_problem_is_escaped() -> None:
    problems = schema_problems(obj(**{"\x1b[31mx\n": {"type": "string", "\u2028": 1}}))
    assert problems
    assert all("\x1b" not in p and "\n" not in p and "\u2028" not in p for p in problems)


# --------------------------------------------------------------------------------------------
# The arguments


def test_good_arguments_have_no_problems() -> None:
    args = {"room": "hall", "on": True, "level": 3, "fade_s": 0.5, "label": "mood"}
    assert check_arguments(LIGHTS, args) == []
    assert check_arguments(LIGHTS, {"room": "kitchen", "on": False, "timer": {"minutes": 5}}) == []
    assert check_arguments(LIGHTS, {"room": "hall", "on": True, "level": 3.0}) == []  # JSON: 3.0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"on": True}, ["argument 'room': is missing"]),
        (
            {"room": "hall", "on": True, "colour": "red"},
            ["argument 'colour': is not declared (declared: fade_s, label, level, on, room, tim"],
        ),
        ({"room": "attic", "on": True}, ["argument 'room': 'attic' is not one of kitchen, hall"]),
        ({"room": 1, "on": True}, ["argument 'room': must be a string, got a number"]),
        ({"room": "hall", "on": "yes"}, ["argument 'on': must be true or false, got a string"]),
        ({"room": "hall", "on": 1}, ["argument 'on': must be true or false, got a number"]),
        ({"room": "hall", "on": True, "level": 11}, ["argument 'level': 11 is above the maximum"]),
        ({"room": "hall", "on": True, "level": -1}, ["argument 'level': -1 is below the minimum"]),
        ({"room": "hall", "on": True, "level": 2.5}, ["argument 'level': must be a whole number"]),
        ({"room": "hall", "on": True, "level": True}, ["argument 'level': must be a whole number"]),
        ({"room": "hall", "on": True, "fade_s": False}, ["argument 'fade_s': must be a number"]),
        (
            {"room": "hall", "on": True, "fade_s": math.inf},
            ["argument 'fade_s': must be a number, got inf"],
        ),
        ({"room": "hall", "on": True, "label": "x" * 21}, ["argument 'label': is 21 characters"]),
        ({"room": "hall", "on": True, "label": "Mood!"}, ["argument 'label': 'Mood!' does not"]),
        ({"room": "hall", "on": True, "timer": {}}, ["argument 'timer.minutes': is missing"]),
        (
            {"room": "hall", "on": True, "timer": {"minutes": 0, "s": 1}},
            ["argument 'timer.s': is not declared", "argument 'timer.minutes': 0 is below"],
        ),
        ({"room": "hall", "on": True, "timer": 5}, ["argument 'timer': must be an object"]),
        ([], ["the arguments must be an object, got an array"]),
    ],
)
def test_each_problem_names_the_argument(args: Any, expected: list[str]) -> None:
    problems = check_arguments(LIGHTS, args)
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problems


def test_a_pattern_is_searched_anywhere_as_json_schema_does() -> None:
    schema = obj(code={"type": "string", "pattern": "[0-9]{3}"})
    assert check_arguments(schema, {"code": "ab123cd"}) == []
    assert check_arguments(schema, {"code": "ab12cd"}) != []


def test_a_pattern_never_runs_on_a_long_string() -> None:
    # A pattern that backtracks polynomially: at most MAX_MATCHED characters ever reach it.
    schema = obj(n={"type": "string", "pattern": r"^\d+\d+\d+x$"})
    assert schema_problems(schema) == []
    [problem] = check_arguments(schema, {"n": "1" * (MAX_MATCHED + 1)})
    assert f"at most {MAX_MATCHED}" in problem
    assert check_arguments(schema, {"n": "1" * 40 + "x"}) == []


def test_hostile_arguments_are_escaped_cut_and_bounded() -> None:
    evil = "\x1b]0;owned\x07\n" + "z" * 5000
    problems = check_arguments(LIGHTS, {evil: 1, "room": evil, "on": True})
    assert problems
    for problem in problems:
        assert "\x1b" not in problem and "\n" not in problem and "\x07" not in problem
        assert len(problem) < 300
    flood = check_arguments(LIGHTS, {f"k{i}": i for i in range(10_000)})
    assert len(flood) == MAX_PROBLEMS and flood[-1] == "... and more"


def test_a_schema_with_problems_is_never_used() -> None:
    bad = obj(a={"type": "string", "pattern": "(a+)+"})
    with pytest.raises(ValueError, match="schema_problems"):
        check_arguments(bad, {"a": "aaaa"})
    with pytest.raises(ValueError, match="schema_problems"):
        live_parameters(bad)


# --------------------------------------------------------------------------------------------
# The Live API's form


def test_the_translation_to_parameters() -> None:
    assert live_parameters(LIGHTS) == {
        "type": "OBJECT",
        "description": "Which lights, and how bright.",
        "properties": {
            "room": {"type": "STRING", "description": "The room.", "enum": ["kitchen", "hall"]},
            "level": {"type": "INTEGER", "minimum": 0, "maximum": 10},
            "fade_s": {"type": "NUMBER", "minimum": 0},
            "on": {"type": "BOOLEAN"},
            "label": {"type": "STRING", "maxLength": 20, "pattern": "^[a-z ]+$"},
            "timer": {
                "type": "OBJECT",
                "properties": {"minutes": {"type": "INTEGER", "minimum": 1}},
                "required": ["minutes"],
            },
        },
        "required": ["room", "on"],
    }
    assert live_parameters({"type": "object"}) is None
    assert live_parameters(obj()) is None


def sdk_declaration(parameters: dict[str, Any] | None) -> types.FunctionDeclaration:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unknown enum value (a type name) is only a warning
        return types.FunctionDeclaration.model_validate(
            {"name": "lights", "description": "d", "parameters": parameters}
        )


def test_the_sdk_and_the_simulator_take_the_translation(oracle: Callable[[str], Any]) -> None:
    parameters = live_parameters(LIGHTS)
    declaration = sdk_declaration(parameters)
    assert declaration.parameters is not None
    assert declaration.parameters.properties is not None
    assert declaration.parameters.properties["level"].maximum == 10
    frame = encode_client_frame(
        Setup(
            model="gemini-2.5-flash-native-audio-preview-12-2025",
            function_declarations=(FunctionDeclaration("lights", "d", parameters),),
        )
    )
    oracle(frame)
    body = parse_client_frame(frame, ParseContext("v1beta")).body
    assert body["tools"][0]["functionDeclarations"][0]["parameters"]["required"] == ["room", "on"]


# --------------------------------------------------------------------------------------------
# Properties: generated schemas of the subset, and arguments that follow them

NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,7}", fullmatch=True)
SAFE_PATTERNS = ["^[a-z]+$", "[0-9]", "^(on|off)$", "x?y"]


def leaf_schemas() -> st.SearchStrategy[dict[str, Any]]:
    strings = st.fixed_dictionaries(
        {"type": st.just("string")},
        optional={
            "enum": st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4, unique=True),
            "maxLength": st.integers(5, 30),  # at least as long as every enum value
            "description": st.text(max_size=20),
        },
    )
    patterned = st.fixed_dictionaries(
        {"type": st.just("string"), "pattern": st.sampled_from(SAFE_PATTERNS)}
    )
    bounds = st.integers(-1000, 1000)
    integers = st.builds(
        lambda a, b: {"type": "integer", "minimum": min(a, b), "maximum": max(a, b)}, bounds, bounds
    )
    numbers = st.fixed_dictionaries(
        {"type": st.just("number")},
        optional={"minimum": st.floats(-1e6, 0), "maximum": st.floats(1, 1e6)},
    )
    return st.one_of(strings, patterned, integers, numbers, st.just({"type": "boolean"}))


def object_schemas(depth: int = 1) -> st.SearchStrategy[dict[str, Any]]:
    child = leaf_schemas() if depth >= 3 else st.one_of(leaf_schemas(), object_schemas(depth + 1))

    def build(properties: dict[str, dict[str, Any]], required: list[bool]) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        names = [n for n, keep in zip(properties, required, strict=False) if keep]
        if names:
            schema["required"] = names
        return schema

    return st.builds(
        build,
        st.dictionaries(NAMES, child, max_size=4),
        st.lists(st.booleans(), min_size=4, max_size=4),
    )


def value_for(schema: dict[str, Any], data: st.DataObject) -> Any:
    kind = schema["type"]
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return {
            name: value_for(sub, data)
            for name, sub in properties.items()
            if name in required or data.draw(st.booleans())
        }
    if kind == "boolean":
        return data.draw(st.booleans())
    if kind == "integer":
        return data.draw(st.integers(schema["minimum"], schema["maximum"]))
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return data.draw(st.floats(low, high, allow_nan=False, allow_infinity=False))
    if "enum" in schema:
        return data.draw(st.sampled_from(schema["enum"]))
    if "pattern" in schema:
        return data.draw(st.from_regex(schema["pattern"]).filter(lambda s: len(s) <= MAX_MATCHED))
    return data.draw(st.text(max_size=schema.get("maxLength", 30)))


@settings(max_examples=150, deadline=None)
@given(schema=object_schemas(), data=st.data())
def test_generated_schemas_translate_and_accept_what_follows_them(
    schema: dict[str, Any], data: st.DataObject
) -> None:
    assert schema_problems(schema) == []
    parameters = live_parameters(schema)
    sdk_declaration(parameters)
    json.dumps(parameters, allow_nan=False)
    args = value_for(schema, data)
    assert check_arguments(schema, args) == []
    # One argument of the wrong type is found and named.
    if args:
        name = sorted(args)[0]
        wrong = [1] if not isinstance(args[name], list) else "x"
        [problem] = check_arguments(schema, {**args, name: wrong})
        assert problem.startswith(f"argument '{name}': must be")
    assert re.fullmatch(r"[^\n]*", "".join(check_arguments(schema, {"\n": 1})))
