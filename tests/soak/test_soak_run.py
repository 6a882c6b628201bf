"""The soak itself, short: the real daemon against the simulator with faults at random. It
passes when nothing is lost or leaked, and fails, naming what, when a frame is dropped on
purpose and a control-socket client keeps one fd (and a task) of the daemon's to the end."""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

import pytest
from rtkit import require_tools

from edgevoice.soak import FaultKind, Soak, SoakOptions

pytestmark = pytest.mark.slow

SEED = 20261130  # a fixed seed: the report names it, a failure replays with it


async def test_a_short_soak_with_faults_passes_and_accounts_for_every_frame() -> None:
    require_tools()
    out = io.StringIO()
    faults = (FaultKind.DROP, FaultKind.ABORTED, FaultKind.GOAWAY, FaultKind.MIC,
              FaultKind.REFUSED, FaultKind.INTERNAL)  # fmt: skip
    report = await Soak(
        SoakOptions(duration_s=30, seed=SEED, fault_rate=0.8, faults=faults), out
    ).run()
    text = report.text()
    assert report.passed, text + "\n" + out.getvalue()
    assert f"seed {SEED}" in text
    assert len(report.faults) >= 2 and all(f.recovered_at is not None for f in report.faults)
    frames = report.frames
    assert frames is not None and frames.daemon_turns >= 4
    assert frames.daemon_frames == frames.wire_frames > 100  # every turn's frames, once
    assert report.before is not None and report.after is not None
    assert report.after.fds == report.before.fds and report.after.tasks == report.before.tasks


async def test_a_dropped_frame_and_a_held_fd_fail_the_soak() -> None:
    require_tools()
    out = io.StringIO()
    workdir = Path(tempfile.mkdtemp(prefix="evsoak-", dir="/tmp"))  # kept by a failed run
    try:
        report = await Soak(
            SoakOptions(
                duration_s=8,
                seed=SEED,
                fault_rate=0,
                drop_frame=True,
                hold_fd=True,
                workdir=workdir,
            ),
            out,
        ).run()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    failures = report.failures()
    assert not report.passed
    assert report.frames is not None and report.frames.lost == 1, report.text()
    assert any(f.startswith("frames: turn ") and "received" in f for f in failures), failures
    assert any(f.startswith("leak: 1 fds more") for f in failures), failures
    assert any(f.startswith("leak: 1 asyncio tasks more") for f in failures), failures
    assert "verdict: FAIL" in report.text()
