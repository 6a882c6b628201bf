"""Hostile server frames (issue #7 section 4): each ends as the project's own
RemoteProtocolError on one printable line, or decodes to events whose text can be printed.
Every case here failed with a foreign exception (or printed a lone surrogate) before."""

from __future__ import annotations

import dataclasses
import json

import pytest

from edgevoice.errors import RemoteProtocolError
from edgevoice.live.decode import decode_server_message
from edgevoice.live.events import (
    GoAway,
    IgnoredFields,
    InputTranscription,
    OutputTranscription,
    ServerEvent,
    SetupComplete,
    TextPart,
    ToolCall,
    UsageMetadata,
)
from edgevoice.redact import printable


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def assert_one_clean_line(error: RemoteProtocolError) -> str:
    message = str(error)
    assert message == printable(message), message[:200]  # no control characters, no surrogates
    assert "\n" not in message and len(message) < 300
    message.encode("utf-8")  # printable on any UTF-8 terminal or journal
    return message


REFUSED: list[tuple[str, str, str]] = [
    ("deep-usage", '{"usageMetadata":{"x":' + nested(500) + "}}", "nested 502 levels"),
    (
        "deep-args",
        '{"toolCall":{"functionCalls":[{"id":"a","name":"b","args":{"x":'
        + deep_object(500)
        + "}}]}}",
        "nested 505 levels",
    ),
    ("deep-top", nested(100_000), "nested 100000 levels"),
    ("deep-unknown-field", '{"brandNew":' + nested(70) + "}", "more than 64 is refused"),
    (
        "rate-superscript",
        '{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
        '{"data":"AAAA","mimeType":"audio/pcm;rate=\u00b2"}}]}}}',
        "invalid rate",
    ),
    (
        "rate-arabic-digits",
        '{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
        '{"data":"AAAA","mimeType":"audio/pcm;rate=\u0662\u0664\u0660\u0660\u0660"}}]}}}',
        "invalid rate",
    ),
    ("int-5000-digits", '{"usageMetadata":{"totalTokenCount":' + "9" * 5000 + "}}", "5000 char"),
    (
        "int-in-args",
        '{"toolCall":{"functionCalls":[{"id":"a","name":"b","args":{"n":-' + "1" * 4400 + "}}]}}",
        "4401 characters",
    ),
    ("int-string-too-long", '{"usageMetadata":{"totalTokenCount":"' + "9" * 30 + '"}}', "integer"),
    ("goaway-1e400", '{"goAway":{"timeLeft":1e400}}', "beyond the range of a double"),
    ("goaway-10^400", '{"goAway":{"timeLeft":1' + "0" * 400 + "}}", "401 characters"),
    ("goaway-10^20", '{"goAway":{"timeLeft":100000000000000000000}}', "at most 10,000 years"),
    ("goaway-string-huge", '{"goAway":{"timeLeft":"1' + "0" * 400 + 's"}}', "protobuf duration"),
    ("goaway-string-10^13", '{"goAway":{"timeLeft":"9999999999999s"}}', "protobuf duration"),
    ("nan", '{"usageMetadata":{"totalTokenCount":NaN}}', "NaN, which is not a JSON number"),
    (
        "infinity",
        '{"toolCall":{"functionCalls":[{"id":"a","name":"b","args":{"x":Infinity}}]}}',
        "Infinity",
    ),
    ("minus-infinity", '{"goAway":{"timeLeft":-Infinity}}', "-Infinity"),
    ("duplicate-key", '{"goAway":{"timeLeft":"1s","timeLeft":"2s"}}', "'timeLeft' twice"),
    ("duplicate-top", '{"setupComplete":{},"setupComplete":{}}', "'setupComplete' twice"),
    (
        "duplicate-after-surrogate-repair",
        '{"usageMetadata":{"a\\ud800":1,"a\\udc00":2}}',
        "twice",
    ),
    (
        "many-parts",
        '{"serverContent":{"modelTurn":{"parts":[' + ",".join(["{}"] * 5000) + "]}}}",
        "parts has 5000 items",
    ),
    (
        "many-calls",
        '{"toolCall":{"functionCalls":['
        + ",".join(f'{{"id":"{i}","name":"n"}}' for i in range(1000))
        + "]}}",
        "functionCalls has 1000 items",
    ),
    ("many-ids", '{"toolCallCancellation":{"ids":[' + ",".join(['"x"'] * 5000) + "]}}", "5000"),
    ("forged-line-in-key", '{"a\\nERROR fake":1,"a\\nERROR fake":2}', r"twice"),
    (
        "control-in-mime",
        '{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"AAAA","mimeType":"audio/x\\u001b[31m"}}]}}}',
        "not raw PCM",
    ),
    ("bidi-in-value", '{"setupComplete":{"sessionId":["\\u202eevil"]}}', "must be a string"),
    ("not-json-with-escape", "\x1b[2J{", "not JSON"),
]


