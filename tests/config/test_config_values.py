"""Every value is checked before anything starts: types, NaN and infinity, bounds, shapes,
control characters (issue 7 section 2: one validation path; section 4: text from the file is
escaped in messages)."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest

from edgevoice.config import SECTIONS, Config, parse_config, to_toml
from edgevoice.errors import ConfigError

FILE = "/etc/edgevoice/edgevoice.toml"


def problems(text: str = "", *overrides: str) -> dict[str, str]:
    """{key: "message (source)"} for a config that must be refused."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, FILE, overrides)
    return {p.key: f"{p.message} ({p.source})" for p in caught.value.problems}


def numeric_fields() -> list[tuple[str, str, type]]:
    out = []
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] in (int, float):
                out.append((section, f.name, hints[f.name]))
    return out


NUMERIC = numeric_fields()
FLOATS = [(s, n) for s, n, tp in NUMERIC if tp is float]


def test_the_schema_has_numbers_of_both_kinds() -> None:
    assert len(FLOATS) >= 15 and len(NUMERIC) - len(FLOATS) >= 15


@pytest.mark.parametrize(
    ("section", "name", "tp"), NUMERIC, ids=[f"{s}.{n}" for s, n, _ in NUMERIC]
)
def test_every_number_has_bounds(section: str, name: str, tp: type) -> None:
    meta = next(f.metadata for f in dataclasses.fields(SECTIONS[section]) if f.name == name)
    has_choices = meta["choices"] is not None
    has_rate_check = meta["check"] is not None and name.endswith("_rate")
    assert (
        has_choices
        or has_rate_check
        or (meta["minimum"] is not None and meta["maximum"] is not None)
    ), f"{section}.{name} has no upper or lower bound"


@pytest.mark.parametrize("literal", ["nan", "inf", "-inf", "+nan"])
@pytest.mark.parametrize(("section", "name"), FLOATS, ids=[f"{s}.{n}" for s, n in FLOATS])
def test_nan_and_infinity_are_refused_everywhere(section: str, name: str, literal: str) -> None:
    found = problems(f"[{section}]\n{name} = {literal}\n")
    assert "is not a finite number" in found[f"{section}.{name}"]
    found = problems("", f"{section}.{name}={literal}")
    assert found[f"{section}.{name}"].endswith("(--set)")


@pytest.mark.parametrize(
    ("section", "name", "tp"), NUMERIC, ids=[f"{s}.{n}" for s, n, _ in NUMERIC]
)
def test_absurd_numbers_are_refused(section: str, name: str, tp: type) -> None:
    huge = 10**30 if tp is int else 1e30
    found = problems(f"[{section}]\n{name} = {huge}\n")
    assert f"{section}.{name}" in found


def test_a_float_where_an_integer_belongs() -> None:
    assert (
        "1e+23 is not an integer"
        in problems("", "live.max_message_size=1e23")["live.max_message_size"]
    )


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("a/b", "is not a model id"),
        ("models/a/b", "is not a model id"),
        ("models/", "is not a model id"),
        ("gemini 3.8", "is not a model id"),
        ("gémini-3.8-live", "is not a model id"),
        ("x" * 200, "is not a model id"),
    ],
)
def test_model_ids_that_cannot_be_a_model(model: str, fragment: str) -> None:
    found = problems(f'[live]\nmodel = "{model}"\n')
    assert fragment in found["live.model"]
    assert "use e.g. 'gemini-3.8-live'" in found["live.model"]


@pytest.mark.parametrize(
    "model", ["gemini-3.8-live", "models/gemini-3.8-live", "gemini-9.9-live_preview.2"]
)
def test_model_ids_that_can(model: str) -> None:
    assert parse_config(f'[live]\nmodel = "{model}"\n', FILE).live.model == model


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("wss://h:99999", "invalid host or port"),
        ("wss://h:abc", "invalid host or port"),
        ("wss://h:0", "port 0"),
        ("wss://[::1", "invalid host or port"),
        ("wss://exa mple.com", "without spaces"),
        ("wss://exämple.com", "xn--"),
        ("wss://bad$host.com", "not a valid host name"),
        ("wss://h.com/#frag", "#fragment"),
        ("wss://user:pw@h.com", "never the URL"),
        ("https://h.com", "not a WebSocket URL"),
        ("ws://10.0.0.1:8765", "loopback"),
    ],
)
def test_endpoints_that_cannot_connect(url: str, fragment: str) -> None:
    assert fragment in problems(f'[live]\nendpoint = "{url}"\n')["live.endpoint"]


@pytest.mark.parametrize(
    "url",
    ["wss://h:99999/?key=AIzaSecret1234", "wss://u:AIzaSecret1234@h:abc", "x?key=AIzaSecret1234"],
)
def test_an_endpoint_with_a_key_in_it_is_never_echoed(url: str) -> None:
    message = problems(f'[live]\nendpoint = "{url}"\n')["live.endpoint"]
    assert "never the URL" in message and "AIzaSecret1234" not in message


@pytest.mark.parametrize(
    "url",
    [
        "wss://generativelanguage.googleapis.com",
        "wss://h.example:443/prefix",
        "ws://127.0.0.1:8765",
        "ws://[::1]:8765",
        "ws://localhost:1",
        "wss://10.1.2.3:65535",
    ],
)
def test_endpoints_that_can(url: str) -> None:
    assert parse_config(f'[live]\nendpoint = "{url}"\n', FILE).live.endpoint == url


