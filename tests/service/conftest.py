"""Real things for the service tests: a loopback TLS (or plain) HTTP server whose clock the test
sets, certificates valid now / expired / not yet valid, and file-backed ALSA devices."""

from __future__ import annotations

import contextlib
import email.utils
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def make_dated_cert(directory: Path, name: str, start: str, end: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost valid from `start` to `end`
    (YYYYMMDDHHMMSSZ), made with `openssl ca`, which, unlike `openssl req`, takes both dates."""
    work = directory / f"{name}-ca"
    work.mkdir()
    (work / "ca.cnf").write_text(
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
        "default_md = sha256\npolicy = p\ncopy_extensions = copy\nunique_subject = no\n"
        "[p]\ncommonName = supplied\n"
    )
    (work / "index.txt").write_text("")
    (work / "serial").write_text("01\n")
    key, cert = directory / f"{name}-key.pem", directory / f"{name}-cert.pem"
    subprocess.run(
        ["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", "req.csr", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        cwd=work, check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "ca", "-batch", "-selfsign", "-config", "ca.cnf", "-keyfile", str(key),
         "-in", "req.csr", "-out", str(cert), "-startdate", start, "-enddate", end],
        cwd=work, check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="session")
def dated_certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """{"expired": ..., "future": ...}: (certificate, key) pairs outside their validity now."""
    directory = tmp_path_factory.mktemp("dated-tls")
    return {
        "expired": make_dated_cert(directory, "expired", "20000101000000Z", "20000201000000Z"),
        "future": make_dated_cert(directory, "future", "20990101000000Z", "20990201000000Z"),
    }


@dataclass
class HttpServer:
    """A loopback server answering one HTTP response per connection, with `Date:` set to the
    real time plus `skew` seconds (or no Date at all when `skew` is None)."""

    sock: socket.socket
    context: ssl.SSLContext | None
    skew: float | None = 0.0
    connections: int = 0

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"{'wss' if self.context else 'ws'}://127.0.0.1:{self.port}"

    def serve(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with contextlib.suppress(OSError), conn:
                conn.settimeout(5)
                stream: socket.socket = conn
                if self.context is not None:
                    stream = self.context.wrap_socket(conn, server_side=True)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = stream.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                date = (
                    ""
                    if self.skew is None
                    else f"Date: {email.utils.formatdate(time.time() + self.skew, usegmt=True)}\r\n"
                )
                stream.sendall(
                    f"HTTP/1.1 404 Not Found\r\n{date}Content-Length: 0\r\n"
                    "Connection: close\r\n\r\n".encode()
                )


@contextlib.contextmanager
def run_http_server(cert: Path | None = None, key: Path | None = None, skew: float | None = 0.0
                    ) -> Iterator[HttpServer]:  # fmt: skip
    context = None
    if cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.2)
    server = HttpServer(sock, context, skew)
    stop = threading.Event()

    worker = threading.Thread(target=server.serve, args=(stop,), daemon=True)
    worker.start()
    try:
        yield server
    finally:
        stop.set()
        worker.join(5)
        sock.close()


def trusting_context(cert: Path) -> ssl.SSLContext:
    """A client context that trusts `cert` (as the system store would with it installed)."""
    return ssl.create_default_context(cafile=str(cert))


@pytest.fixture
def http_server() -> Callable[..., contextlib.AbstractContextManager[HttpServer]]:
    """`with http_server(cert, key, skew=0.0) as server:` (cert None: plain TCP)."""
    return run_http_server


@pytest.fixture
def trusting() -> Callable[[Path], ssl.SSLContext]:
    """`trusting(cert)`: a client TLS context that trusts that certificate."""
    return trusting_context


@pytest.fixture
def alsa_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AlsaFiles:
    """File-backed ALSA devices `filemic` and `filespk` (and `default`), activated."""
    return AlsaFiles.install(tmp_path, monkeypatch)


@dataclass
class AlsaFiles:
    """A standalone ALSA config of file-backed devices (docs/environment.md), activated."""

    path: Path

    @classmethod
    def install(cls, directory: Path, monkeypatch: pytest.MonkeyPatch) -> AlsaFiles:
        infile = directory / "mic.raw"
        infile.write_bytes(bytes(48000 * 2 * 2))
        out = directory / "spk.raw"
        text = (
            f'pcm.filemic {{ type file slave.pcm {{ type null }} file "/dev/null" '
            f'infile "{infile}" format "raw" }}\n'
            f'pcm.filespk {{ type file slave.pcm {{ type null }} file "{out}" format "raw" }}\n'
            'pcm.!default { type asym capture.pcm "filemic" playback.pcm "filespk" }\n'
        )
        path = directory / "asound.conf"
        path.write_text(text)
        monkeypatch.setenv("ALSA_CONFIG_PATH", str(path))
        return cls(path)
