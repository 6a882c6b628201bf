"""A bounded fuzz of the decoder (issue #7 section 4): thousands of documents built from the
server event shapes, mutated, serialised with NaN and Infinity allowed, cut, spliced, nested
deep, or plain random bytes. Whatever comes in, the decoder either returns events whose text
can be printed, or raises the project's RemoteProtocolError with one printable line. Nothing
else, ever. Derandomized, so CI runs the same documents every time."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgevoice.errors import RemoteProtocolError
from edgevoice.live.decode import decode_server_message
from edgevoice.live.events import ServerEvent
from edgevoice.redact import printable


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def check(frame: str | bytes) -> None:
    """The property: a clean event list, or our error on one printable line."""
    try:
        events = decode_server_message(frame)
    except RemoteProtocolError as exc:
        message = str(exc)
        assert message == printable(message), message[:300]
        assert "\n" not in message and len(message) < 400
        message.encode("utf-8")
        return
    assert isinstance(events, list)
    for event in events:
        assert_encodable(event)


def assert_encodable(event: ServerEvent) -> None:
    stack: list[object] = [dataclasses.asdict(event)]  # type: ignore[call-overload]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            item.encode("utf-8")
        elif isinstance(item, bytes):
            pass
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        else:
            assert item is None or isinstance(item, (bool, int, float)), type(item)


# --------------------------------------------------------------------------------------------
# Documents shaped like server messages

TEXT = st.text(max_size=12)  # includes surrogates, controls, bidi characters
WEIRD_NUMBERS = st.sampled_from(
    [0, -1, 1.5, 2**63, 10**30, 1e308, float("nan"), float("inf"), -float("inf"), 10**400]
)
SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | TEXT | WEIRD_NUMBERS
JSON_ANY = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
BOOLISH = st.booleans() | st.sampled_from(["true", "false", "True", "1", 1, None])
B64 = st.binary(max_size=40).map(lambda b: __import__("base64").b64encode(b).decode()) | TEXT
MIME = (
    st.sampled_from(
        ["audio/pcm;rate=24000", "audio/pcm", "audio/L16;rate=16000", "audio/pcm;rate=\u00b2", "x"]
    )
    | TEXT
)
DURATION = (
    st.sampled_from(["10s", "9.5s", "0s", "-1s", "1e400s", "1" + "0" * 400 + "s"])
    | (st.integers(min_value=-(10**30), max_value=10**30).map(lambda n: f"{n}s"))
    | WEIRD_NUMBERS
    | TEXT
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy | JSON_ANY


PART = st.fixed_dictionaries(
    {},
    optional={
        "inlineData": maybe(
            st.fixed_dictionaries({}, optional={"data": maybe(B64), "mimeType": maybe(MIME)})
        ),
        "text": maybe(TEXT),
        "thought": maybe(BOOLISH),
    },
)
SERVER_CONTENT = st.fixed_dictionaries(
    {},
    optional={
        "modelTurn": maybe(
            st.fixed_dictionaries({}, optional={"parts": maybe(st.lists(maybe(PART), max_size=4))})
        ),
        "turnComplete": maybe(BOOLISH),
        "generationComplete": maybe(BOOLISH),
        "interrupted": maybe(BOOLISH),
        "waitingForInput": maybe(BOOLISH),
        "interactionStatus": maybe(st.sampled_from(["IN_PROGRESS", "IDLE", "REQUIRES_ACTION"])),
        "turnCompleteReason": maybe(TEXT),
        "inputTranscription": maybe(
            st.fixed_dictionaries({}, optional={"text": maybe(TEXT), "finished": maybe(BOOLISH)})
        ),
        "outputTranscription": maybe(
            st.fixed_dictionaries({}, optional={"text": maybe(TEXT), "finished": maybe(BOOLISH)})
        ),
    },
)
CALL = st.fixed_dictionaries(
    {}, optional={"id": maybe(TEXT), "name": maybe(TEXT), "args": maybe(JSON_ANY)}
)
MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "setupComplete": maybe(st.fixed_dictionaries({}, optional={"sessionId": maybe(TEXT)})),
        "serverContent": maybe(SERVER_CONTENT),
        "usageMetadata": maybe(st.dictionaries(TEXT, JSON_ANY, max_size=4)),
        "toolCall": maybe(
            st.fixed_dictionaries({}, optional={"functionCalls": maybe(st.lists(CALL, max_size=3))})
        ),
        "toolCallCancellation": maybe(
            st.fixed_dictionaries({}, optional={"ids": maybe(st.lists(maybe(TEXT), max_size=3))})
        ),
        "goAway": maybe(st.fixed_dictionaries({}, optional={"timeLeft": DURATION})),
        "sessionResumptionUpdate": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "newHandle": maybe(TEXT),
                    "resumable": maybe(BOOLISH),
                    "lastConsumedClientMessageIndex": maybe(st.integers().map(str) | TEXT),
                },
            )
        ),
    },
) | st.dictionaries(TEXT, JSON_ANY, max_size=3)


def snake(obj: Any) -> Any:
    """The same document with snake_case keys (the server may send either)."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            name = "".join("_" + c.lower() if c.isupper() else c for c in key)
            out[name] = snake(value)
        return out
    if isinstance(obj, list):
        return [snake(v) for v in obj]
    return obj