@pytest.mark.parametrize(
    ("codes", "fragment"),
    [
        ('["en_US"]', "write it like 'en-US'"),
        ('["english"]', "not a BCP-47 language code"),
        ('["de", "DE"]', "more than once"),
        ('[""]', "not a BCP-47"),
        ('["a", "b", "c", "d", "e", "f", "g", "h", "i"]', "at most 8"),
    ],
)
def test_transcription_languages_are_bcp47(codes: str, fragment: str) -> None:
    found = problems(f"[live]\ntranscription_languages = {codes}\n")
    assert fragment in found["live.transcription_languages"]


@pytest.mark.parametrize("codes", ['["de"]', '["en-US", "es-419"]', '["zh-Hant-TW", "sl-rozaj"]'])
def test_transcription_languages_that_are_fine(codes: str) -> None:
    parse_config(f"[live]\ntranscription_languages = {codes}\n", FILE)


def test_transcription_languages_need_the_input_transcription() -> None:
    text = '[live]\ntranscription_languages = ["de"]\ninput_transcription = false\n'
    assert "needs live.input_transcription" in problems(text)["live.transcription_languages"]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ('["a/b"]', "is not a model id"),
        ('["gemini-3.8-live", "gemini-3.8-live"]', "more than once"),
        ('["a1", "a2", "a3", "a4", "a5", "a6"]', "at most 5"),
    ],
)
def test_fallback_models_are_checked_like_the_model(value: str, fragment: str) -> None:
    found = problems(f"[live]\nfallback_models = {value}\n")
    assert fragment in found["live.fallback_models"]


def test_the_model_is_not_its_own_fallback() -> None:
    found = problems('[live]\nfallback_models = ["models/gemini-3.8-live"]\n')
    assert "a fallback must be another model" in found["live.fallback_models"]


def test_compression_tokens_need_compression() -> None:
    found = problems("", "live.compression=false", "live.compression_trigger_tokens=1000")
    assert found["live.compression_trigger_tokens"] == (
        "1000 tokens is set but live.compression is false; remove it or set live.compression "
        "= true (--set)"
    )


@pytest.mark.parametrize("char", ["\x1b", "\x00", "\u202e", "\r", "\x85"])
def test_control_characters_are_refused_in_strings(char: str) -> None:
    escaped = f"\\u{ord(char):04x}"
    found = problems(f'[audio]\ninput_device = "mic{escaped}x"\n')
    message = found["audio.input_device"]
    assert "control characters" in message
    assert char not in message  # escaped in the message itself


def test_a_system_instruction_may_hold_newlines_and_tabs() -> None:
    text = '[live]\nsystem_instruction = """Be brief.\n\tAlways."""\n'
    config = parse_config(text, FILE)
    assert config.live.system_instruction == "Be brief.\n\tAlways."
    # The printed effective config reads back to the same value.
    assert parse_config(to_toml(config), "printed") == config


def test_strings_have_a_length_bound() -> None:
    found = problems(f'[audio]\ninput_device = "{"m" * 2000}"\n')
    assert "at most 1024" in found["audio.input_device"]
    parse_config(f'[live]\nsystem_instruction = "{"s" * 30000}"\n', FILE)
    found = problems(f'[live]\nsystem_instruction = "{"s" * 40000}"\n')
    assert "at most 32768" in found["live.system_instruction"]


def test_hostile_key_names_are_escaped_in_messages() -> None:
    text = '[audio]\n"vol\\u001b[2Jume\\nforged: line" = 1\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, FILE)
    rendered = str(caught.value)
    assert "\x1b" not in rendered and "\n" not in rendered
    assert "\\x1b[2J" in rendered and "\\x0a" in rendered


def test_hostile_values_are_escaped_in_messages() -> None:
    text = '[trigger]\nmode = "clap\\u001b]0;owned\\u0007"\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, FILE)
    assert "\x1b" not in str(caught.value) and "\x07" not in str(caught.value)


def test_a_flood_of_problems_is_listed_bounded() -> None:
    text = "[audio]\n" + "".join(f"unknown_{i} = 1\n" for i in range(500))
    with pytest.raises(ConfigError) as caught:
        parse_config(text, FILE)
    assert len(caught.value.problems) == 50
    assert "451 more problems" in caught.value.problems[-1].message


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("live.voice=Kore\n[audio]\nvolume=3", "one line"),
        ("live.system_instruction=" + "x" * 5000, "at most 4096"),
        ("live.tools=" + "[" * 1500 + "]" * 1500, "cannot be read"),
        ("live.compression_trigger_tokens=" + "9" * 4000, "above the maximum"),
    ],
)
def test_hostile_overrides_are_refused(override: str, fragment: str) -> None:
    found = problems("", override)
    key = override.partition("=")[0]
    assert fragment in found[key] and found[key].endswith("(--set)")


def test_toml_the_parser_chokes_on_is_a_problem_not_a_crash() -> None:
    for text in ("v = " + "9" * 5000, "v = " + "[" * 3000 + "]" * 3000):
        found = problems(text)
        assert found["(file)"].startswith("not valid TOML")


def test_config_equality_ignores_where_values_came_from() -> None:
    from_file = parse_config("[audio]\nvolume = 5\n", FILE)
    from_set = parse_config(None, FILE, ["audio.volume=5"])
    assert from_file == from_set
    assert from_file.source_of("audio.volume") == FILE
    assert from_set.source_of("audio.volume") == "--set"
    assert from_set.source_of("audio.downmix") == "defaults"
    assert Config().live.model == "gemini-3.8-live"
    assert not math.isnan(Config().live.resumption_window)
