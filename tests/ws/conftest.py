"""Fixtures for the WebSocket client tests; helpers live in wskit.py (on sys.path from here)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from edgevoice.sim import SimOptions, Simulator, run_simulator

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def sim_factory() -> Callable[..., Any]:
    """`async with sim_factory(SimOptions(...)) as sim:`; asserts the simulator hit no bug."""

    @asynccontextmanager
    async def make(options: SimOptions | None = None, **kw: Any) -> AsyncIterator[Simulator]:
        async with run_simulator(options or SimOptions(pace=0), **kw) as sim:
            yield sim
        assert sim.internal_errors == []

    return make


def make_cert(
    directory: Path, name: str, names: str = "IP:127.0.0.1,DNS:localhost"
) -> tuple[Path, Path]:
    """A self-signed certificate for `names` (subjectAltName), made with the openssl CLI."""
    cert, key = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
            "-addext", f"subjectAltName={names}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(certificate, key): valid now, for 127.0.0.1 and localhost."""
    return make_cert(tmp_path_factory.mktemp("tls"), "valid")


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
