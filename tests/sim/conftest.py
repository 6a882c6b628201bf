"""Fixtures for the simulator tests; the helpers live in simkit.py (on sys.path from here)."""

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


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
