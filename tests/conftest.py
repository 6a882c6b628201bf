"""Fixtures shared by every test directory: the Live simulator, test TLS certificates, and the
real-time audio devices (tests/e2e/rtkit.py: `pulse_server`, `rt_audio`; tests/e2e/daemonkit.py:
`daemons`, the daemon as a process). tests/e2e is put on sys.path, so any test module can
`import rtkit` / `import daemonkit` for their classes and helpers."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from edgevoice.sim import SimOptions, Simulator, run_simulator

sys.path.insert(0, str(Path(__file__).parent / "e2e"))
from daemonkit import daemons
from rtkit import pulse_server, rt_audio

__all__ = ["daemons", "pulse_server", "rt_audio"]

CertMaker = Callable[..., tuple[Path, Path]]
CLEAN_ENV = (
    "GEMINI_API_KEY",
    "EDGEVOICE_CONFIG",
    "CREDENTIALS_DIRECTORY",
    "JOURNAL_STREAM",
    "INVOCATION_ID",
    "NOTIFY_SOCKET",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's key, config path or systemd environment."""
    for name in CLEAN_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """setup_logging() (run by every CLI command) changes the root and library loggers."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    libraries = {name: logging.getLogger(name).level for name in ("websockets", "asyncio", "hpack")}
    excepthook = threading.excepthook
    yield
    threading.excepthook = excepthook
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in libraries.items():
        logging.getLogger(name).setLevel(old)


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


@pytest.fixture
def cert_maker() -> CertMaker:
    """`cert_maker(directory, name, names="IP:127.0.0.1,DNS:localhost") -> (cert, key)`."""
    return make_cert


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(certificate, key): valid now, for 127.0.0.1 and localhost."""
    return make_cert(tmp_path_factory.mktemp("tls"), "valid")
