"""End to end with real processes: `edgevoice simulator` serving, `edgevoice probe` talking to
it through LiveConnection, the simulator stopping cleanly on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from wskit import KEY, TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = Path("/etc/edgevoice/edgevoice.toml")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A config-free environment: defaults plus the key in GEMINI_API_KEY."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("EDGEVOICE_CONFIG", "CREDENTIALS_DIRECTORY", "GEMINI_API_KEY")
    }
    environ.update(PYTHONPATH=str(ROOT), GEMINI_API_KEY=KEY)
    if DEFAULT_CONFIG.exists():  # an installed device: an empty file means the same defaults
        empty = tmp_path / "empty.toml"
        empty.write_text("")
        environ["EDGEVOICE_CONFIG"] = str(empty)
    return environ


@pytest.fixture
def simulator(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`python -m edgevoice simulator --port 0` accepting only KEY; yields (url, process)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "edgevoice", "simulator", "--port", "0", "--pace", "0",
         "--api-key", KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"ws://127\.0\.0\.1:\d+", url), url
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=TIMEOUT)


def probe(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgevoice", "probe", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=TIMEOUT * 3,
        check=False,
    )


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, err


def test_probe_round_trip_against_the_simulator_process(
    env: dict[str, str], simulator: tuple[str, subprocess.Popen[str]]
) -> None:
    url, process = simulator
    done = probe(env, "--set", f"live.endpoint={url}")
    status, sim_log = stop(process)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(
        r"connected and set up in \d+ ms \(environment variable GEMINI_API_KEY\)", lines[0]
    )
    assert any(re.fullmatch(r"first answer audio \d+ ms after the turn ended", x) for x in lines)
    answer = next(x for x in lines if x.startswith("answer: "))
    assert float(re.fullmatch(r"answer: (\d+\.\d\d) s of audio", answer).group(1)) > 0  # type: ignore[union-attr]
    assert "heard: (synthetic) heard 1.0 s of audio" in lines
    assert "said: Parrot turn 1: I heard 1.0 s of audio." in lines
    assert "resumption handle received" in lines  # the handle follows turnComplete
    # The simulator served one connection with the configured key and stopped cleanly.
    assert status == 0
    assert "connection 1: setup complete" in sim_log
    assert "client closed (1000)" in sim_log
    for text in (done.stdout, done.stderr, sim_log):
        assert KEY not in text


def test_probe_unknown_model_fails_fatal_in_one_line(
    env: dict[str, str], simulator: tuple[str, subprocess.Popen[str]]
) -> None:
    url, process = simulator
    done = probe(
        env,
        *("--log-level", "error"),  # only the failure: not the config line, not the model warning
        *("--set", f"live.endpoint={url}", "--set", "live.model=gemini-0.1-nonexistent"),
    )
    status, _ = stop(process)

    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.fullmatch(
        r"probe failed \(fatal\): Live session closed with code 1008: "
        r"models/gemini-0\.1-nonexistent is not found for API version v1beta.*",
        lines[0],
    )
    assert KEY not in done.stderr
    assert status == 0
