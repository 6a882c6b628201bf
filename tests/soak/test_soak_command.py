"""`edgevoice soak`'s options: a bad one is one line naming it, exit 2, before anything starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EDGEVOICE = str(Path(sys.executable).with_name("edgevoice"))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--duration", "0"], "--duration 0: give 1 s to a week"),
        (["--fault-rate", "1.5"], "--fault-rate 1.5: give a fraction 0-1"),
        (["--faults", "drop,nope"], "--faults 'drop,nope': use some of drop, 1011,"),
        (["--rss-limit", "-1"], "--rss-limit -1: give megabytes > 0"),
        (["--duration", "nan"], "--duration nan: give 1 s to a week"),
        # It writes the daemon's config itself: a config option is refused, not ignored.
        (["--config", "/dev/null"], "--config"),
        (["--set", "log.level=debug"], "--set"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    done = subprocess.run([EDGEVOICE, "soak", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"edgevoice soak: {says}"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
