"""The control socket's line protocol (edgevoice.control_protocol): typed requests, one-line
errors for hostile lines (garbage, huge, nested, non-UTF-8, control characters), replies that
are always one line, and a client reader that treats the daemon's line as outside input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgevoice.control_protocol import (
    COMMANDS,
    MAX_ERROR,
    MAX_LINE,
    MAX_REPLY,
    Cancel,
    ControlError,
    Mute,
    Press,
    Release,
    Reply,
    Request,
    Say,
    Status,
    Toggle,
    Unmute,
    Volume,
    encode_reply,
    encode_request,
    parse_reply,
    parse_request,
)
from edgevoice.redact import printable


def line(obj: Any) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def safe(text: str) -> bool:
    """Nothing in `text` that redact.printable would escape: no control character, line or
    paragraph separator, bidi override or lone surrogate (one line, nothing hidden)."""
    return printable(text) == text


def refused(raw: bytes | str) -> str:
    with pytest.raises(ControlError) as info:
        parse_request(raw)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert safe(message), message
    return message


# --------------------------------------------------------------------------------------------
# Requests


@pytest.mark.parametrize(
    ("raw", "request_"),
    [
        (b'{"cmd": "press"}\n', Press()),
        (b'{"cmd":"release"}', Release()),
        (b'{"cmd": "toggle"}\r\n', Toggle()),
        (b'  {"cmd": "cancel"}  \n', Cancel()),
        (b'{"cmd": "mute"}\n', Mute()),
        (b'{"cmd": "unmute"}\n', Unmute()),
        (b'{"cmd": "status"}\n', Status()),
        (b'{"cmd": "volume", "percent": 40}\n', Volume(40)),
        (b'{"cmd": "volume", "percent": 40.0}\n', Volume(40)),
        (b'{"percent": 0, "cmd": "volume"}\n', Volume(0)),
        ('{"cmd": "say", "text": "Wie spät ist es?"}\n'.encode(), Say("Wie spät ist es?")),
        (b'{"cmd": "say", "text": "two\\nlines\\tand a tab"}', Say("two\nlines\tand a tab")),
    ],
)
def test_each_command_parses_to_its_request(raw: bytes, request_: Request) -> None:
    assert parse_request(raw) == request_


def test_requests_match_by_type() -> None:
    seen = []
    for raw in (b'{"cmd":"say","text":"hi"}', b'{"cmd":"volume","percent":7}', b'{"cmd":"mute"}'):
        match parse_request(raw):
            case Say(text=text):
                seen.append(f"say {text}")
            case Volume(percent=percent):
                seen.append(f"volume {percent}")
            case Mute():
                seen.append("mute")
    assert seen == ["say hi", "volume 7", "mute"]


requests = st.one_of(
    st.sampled_from([Press(), Release(), Toggle(), Cancel(), Mute(), Unmute(), Status()]),
    st.integers(0, 100).map(Volume),
    st.text(
        st.characters(blacklist_categories=("Cc", "Cs"), whitelist_characters="\n\t"),
        min_size=1,
        max_size=300,
    )
    .filter(str.strip)
    .map(Say),
)


@settings(max_examples=300, deadline=None)
@given(request_=requests)
def test_every_request_round_trips_on_one_line(request_: Request) -> None:
    raw = encode_request(request_)
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1 and len(raw) <= MAX_LINE
    assert parse_request(raw) == request_


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "empty request"),
        (b"\n", "empty request"),
        (b"   \r\n", "empty request"),
        (b"status\n", "not JSON"),
        (b"{cmd: press}\n", "not JSON"),
        (b'{"cmd": "press"', "not JSON"),
        (b'{"cmd": "press"}{"cmd": "press"}', "not JSON"),
        (b'{"cmd": "press"}\n{"cmd": "release"}\n', "spans several lines"),
        (b'["press"]', "a request is a JSON object"),
        (b'"press"', "a request is a JSON object"),
        (b"null", "a request is a JSON object"),
        (b"{}", 'a request needs "cmd"'),
        (b'{"cmd": 1}', 'a request needs "cmd"'),
        (b'{"cmd": ["press"]}', 'a request needs "cmd"'),
        (b'{"cmd": "reboot"}', "unknown command 'reboot'; one of: press, release"),
        (b'{"cmd": "PRESS"}', "unknown command 'PRESS'"),
        (b'{"cmd": "press", "force": true}', "press: unknown field 'force' (fields: none)"),
        (b'{"cmd": "press", "cmd": "release"}', "field 'cmd' is given twice"),
        (b'{"cmd": "say"}', 'say: "text" must be a string, got null'),
        (b'{"cmd": "say", "text": 5}', 'say: "text" must be a string, got a number'),
        (b'{"cmd": "say", "text": "  "}', "say: text is empty"),
        (
            b'{"cmd": "say", "text": "hi", "voice": "x"}',
            "say: unknown field 'voice' (fields: text)",
        ),
        (b'{"cmd": "say", "text": "a\\u0000b"}', "say: text holds the control character '\\x00'"),
        (b'{"cmd": "say", "text": "a\\u001b[2Jb"}', "control character '\\x1b'"),
        (b'{"cmd": "say", "text": "\\ud800"}', "control character '\\ud800'"),
        (b'{"cmd": "volume"}', 'volume: "percent" must be a whole number 0-100, got null'),
        (b'{"cmd": "volume", "percent": "40"}', "got a string"),
        (b'{"cmd": "volume", "percent": true}', "got a boolean"),
        (b'{"cmd": "volume", "percent": 40.5}', "got a number"),
        (b'{"cmd": "volume", "percent": 101}', "volume: percent must be a whole number 0-100"),
        (b'{"cmd": "volume", "percent": -1}', "0-100, got -1"),
        (b'{"cmd": "volume", "percent": NaN}', "NaN is not a JSON number"),
        (b'{"cmd": "volume", "percent": Infinity}', "Infinity is not a JSON number"),
        (b'{"cmd": "volume", "percent": 1e999}', "out of range"),
        (b'{"cmd": "volume", "percent": ' + b"9" * 30 + b"}", "a number has 30 digits"),
        (b'{"cmd": "press", "x": {"y": 1}}', "press: unknown field 'x'"),
    ],
)
def test_a_bad_request_gets_a_one_line_reason(raw: bytes, expected: str) -> None:
    assert expected in refused(raw)


def test_text_longer_than_allowed_is_refused() -> None:
    assert "at most 2000" in refused(line({"cmd": "say", "text": "x" * 2001}))
    assert parse_request(line({"cmd": "say", "text": "x" * 2000})) == Say("x" * 2000)


# --------------------------------------------------------------------------------------------
# Hostile lines


def test_a_huge_line_is_refused_before_it_is_parsed() -> None:
    huge = b'{"cmd": "say", "text": "' + b"a" * MAX_LINE + b'"}\n'
    assert f"longer than {MAX_LINE} bytes" in refused(huge)
    exactly = b'{"cmd":"say","text":"' + b"a" * (MAX_LINE - 24) + b'"}\n'
    assert len(exactly) == MAX_LINE
    assert "at most 2000" in refused(exactly)  # within the line bound: the text bound speaks


@pytest.mark.parametrize("depth", [3, 50, 2000])
def test_deep_nesting_is_refused_without_recursion(depth: int) -> None:
    raw = b'{"cmd": ' + b"[" * depth + b"]" * depth + b"}"
    assert f"nests {depth + 1} levels deep" in refused(raw)


def test_brackets_inside_strings_are_text() -> None:
    assert parse_request(b'{"cmd": "say", "text": "[[[{{{\\"]]]"}') == Say('[[[{{{"]]]')


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe{}",
        b'{"cmd": "say", "text": "\xc3"}',
        b'{"cmd": "say", "text": "\xed\xa0\x80"}',  # an encoded surrogate: not UTF-8
        b'{"cmd": "\xc0\xaf"}',
    ],
)
def test_bytes_that_are_not_utf8_are_refused(raw: bytes) -> None:
    assert "not UTF-8 text (bad byte at" in refused(raw)


@pytest.mark.parametrize(
    "evil",
    [
        "\x1b[31mpress\x1b[0m",
        "press\nfake log line",
        "press\r",
        "\u2028press",
        "\u202epress",
        "\x07\x08\x7f\x85",
        "x" * 5000,
    ],
)
def test_outside_text_in_a_reason_is_escaped_and_cut(evil: str) -> None:
    for raw in (
        line({"cmd": evil}),
        line({"cmd": "press", evil: 1}),
    ):
        if len(raw) > MAX_LINE:
            continue
        message = refused(raw)
        assert len(message) < 200
    reply = encode_reply(Reply.failure(f"unknown command {evil}"))
    assert reply.count(b"\n") == 1 and reply.isascii()
    assert safe(parse_reply(reply).error)


@settings(max_examples=500, deadline=None)
@given(raw=st.binary(max_size=600))
def test_garbage_only_ever_gives_a_request_or_a_control_error(raw: bytes) -> None:
    try:
        parse_request(raw)
    except ControlError as error:
        assert safe(str(error))


@settings(max_examples=300, deadline=None)
@given(
    obj=st.dictionaries(
        st.sampled_from(["cmd", "text", "percent", "x"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=4), inner, max_size=3)
            ),
            max_leaves=8,
        )
        | st.sampled_from(COMMANDS),
        max_size=4,
    )
)
def test_any_json_object_gives_a_request_or_a_control_error(obj: dict[str, Any]) -> None:
    try:
        raw = json.dumps(obj).encode()
    except ValueError:
        return
    try:
        parse_request(raw)
    except ControlError as error:
        assert safe(str(error))


# --------------------------------------------------------------------------------------------
# Replies


def test_replies_round_trip() -> None:
    data = {"state": "idle", "muted": False, "counters": {"turns": 3}, "p50_ms": 412.5}
    raw = encode_reply(Reply.success(data))
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    assert json.loads(raw) == {"ok": True, **data}
    assert parse_reply(raw) == Reply(True, "", data)
    assert parse_reply(encode_reply(Reply.success())) == Reply(True)
    failed = encode_reply(Reply.failure("edgevoice is muted"))
    assert json.loads(failed) == {"ok": False, "error": "edgevoice is muted"}
    assert parse_reply(failed) == Reply(False, "edgevoice is muted")


def test_a_reply_is_one_line_whatever_its_data_holds() -> None:
    raw = encode_reply(Reply.success({"last_error": "bad\nline\u2028\x1b[2J", "ü": "ß"}))
    assert raw.count(b"\n") == 1 and raw.isascii()
    assert parse_reply(raw).data["last_error"] == "bad\nline\u2028\x1b[2J"  # data as sent


def test_an_error_message_is_cut_and_escaped() -> None:
    raw = encode_reply(Reply(False, "x\n" * 1000))
    message = json.loads(raw)["error"]
    assert len(message) <= MAX_ERROR and "\n" not in message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"ok": 1}, "reserved key"),
        ({"error": "x"}, "reserved key"),
        ({"when": object()}, "not JSON"),
        ({"nan": float("nan")}, "not JSON"),
        ({"big": "x" * MAX_REPLY}, "longer than"),
    ],
)
def test_data_that_cannot_be_sent_becomes_an_error_reply(
    data: dict[str, Any], expected: str
) -> None:
    reply = parse_reply(encode_reply(Reply.success(data)))
    assert not reply.ok and expected in reply.error


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"garbage\n",
        b"[]\n",
        b'{"ok": "yes"}\n',
        b'{"ok": false}\n',
        b'{"ok": false, "error": 5}\n',
        b"\xff\n",
        b"{" * 100 + b"}" * 100,
        b'{"ok": true, "x": "' + b"a" * MAX_REPLY + b'"}',
    ],
)
def test_the_client_refuses_a_line_that_is_not_a_reply(raw: bytes) -> None:
    with pytest.raises(ControlError) as info:
        parse_reply(raw)
    assert safe(str(info.value))


def test_the_client_escapes_a_hostile_error() -> None:
    reply = parse_reply(b'{"ok": false, "error": "\\u001b]0;pwned\\u0007 done"}\n')
    assert "\x1b" not in reply.error and "\x07" not in reply.error
    assert reply.error.startswith("\\x1b]0;pwned")


def test_a_request_built_in_code_is_checked_too() -> None:
    with pytest.raises(ControlError, match="0-100"):
        Volume(101)
    with pytest.raises(ControlError, match="empty"):
        Say("")
    with pytest.raises(ControlError, match="at most 2000"):
        Say("x" * 2001)
