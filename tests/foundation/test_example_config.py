"""deploy/edgevoice.toml loads cleanly, documents every key, and check-config shows no secret."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from edgevoice.config import SECTIONS, field_docs, parse_config

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "edgevoice.toml"


def test_example_loads_and_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    parse_config(text, str(EXAMPLE))
    data = tomllib.loads(text)
    for section, cls in SECTIONS.items():
        names = {f.name for f in dataclasses.fields(cls)}
        assert set(data.get(section, {})) == names, f"[{section}] is out of date"
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if "=" in line and not line.startswith(("#", "[")):
            assert lines[index - 1].startswith("#"), f"undocumented: {line}"


def test_example_comments_say_what_the_schema_says() -> None:
    """Each key's comment block holds its field doc (and unit), so the example cannot drift."""
    lines = EXAMPLE.read_text().splitlines()
    for section in SECTIONS:
        start = lines.index(f"[{section}]")
        for name, _default, unit, doc in field_docs(section):
            key_line = next(
                i for i in range(start, len(lines)) if lines[i].split("=")[0].strip() == name
            )
            block = []
            for line in reversed(lines[start:key_line]):
                if not line.startswith("#"):
                    break
                block.insert(0, line.lstrip("# "))
            comment = " ".join(" ".join(block).split())
            assert " ".join(doc.split()) in comment, f"{section}.{name}: comment out of date"
            if unit:
                assert f"Unit: {unit}." in comment, f"{section}.{name}: unit missing"


def test_check_config_on_the_example(cli: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "dev-key-0123456789abcdef")
    result = cli("check-config", "--config", str(EXAMPLE))
    assert result.status == 0, result.err
    assert "# credential: environment variable GEMINI_API_KEY" in result.out
    # Issue 8: the example and the default move to the stable 3.8 model.
    assert "# model: gemini-3.8-live (gemini-3.8 live)" in result.out
    assert 'model = "gemini-3.8-live"' in result.out
    assert "dev-key-0123456789abcdef" not in result.out + result.err
    # The printed effective config is itself a valid config equal to the example.
    printed = "\n".join(line for line in result.out.splitlines() if not line.startswith("#"))
    assert parse_config(printed, "printed") == parse_config(EXAMPLE.read_text(), "example")


def test_override_changes_the_effective_value(cli: Any) -> None:
    result = cli("check-config", "--config", str(EXAMPLE), "--set", "audio.volume=55", "-q")
    assert result.status == 0 and result.out == ""
    result = cli("check-config", "--config", str(EXAMPLE), "--set", 'live.voice="Kore"')
    assert 'voice = "Kore"' in result.out
    result = cli("check-config", "--config", str(EXAMPLE), "--set", "live.voice=Kore")
    assert 'voice = "Kore"' in result.out  # a bare word is taken as a string
