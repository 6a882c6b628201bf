"""Messages that name the fix (issue 7 section 5): a problem caused by `--set` is attributed to
`--set`, never to a file that does not exist; a missing `$EDGEVOICE_CONFIG` file says so; every
command says which config file it read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ABSENT_DEFAULT = "/etc/edgevoice/edgevoice.toml"


@pytest.fixture(autouse=True)
def no_default_file() -> None:
    if Path(ABSENT_DEFAULT).exists():
        pytest.skip("an installed device: the default config file exists here")


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            ["led.enabled=true", "led.pin=17"],
            "led.pin: GPIO 17 is already button.pin; pick another (--set)",
        ),
        (
            ["vad.end_of_speech=server"],
            "vad.end_of_speech: 'server' needs trigger.mode = 'voice' (it is 'button'); use "
            "'local' with a button (--set)",
        ),
        (
            ["live.compression=false", "live.compression_trigger_tokens=5"],
            "live.compression_trigger_tokens: 5 tokens is set but live.compression is false; "
            "remove it or set live.compression = true (--set)",
        ),
        (
            ["live.model=gemini-3.8-live-extended-thinking", "live.tools=[]"],
            "live.thinking_level: gemini-3.8-live-extended-thinking refuses to start without a "
            "thinking level; set one of low, medium, high (--set)",
        ),
    ],
)
def test_a_problem_from_set_is_attributed_to_set(cli: Any, overrides: list[str], line: str) -> None:
    argv = ["check-config"]
    for item in overrides:
        argv += ["--set", item]
    result = cli(*argv)
    assert result.status == 78
    assert result.err == f"edgevoice: config error: {line}\n"
    assert ABSENT_DEFAULT not in result.err


def test_a_problem_across_the_file_and_set_names_both(cli: Any, write: Callable[..., Path]) -> None:
    path = write("[reconnect]\nmax_delay = 10\n")
    result = cli("check-config", "--config", str(path), "--set", "reconnect.initial_delay=50")
    assert result.status == 78
    assert f"above reconnect.max_delay (10.0 s) (--set and {path})" in result.err


def test_check_config_says_which_file_it_read(cli: Any, write: Callable[..., Path]) -> None:
    path = write("[audio]\nvolume = 7\n")
    result = cli("check-config", "--config", str(path))
    assert result.out.splitlines()[0] == f"# config: {path}"
    result = cli("check-config")
    assert result.out.splitlines()[0] == (
        f"# config: none ({ABSENT_DEFAULT} does not exist; built-in defaults)"
    )


@pytest.mark.parametrize("command", ["run", "probe"])
def test_commands_log_the_file_they_read(
    cli: Any, write: Callable[..., Path], command: str, monkeypatch: Any
) -> None:
    path = write('[auth]\napi_key_file = "/nonexistent/key"\n')
    result = cli(command, "--config", str(path))
    logged = [x for x in result.err.splitlines() if " INFO edgevoice: config: " in x]
    assert len(logged) == 1 and logged[0].endswith(f"config: {path}")