@pytest.mark.parametrize(("name", "raw", "needle"), REFUSED, ids=[r[0] for r in REFUSED])
def test_hostile_frames_end_as_one_clean_line(name: str, raw: str, needle: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_server_message(raw)
    message = assert_one_clean_line(info.value)
    assert needle in message
    # Bytes (what the server really sends) end the same way.
    if "\ud800" not in raw:
        with pytest.raises(RemoteProtocolError):
            decode_server_message(raw.encode("utf-8"))


def text_of(event: ServerEvent) -> list[str]:
    """Every string in an event, nested ones included."""
    found: list[str] = []
    stack: list[object] = [dataclasses.asdict(event)]  # type: ignore[call-overload]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def assert_printable(events: list[ServerEvent]) -> None:
    for event in events:
        for text in text_of(event):
            text.encode("utf-8")  # a lone surrogate would raise UnicodeEncodeError here


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '{"serverContent":{"outputTranscription":{"text":"a\\ud800b"}}}',
            [OutputTranscription("a\ufffdb")],
        ),
        (
            '{"serverContent":{"inputTranscription":{"text":"\\udc00x\\ud83d"}}}',
            [InputTranscription("\ufffdx\ufffd")],
        ),
        (
            '{"serverContent":{"modelTurn":{"parts":[{"text":"ok \\ud83d\\ude00"}]}}}',
            [TextPart("ok \U0001f600")],  # a proper pair is one character, untouched
        ),
        ('{"setupComplete":{"sessionId":"s\\ud801"}}', [SetupComplete("s\ufffd")]),
    ],
)
def test_lone_surrogates_become_replacement_characters(
    raw: str, expected: list[ServerEvent]
) -> None:
    events = decode_server_message(raw)
    assert events == expected
    assert_printable(events)
    assert decode_server_message(raw.encode()) == expected  # escapes survive as bytes too


def test_surrogates_deep_in_args_usage_and_unknown_keys_are_replaced() -> None:
    raw = (
        '{"toolCall":{"functionCalls":[{"id":"i\\ud800","name":"n",'
        '"args":{"k\\udfff":["\\ud800",{"x":"\\udbff"}]}}]},'
        '"usageMetadata":{"totalTokenCount":1,"d\\ud800":[["\\ud800"]]},'
        '"x\\ud800":1}'
    )
    events = decode_server_message(raw)
    assert_printable(events)
    usage, call, ignored = events
    assert isinstance(call, ToolCall) and isinstance(usage, UsageMetadata)
    assert call.calls[0].id == "i\ufffd"
    assert dict(call.calls[0].args) == {"k\ufffd": ["\ufffd", {"x": "\ufffd"}]}
    assert usage.raw == {"totalTokenCount": 1, "d\ufffd": [["\ufffd"]]}
    assert ignored == IgnoredFields(("x\ufffd",))


def test_a_text_frame_with_a_raw_surrogate_is_repaired_too() -> None:
    # A str handed in directly (not from UTF-8) can carry a surrogate code point itself.
    events = decode_server_message('{"serverContent":{"outputTranscription":{"text":"\ud800"}}}')
    assert events == [OutputTranscription("\ufffd")]


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '[{"\\"' * 5000
    events = decode_server_message(
        json.dumps({"serverContent": {"modelTurn": {"parts": [{"text": text}]}}})
    )
    assert events == [TextPart(text)]


def test_nesting_at_the_limit_is_accepted() -> None:
    # 64 levels in all: the message object, toolCall, functionCalls, the call, args, and 59 more.
    args = nested(59, "0")
    raw = '{"toolCall":{"functionCalls":[{"id":"a","name":"b","args":{"x":' + args + "}}]}}"
    [event] = decode_server_message(raw)
    assert isinstance(event, ToolCall)
    with pytest.raises(RemoteProtocolError, match="nested 65 levels"):
        decode_server_message(raw.replace(args, nested(60, "0")))


def test_large_but_legal_numbers_pass() -> None:
    assert decode_server_message('{"goAway":{"timeLeft":"315576000000s"}}') == [
        GoAway(315576000000.0)
    ]
    usage = '{"usageMetadata":{"totalTokenCount":"9223372036854775807","x":1.5e300}}'
    [event] = decode_server_message(usage)
    assert isinstance(event, UsageMetadata) and event.total_tokens == 2**63 - 1


def test_ignored_fields_are_capped() -> None:
    raw = json.dumps({f"new{i}": i for i in range(1000)})
    [event] = decode_server_message(raw)
    assert isinstance(event, IgnoredFields)
    assert len(event.paths) == 33
    assert event.paths[-1] == "... (more ignored fields)"


def test_ignored_field_names_are_escaped() -> None:
    [event] = decode_server_message('{"x\\nINFO forged\\u001b[0m":1}')
    assert isinstance(event, IgnoredFields)
    [path] = event.paths
    assert path == printable(path) and "\n" not in path and "\x1b" not in path
