"""Fixtures for the simulator tests; the helpers live in simkit.py (on sys.path from here)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
