"""Real-time audio devices for tests: the rig (edgevoice/rig) plus pytest's fixtures.

The harness itself is product code now (`edgevoice.rig`: `PulseServer`, `RtAudio`, clips,
recorders, the echo path, the analysis helpers); this module re-exports it under the names the
tests use and adds what only tests need:

- `resample`: soxr's HQ resampler (a test-only dependency), injected into every `RtAudio` the
  fixture makes, so clips and the references tests compare the daemon's audio with are never
  made by the daemon's own resampler;
- `require_tools()`: skip a test when pulseaudio, the pulse ALSA plugin or espeak-ng is
  missing, with a reason naming the fix (`make deps`); with EDGEVOICE_E2E_REQUIRED=1 in the
  environment (CI) it fails instead, so the suite never passes without them;
- the fixtures `pulse_server` (one server per test session, started on first use) and
  `rt_audio` (a fresh `RtAudio` per test, with ALSA_CONFIG_PATH set for in-process pyaudio;
  everything it started is stopped at teardown, even when the test fails).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgevoice.rig.clips import Clip, Playing
from edgevoice.rig.devices import EchoPath, NoiseFloor, RtAudio
from edgevoice.rig.host import INSTALL_HINT, missing_tools, pulse_alsa_plugin
from edgevoice.rig.processes import stop_process
from edgevoice.rig.pulse import MIC_SINK, SINK_CHANNELS, SINK_RATE, SPK_SINK, PulseServer
from edgevoice.rig.recorder import SpeakerRecorder, SpeakerRecording
from edgevoice.rig.signals import (
    Alignment,
    Piece,
    Samples,
    align,
    breaks,
    dbfs,
    envelope_db,
    from_pcm,
    lowpass,
    offset,
    onset,
    peak_dbfs,
    pieces,
    read_wav_mono,
    to_pcm,
    trim_silence,
    write_wav,
)

__all__ = [
    "INSTALL_HINT",
    "MIC_SINK",
    "SINK_CHANNELS",
    "SINK_RATE",
    "SPK_SINK",
    "Alignment",
    "Clip",
    "EchoPath",
    "NoiseFloor",
    "Piece",
    "Playing",
    "PulseServer",
    "RtAudio",
    "Samples",
    "SpeakerRecorder",
    "SpeakerRecording",
    "align",
    "breaks",
    "dbfs",
    "envelope_db",
    "from_pcm",
    "lowpass",
    "missing_tools",
    "offset",
    "onset",
    "peak_dbfs",
    "pieces",
    "pulse_alsa_plugin",
    "read_wav_mono",
    "resample",
    "stop_process",
    "to_pcm",
    "trim_silence",
    "write_wav",
]

REQUIRED_ENV = "EDGEVOICE_E2E_REQUIRED"


def resample(x: Samples, rate_in: int, rate_out: int) -> Samples:
    """High-quality resampling (soxr, a test-only dependency) for references and clips."""
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float64)
    import soxr

    return np.asarray(soxr.resample(x, rate_in, rate_out, quality="HQ"), dtype=np.float64)


def require_tools() -> None:
    """Skip the calling test (or fail it under EDGEVOICE_E2E_REQUIRED=1) when tools are missing."""
    missing = missing_tools()
    if not missing:
        return
    reason = f"real-time audio harness needs {', '.join(missing)}: {INSTALL_HINT}"
    if os.environ.get(REQUIRED_ENV):
        pytest.fail(f"{reason} ({REQUIRED_ENV} is set)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    """One private PulseAudio server for the session, started when a test first needs it."""
    require_tools()
    server = PulseServer(tmp_path_factory.mktemp("pulse"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rt_audio(
    pulse_server: PulseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RtAudio]:
    """Real-time devices for one test; ALSA_CONFIG_PATH set for in-process pyaudio."""
    if not pulse_server.running:
        pytest.fail(f"the session's pulseaudio died: {pulse_server.log_tail()}")
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(pulse_server.alsa_config))
    rt = RtAudio(pulse_server, tmp_path / "rtaudio", resample=resample)
    try:
        yield rt
    finally:
        rt.close()
