"""The supervisor tests run the in-process daemon rig of tests/app (`rig_factory`: the real
Daemon, the simulator on loopback, real-time PulseAudio devices, gpiozero's MockFactory),
mostly on virtual time. Helpers for them are in supkit.py (on sys.path from here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "app"))

_spec = importlib.util.spec_from_file_location(
    "app_rig_conftest", HERE.parent / "app" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_app = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_app)

rig_factory = _app.rig_factory

__all__ = ["rig_factory"]