@fuzz(500)
@given(message=MESSAGE, ascii_only=st.booleans())
def test_fuzz_structured_documents(message: dict[str, Any], ascii_only: bool) -> None:
    # Four documents per example: camelCase and snake_case, as text and as UTF-8 bytes.
    for document in (message, snake(message)):
        text = json.dumps(document, ensure_ascii=ascii_only)  # NaN / Infinity literals included
        check(text)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            continue  # a raw surrogate cannot travel as UTF-8 bytes; the str path covered it
        check(data)


# --------------------------------------------------------------------------------------------
# Textual mutations of valid documents

SAMPLE_FRAMES = [
    '{"setupComplete":{}}',
    '{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
    '{"mimeType":"audio/pcm;rate=24000","data":"AAABAA=="}}]}}}',
    '{"serverContent":{"turnComplete":true,"interactionStatus":"IN_PROGRESS"},'
    '"usageMetadata":{"totalTokenCount":12,"promptTokensDetails":[{"modality":"AUDIO"}]}}',
    '{"toolCall":{"functionCalls":[{"id":"fc-1","name":"get_time","args":{"a":[1,{"b":null}]}}]}}',
    '{"toolCallCancellation":{"ids":["fc-1"]}}',
    '{"goAway":{"timeLeft":"9.5s"}}',
    '{"sessionResumptionUpdate":{"newHandle":"h","resumable":true}}',
    '{"serverContent":{"outputTranscription":{"text":"It is noon","finished":true}}}',
]
SPLICE = st.sampled_from(
    ["[", "]", "{", "}", '"', "\\", ",", ":", "\\ud800", "\\u0000", "NaN", "-Infinity", "1e999",
     "9" * 50, "\x00", "\ud800", "\u202e", "\x1b[2J", "\n", "true", "null", '"rate=\u00b2"']
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SAMPLE_FRAMES))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "cut", "repeat"]))
        if action == "insert":
            text = text[:at] + draw(SPLICE | st.text(max_size=4)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 6)) :]
        elif action == "cut":
            text = text[:at]
        else:
            piece = text[at : at + draw(st.integers(1, 10))]
            text = text[:at] + piece * draw(st.integers(2, 50)) + text[at:]
    return text


@fuzz(1000)
@given(text=mutated())
def test_fuzz_mutated_frames(text: str) -> None:
    check(text)


# --------------------------------------------------------------------------------------------
# Deep nesting and raw bytes


@fuzz(300)
@given(
    depth=st.integers(0, 3000),
    opener=st.sampled_from(["[", '{"a":']),
    where=st.sampled_from(["top", "usage", "args", "unknown"]),
)
def test_fuzz_deep_nesting(depth: int, opener: str, where: str) -> None:
    closer = "]" if opener == "[" else "}"
    value = opener * depth + "1" + closer * depth
    frame = {
        "top": value,
        "usage": '{"usageMetadata":{"x":' + value + "}}",
        "args": '{"toolCall":{"functionCalls":[{"id":"a","name":"b","args":{"x":' + value + "}}]}}",
        "unknown": '{"brandNew":' + value + "}",
    }[where]
    check(frame)


@fuzz(1000)
@given(data=st.binary(max_size=200))
def test_fuzz_raw_bytes(data: bytes) -> None:
    check(data)
    check(b'{"serverContent":' + data + b"}")
