"""The real-time audio harness (rtkit.py) and the daemon process runner (daemonkit.py).

Their fixtures (`pulse_server`, `rt_audio`, `daemons`) are re-exported by tests/conftest.py
for every test directory, which also puts this directory on sys.path.
"""

from __future__ import annotations

import importlib.util

import pytest
from loopkit import loop_factory

__all__ = ["loop_factory"]


DAEMON_MODULES = ("edgevoice.app.daemon", "edgevoice.commands.ctl")


@pytest.fixture
def needs_daemon() -> None:
    """Skip until the daemon (app9: edgevoice/app/daemon.py) and `edgevoice ctl` are on main."""
    missing = [name for name in DAEMON_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"waits for {', '.join(missing)} on main (issue #9, app9/adapters9)")
