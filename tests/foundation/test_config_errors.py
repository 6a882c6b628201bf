"""Every bad configuration exits 78 with a message that names the key (issue: foundation)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from edgevoice.config import Config, parse_config
from edgevoice.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

# (id, file text, extra argv, text the message must contain (the key), another expected fragment)
BAD_CONFIGS: list[tuple[str, str, list[str], str, str]] = [
    ("wrong-type", '[audio]\nvolume = "loud"\n', [], "audio.volume", "is not an integer"),
    ("above-max", "[audio]\nvolume = 150\n", [], "audio.volume", "above the maximum 100"),
    ("below-min", "[reconnect]\njitter = -0.5\n", [], "reconnect.jitter", "below the minimum"),
    ("odd-rate", "[audio]\ninput_rate = 12345\n", [], "audio.input_rate", "(8000-192000"),
    ("unknown-key", "[audio]\nvolum = 3\n", [], "audio.volum", "did you mean 'volume'"),
    ("unknown-section", "[audoi]\nvolume = 3\n", [], "audoi", "did you mean 'audio'"),
    ("bad-choice", '[trigger]\nmode = "clap"\n', [], "trigger.mode", "'button'"),
    ("bool-as-string", '[button]\npull_up = "yes"\n', [], "button.pull_up", "true or false"),
    ("int-as-bool", "[audio]\ninput_channels = true\n", [], "audio.input_channels", "integer"),
    ("relative-path", '[paths]\nstate_dir = "var/lib"\n', [], "paths.state_dir", "absolute"),
    (
        "ws-remote",
        '[live]\nendpoint = "ws://example.com"\n',
        [],
        "live.endpoint",
        "loopback",
    ),
    (
        "key-in-url",
        '[live]\nendpoint = "wss://example.com/?key=abc"\n',
        [],
        "live.endpoint",
        "never the URL",
    ),
    ("not-a-table", "live = 3\n", [], "live", "must be a table"),
    (
        "delays-crossed",
        "[reconnect]\ninitial_delay = 50\nmax_delay = 10\n",
        [],
        "reconnect.initial_delay",
        "above reconnect.max_delay",
    ),
    (
        "led-on-button-pin",
        "[led]\nenabled = true\npin = 17\n",
        [],
        "led.pin",
        "already button.pin",
    ),
    (
        "server-vad-with-button",
        '[vad]\nend_of_speech = "server"\n',
        [],
        "vad.end_of_speech",
        "trigger.mode = 'voice'",
    ),
    ("unknown-voice", '[live]\nvoice = "Bob"\n', [], "live.voice", "allowed values"),
    ("unknown-tool", '[live]\ntools = ["rm_rf"]\n', [], "live.tools", "allowed"),
    ("override-range", "", ["--set", "button.pin=99"], "button.pin", "(--set)"),
    ("override-type", "", ["--set", "audio.volume=[1]"], "audio.volume", "(--set)"),
    ("override-shape", "", ["--set", "nonsense"], "nonsense", "section.key=value"),
    ("override-unknown", "", ["--set", "live.modle=x"], "live.modle", "did you mean 'model'"),
    (
        "malformed-toml",
        '[live]\nmodel = "a"\nvoice = = "Puck"\n',
        [],
        "not valid TOML",
        "line 3",
    ),
]


@pytest.mark.parametrize(
    ("text", "argv", "key", "fragment"),
    [case[1:] for case in BAD_CONFIGS],
    ids=[case[0] for case in BAD_CONFIGS],
)
def test_bad_config_exits_78_naming_the_key(
    cli: Any,
    write: Callable[[str], Path],
    text: str,
    argv: list[str],
    key: str,
    fragment: str,
) -> None:
    path = write(text)
    result = cli("check-config", "--config", str(path), *argv)
    assert result.status == 78
    assert key in result.err
    assert fragment in result.err
    assert str(path) in result.err or "(--set)" in result.err
    assert result.out == ""  # nothing started, nothing printed


def test_table_is_large_enough() -> None:
    assert len({case[0] for case in BAD_CONFIGS}) >= 15


def test_missing_explicit_file(cli: Any, tmp_path: Path) -> None:
    result = cli("check-config", "--config", str(tmp_path / "nope.toml"))
    assert result.status == 78
    assert "does not exist" in result.err


def test_missing_file_from_environment(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEVOICE_CONFIG", str(tmp_path / "gone.toml"))
    result = cli("check-config")
    assert result.status == 78
    assert "gone.toml does not exist" in result.err


def test_directory_instead_of_file(cli: Any, tmp_path: Path) -> None:
    result = cli("check-config", "--config", str(tmp_path))
    assert result.status == 78
    assert "is a directory" in result.err


def test_not_utf8(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[live]\nsystem_instruction = "caf\xe9"\n')
    result = cli("check-config", "--config", str(path))
    assert result.status == 78
    assert "not UTF-8" in result.err


@contextmanager
def as_nobody() -> Iterator[None]:
    """Drop the effective uid so file permissions apply even when the tests run as root."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


