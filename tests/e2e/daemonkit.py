"""The daemon as a process for whole-loop tests: the rig's runner (edgevoice/rig/daemon.py)
with a test key and a pytest fixture.

    setup = DaemonSetup.make(tmp_path, endpoint=sim.url, alsa_config=rt.alsa_config,
                             settings={"trigger": {"mode": "voice"}})
    daemon = await daemons.start(setup)            # the `daemons` fixture kills it at teardown
    await daemon.wait_ready()                      # the control socket answers `ctl status`
    result = await daemon.ctl("press")            # `edgevoice ctl press --config ...`
    await daemon.wait_for_line(r"turn \\d+ ended")  # a stderr log line (a regex)
    await daemon.stop()                            # SIGTERM; DaemonError unless exit 0, clean

The environment is systemd's, as far as a test can give it (edgevoice.rig.daemon says what it
holds): the key only as the credential `gemini-api-key`, a notify socket the rig binds
(`daemon.notify`), logs on stderr in `daemon.lines`.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edgevoice.rig import daemon as rig_daemon
from edgevoice.rig.daemon import (
    CtlResult,
    DaemonError,
    DaemonProcess,
    Daemons,
    merge,
    run_command,
    socket_request,
    toml_text,
    toml_value,
)

__all__ = [
    "EDGEVOICE",
    "TEST_KEY",
    "CtlResult",
    "DaemonError",
    "DaemonProcess",
    "DaemonSetup",
    "Daemons",
    "daemons",
    "merge",
    "run_command",
    "socket_request",
    "toml_text",
    "toml_value",
]

EDGEVOICE = str(Path(sys.executable).with_name("edgevoice"))
TEST_KEY = "e2e-test-key-0123456789"  # what the daemon presents to the simulator


class DaemonSetup(rig_daemon.DaemonSetup):
    """The rig's setup with the test key as the default credential."""

    @classmethod
    def make(cls, directory: Path, *, key: str = TEST_KEY, **options: Any) -> DaemonSetup:  # type: ignore[override]
        return super().make(directory, key=key, **options)


@pytest.fixture
async def daemons() -> AsyncIterator[Daemons]:
    """`await daemons.start(setup)`; every daemon still running at the end is killed."""
    pool = Daemons()
    try:
        yield pool
    finally:
        await pool.close()
