"""The README's new-user path works as written (issue 7 section 5): after the two make
commands, the README's own line puts `edgevoice` on the PATH, and every command it shows
exists."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgevoice import __version__
from edgevoice.cli import COMMAND_MODULES, command_name

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
VENV = REPO / ".venv"


def code_lines() -> list[tuple[int, str]]:
    """(offset in the README, line) of every line inside a ``` block."""
    out, inside, offset = [], False, 0
    for line in README.splitlines(keepends=True):
        if line.startswith("```"):
            inside = not inside
        elif inside:
            out.append((offset, line.rstrip("\n")))
        offset += len(line)
    return out


def command_lines() -> list[tuple[int, str]]:
    """Lines a person types that run edgevoice (possibly after an environment assignment)."""
    pattern = re.compile(r"^(?:[A-Z_]+=\S+ )*edgevoice(?= |$)")
    return [(at, line) for at, line in code_lines() if pattern.match(line)]


def activation_line() -> tuple[int, str]:
    return next((at, line) for at, line in code_lines() if "bin/activate" in line)


def test_the_activation_comes_before_any_development_command() -> None:
    at, _ = activation_line()
    pi = README.index("## Install on a Raspberry Pi")
    pi_end = README.index("\n## ", pi + 1)
    early = [line for offset, line in command_lines() if offset < at]
    assert early == [], f"typed before the README says how to get the command: {early}"
    # The Pi section may use it directly: the installer links it into /usr/local/bin.
    pi_commands = [line for offset, line in command_lines() if pi < offset < pi_end]
    assert pi_commands, "the Pi section no longer shows an edgevoice command"
    install = (REPO / "deploy" / "install.sh").read_text()
    assert 'ln -sfn "$PREFIX/venv/bin/edgevoice" "$ROOT/usr/local/bin/edgevoice"' in install


def test_every_command_the_readme_shows_exists() -> None:
    known = {command_name(m) for m in COMMAND_MODULES} | {"--help", "--version"}
    for _, line in command_lines():
        words = line.split("#")[0].split()
        name = words[words.index("edgevoice") + 1]
        assert name in known, line


@pytest.mark.skipif(
    not (VENV / "bin" / "activate").exists(), reason="no .venv (make test makes it)"
)
def test_the_activation_line_puts_edgevoice_on_the_path() -> None:
    _, line = activation_line()
    typed = line.split("#")[0].strip()
    # A shell that has never seen the venv: a PATH without it, as a new user's login shell.
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if not p.startswith(str(VENV))
    )
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/root")}
    before = subprocess.run(
        ["bash", "-c", "command -v edgevoice || echo missing"],
        capture_output=True, text=True, env=env, cwd=REPO, check=False,
    )  # fmt: skip
    if before.stdout.strip() != "missing":
        pytest.skip(f"edgevoice is already on PATH outside the venv: {before.stdout.strip()}")
    done = subprocess.run(
        ["bash", "-c", f"{typed} && edgevoice version"],
        capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"edgevoice {__version__}"


def test_make_says_how_to_get_the_command() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert ". $(VENV)/bin/activate" in makefile
    assert shutil.which("bash") is not None
