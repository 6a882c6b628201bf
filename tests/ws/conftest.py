"""Fixtures for the WebSocket client tests; helpers live in wskit.py (on sys.path from here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def expired_tls_files(
    tls_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """(certificate, key): the same key, re-signed so that it expired a day ago."""
    cert, key = tls_files
    expired = tmp_path_factory.mktemp("tls-expired") / "expired-cert.pem"
    subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-signkey", str(key), "-days", "-1",
         "-out", str(expired)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return expired, key
