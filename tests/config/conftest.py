"""Fixtures for the configuration tests: the real CLI in-process, config files on disk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgevoice.cli import main


@dataclass
class CliResult:
    status: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """`cli(*argv)` runs `edgevoice` in this process and returns (status, stdout, stderr)."""

    def run(*argv: str) -> CliResult:
        status = main(list(argv))
        captured = capsys.readouterr()
        return CliResult(status, captured.out, captured.err)

    return run


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """`write(text, name="edgevoice.toml")` -> the path of a new config file."""

    def make(text: str, name: str = "edgevoice.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return make
