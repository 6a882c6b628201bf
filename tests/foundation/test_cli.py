"""The command line: --help everywhere, options before or after the subcommand, the entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edgevoice import __version__
from edgevoice.cli import COMMAND_MODULES, build_parser, command_name, main

REPO = Path(__file__).resolve().parents[2]


def subcommand_names() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return list(sub.choices)  # type: ignore[arg-type]


def test_every_module_registers_a_command() -> None:
    names = subcommand_names()
    # main() finds a command's module by this naming rule before importing anything.
    assert names == [command_name(m) for m in COMMAND_MODULES]
    assert {"run", "check-config", "version"} <= set(names)


@pytest.mark.parametrize(
    ("argv", "absent"),
    [
        (["version"], ("numpy", "pyaudio", "websockets", "edgevoice.sim")),
        (
            ["--set", "audio.volume=5", "check-config", "-q"],
            ("numpy", "pyaudio", "websockets", "edgevoice.live.session", "edgevoice.sim"),
        ),
    ],
)
def test_a_command_imports_only_what_it_needs(argv: list[str], absent: tuple[str, ...]) -> None:
    code = (
        "import sys\n"
        "from edgevoice.cli import main\n"
        f"status = main({argv!r})\n"
        f"print(status, [m for m in {absent!r} if m in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert done.stdout.splitlines()[-1] == "0 []", done.stdout + done.stderr


def test_an_option_value_that_looks_like_a_command_is_harmless(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A config file literally named "probe": the token equals a command name, yet the real
    # command (check-config) runs with it.
    (tmp_path / "probe").write_text("[audio]\nvolume = 7\n")
    monkeypatch.chdir(tmp_path)
    result = cli("--config", "probe", "check-config")
    assert result.status == 0, result.err
    assert "volume = 7" in result.out


@pytest.mark.parametrize("name", subcommand_names())
def test_help_for_every_command(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert f"edgevoice {name}" in out
    for option in ("--config", "--set", "--log-level", "--verbose"):
        assert option in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_options_before_and_after_the_command(cli: Any) -> None:
    example = str(REPO / "deploy" / "edgevoice.toml")
    before = cli("--config", example, "--set", "audio.volume=10", "check-config")
    after = cli("check-config", "--config", example, "--set", "audio.volume=10")
    assert before.status == after.status == 0
    assert "volume = 10" in before.out and before.out == after.out


def test_console_entry_point_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edgevoice", "version"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"edgevoice {__version__}"
    script = Path(sys.executable).with_name("edgevoice")
    if script.exists():  # installed by `make test` (pip install -e)
        done = subprocess.run([script, "version"], capture_output=True, text=True, check=False)
        assert done.stdout.strip() == f"edgevoice {__version__}"


def test_bad_config_exit_status_through_a_real_process(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[audio]\nvolume = 1000\n")
    done = subprocess.run(
        [sys.executable, "-m", "edgevoice", "run", "--config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 78
    assert "audio.volume: 1000 is above the maximum 100 %" in done.stderr
    assert done.stdout == ""
