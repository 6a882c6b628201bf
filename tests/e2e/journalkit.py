"""A fake journald for tests: the datagram socket bound at the path libsystemd hard-codes
(/run/systemd/journal/socket; binding it needs root, which CI has), and a decoder of journald's
native protocol. `bound_journal_socket()` skips the test where that cannot be done."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

JOURNAL_DIR = Path("/run/systemd/journal")
JOURNAL_SOCKET = JOURNAL_DIR / "socket"


def parse_native(datagram: bytes) -> dict[str, str]:
    """journald's native protocol: KEY=value lines, or KEY\\n<u64 le length><data>\\n."""
    fields: dict[str, str] = {}
    rest = datagram
    while rest:
        line, _, tail = rest.partition(b"\n")
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode()
            rest = tail
        else:
            (length,) = struct.unpack("<Q", tail[:8])
            fields[line.decode()] = tail[8 : 8 + length].decode()
            rest = tail[8 + length + 1 :]
    return fields


@contextmanager
def bound_journal_socket() -> Iterator[socket.socket]:
    """The journal socket, bound for the duration (skips without root or when a real journald
    socket exists here: it is never replaced)."""
    if os.geteuid() != 0:
        pytest.skip("binding /run/systemd/journal/socket needs root (CI runs as root)")
    if JOURNAL_SOCKET.exists():
        pytest.skip("a journald socket already exists here; not replacing it")
    JOURNAL_DIR.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(JOURNAL_SOCKET))
    try:
        yield sock
    finally:
        sock.close()
        JOURNAL_SOCKET.unlink()
