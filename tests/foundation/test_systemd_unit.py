"""The shipped unit passes `systemd-analyze verify` cleanly and stays well sandboxed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "edgevoice.service"

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)


def installed_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at a binary that exists here (verify checks it)."""
    text = UNIT.read_text()
    assert "/opt/edgevoice/venv/bin/edgevoice run" in text
    copy = tmp_path / "edgevoice.service"
    copy.write_text(text.replace("/opt/edgevoice/venv/bin/edgevoice", shutil.which("true") or ""))
    return copy


def test_unit_verifies_without_warnings(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            "--man=no",
            "--recursive-errors=no",
            installed_copy(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # Unknown keys and bad values are only warnings with status 0: stderr must be empty.
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_unit_exposure_score_is_low(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            "systemd-analyze",
            "security",
            "--offline=true",
            "--threshold=20",
            installed_copy(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:]  # exposure <= 2.0 of 10
    assert "Overall exposure level" in done.stdout


def test_unit_never_restarts_a_bad_config() -> None:
    text = UNIT.read_text()
    assert "RestartPreventExitStatus=78" in text
    assert "LoadCredential=gemini-api-key:" in text
    assert "GEMINI_API_KEY" not in text  # no key in the unit's environment