def test_unreadable_file(cli: Any, write: Callable[[str], Path]) -> None:
    path = write("[live]\n")
    path.chmod(0)
    path.parent.chmod(0o755)
    with as_nobody():
        result = cli("check-config", "--config", str(path))
    assert result.status == 78
    assert "not readable" in result.err
    assert str(path) in result.err


@pytest.mark.parametrize(
    ("mode", "fragment"),
    [(0o644, "readable by others"), (0o604, "readable by others"), (0o666, "chmod 0600")],
)
def test_key_file_too_open(
    cli: Any,
    write: Callable[[str, str], Path],
    tmp_path: Path,
    mode: int,
    fragment: str,
) -> None:
    key = tmp_path / "api-key"
    key.write_text("k-123456789\n")
    key.chmod(mode)
    path = write(f'[auth]\napi_key_file = "{key}"\n', "edgevoice.toml")
    result = cli("check-config", "--config", str(path))
    assert result.status == 78
    assert "auth.api_key_file" in result.err
    assert fragment in result.err
    assert f"chmod 0600 {key}" in result.err
    assert "k-123456789" not in result.err + result.out


def test_key_file_group_readable_by_own_group_is_fine(
    cli: Any, write: Callable[[str, str], Path], tmp_path: Path
) -> None:
    key = tmp_path / "api-key"
    key.write_text("k-123456789\n")
    key.chmod(0o640)
    os.chown(key, -1, os.getegid())
    path = write(f'[auth]\napi_key_file = "{key}"\n', "edgevoice.toml")
    result = cli("check-config", "--config", str(path))
    assert result.status == 0, result.err
    assert f"# credential: key file {key}" in result.out


@pytest.mark.parametrize(
    ("content", "fragment"), [("", "is empty"), ("two words\n", "only the key")]
)
def test_key_file_bad_content(
    cli: Any,
    write: Callable[[str, str], Path],
    tmp_path: Path,
    content: str,
    fragment: str,
) -> None:
    key = tmp_path / "api-key"
    key.write_text(content)
    key.chmod(0o600)
    path = write(f'[auth]\napi_key_file = "{key}"\n', "edgevoice.toml")
    result = cli("check-config", "--config", str(path))
    assert result.status == 78
    assert "auth.api_key_file" in result.err
    assert fragment in result.err


def test_key_file_missing(cli: Any, write: Callable[[str, str], Path], tmp_path: Path) -> None:
    path = write(f'[auth]\napi_key_file = "{tmp_path}/absent"\n', "edgevoice.toml")
    result = cli("check-config", "--config", str(path))
    assert result.status == 78
    assert "auth.api_key_file" in result.err
    assert "does not exist" in result.err


def test_every_problem_is_reported_at_once() -> None:
    text = '[audio]\nvolume = 500\ninput_rate = 7\n[trigger]\nmode = "x"\n[nope]\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "/etc/edgevoice/edgevoice.toml")
    keys = {p.key for p in caught.value.problems}
    assert keys == {"audio.volume", "audio.input_rate", "trigger.mode", "nope"}
    assert all(p.source == "/etc/edgevoice/edgevoice.toml" for p in caught.value.problems)
    assert isinstance(caught.value, ValueError)


def test_require_key_without_any_key(cli: Any) -> None:
    result = cli("check-config", "--config", str(REPO / "deploy/edgevoice.toml"), "--require-key")
    assert result.status == 78
    assert "no API key found" in result.err


def test_run_refuses_to_start_without_a_key(cli: Any) -> None:
    result = cli("run", "--config", str(REPO / "deploy/edgevoice.toml"))
    assert result.status == 78
    assert "auth: no API key found" in result.err


def test_defaults_are_valid_and_frozen() -> None:
    config = parse_config(None, "defaults")
    assert config == Config()
    with pytest.raises(AttributeError):
        config.audio.volume = 3
