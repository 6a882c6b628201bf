"""`edgevoice simulator` as a process: URL on the first line, serves, stops on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from simkit import setup
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"


def start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "edgevoice.commands.simulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str]:
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    return process.returncode, err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_prints_its_url_first_serves_and_exits_0_on_a_signal(signum: int) -> None:
    process = start("--pace", "0", "--api-key", "cli-key-1")
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("ws://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0
        async with connect(
            url + ENDPOINT, additional_headers={"x-goog-api-key": "cli-key-1"}
        ) as ws:
            await ws.send(json.dumps(setup()))
            assert json.loads(await ws.recv()) == {"setupComplete": {}}
    finally:
        status, err = stop(process, signum)
    assert status == 0
    assert "cli-key-1" not in err  # the key never reaches the log
    assert "setup complete" in err


async def test_serves_tls_when_given_a_certificate(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    process = start("--tls-cert", str(cert), "--tls-key", str(key), "--fault", "quota@ready")
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("wss://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(cert))
        async with connect(
            url + ENDPOINT, ssl=context, additional_headers={"x-goog-api-key": "k"}
        ) as ws:
            await ws.send(json.dumps(setup()))
            assert json.loads(await ws.recv()) == {"setupComplete": {}}
            await ws.wait_closed()
            assert ws.close_code == 1011
    finally:
        assert stop(process, signal.SIGTERM)[0] == 0


def test_a_bad_fault_spec_is_a_one_line_usage_error() -> None:
    process = start("--fault", "explode@ready")
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2 and out == ""
    assert "unknown action 'explode'" in err


def test_tls_cert_without_key_is_refused() -> None:
    process = start("--tls-cert", "/nonexistent.pem")
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2 and out == ""
    assert "--tls-cert and --tls-key go together" in err


def test_register_adds_the_subcommand_and_maps_every_knob(tmp_path: Path) -> None:
    import argparse

    from edgevoice.commands import simulator
    from edgevoice.commands._common import common_options
    from edgevoice.sim import Family, Fault

    keys = tmp_path / "keys"
    keys.write_text("file-key-1\n\n")
    parser = argparse.ArgumentParser()
    simulator.register(parser.add_subparsers(dest="command"), common_options())
    args = parser.parse_args(
        [
            "simulator", "--pace", "0.5", "--chunk-ms", "80", "--api-key", "arg-key-1",
            "--api-key-file", str(keys), "--token", "auth_tokens/t", "--model", "m1=3.8",
            "--model", "gemini-3.1-flash-live-preview", "--silent-turn-every", "4",
            "--late-transcription", "--lifetime-close", "aborted", "--setup-timeout", "5",
            "--max-connections", "9",
            "--tool-call-every", "3", "--tool-name", "now", "--text-frames", "--session-id",
            "--handle-ttl", "60", "--lifetime", "600", "--go-away-notice", "50",
            "--refuse-first", "2", "--refuse-mode", "quota", "--fault", "abort@turn:1",
            "--silence-ms", "500", "--vad-threshold-dbfs", "-35", "--speed", "1.3",
        ]
    )  # fmt: skip
    assert args.func is simulator.run
    options = simulator.options_from_args(args)
    assert options.api_keys == frozenset({"arg-key-1", "file-key-1"})
    assert options.tokens == frozenset({"auth_tokens/t"})
    assert dict(options.served) == {
        "m1": Family.LIVE_38,
        "gemini-3.1-flash-live-preview": Family.LIVE_31,
    }
    assert (options.silent_turn_every, options.late_transcription) == (4, True)
    assert (options.lifetime_close, options.setup_timeout_s, options.max_connections) == (
        "aborted",
        5,
        9,
    )
    assert (options.pace, options.chunk_ms, options.speed) == (0.5, 80, 1.3)
    assert (options.tool_call_every, options.tool_name) == (3, "now")
    assert options.text_frames and options.session_id
    assert (options.handle_ttl_s, options.lifetime_s, options.go_away_notice_s) == (60, 600, 50)
    assert (options.refuse_first, options.refuse_mode) == (2, "quota")
    assert options.faults == (Fault.parse("abort@turn:1"),)
    assert (options.vad_silence_ms, options.vad_threshold_dbfs) == (500, -35)
    assert "arg-key-1" not in repr(options)


def test_sigterm_right_after_the_url_line_is_a_clean_exit() -> None:
    # Attack run: a SIGTERM sent the moment the URL appeared killed it before its handler was
    # installed. The handlers now go in before the line is printed.
    for _ in range(3):
        process = start("--pace", "0")
        assert process.stdout is not None
        assert process.stdout.readline().startswith("ws://127.0.0.1:")
        status, err = stop(process, signal.SIGTERM)
        assert status == 0, err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--speed", "nan"], "--speed must be a finite number"),
        (["--pace", "-1"], "--pace must be"),
        (["--lifetime", "inf"], "--lifetime must be a finite number"),
        (["--go-away-notice", "nan"], "--go-away-notice must be"),
        (["--fault", "close=1005:x@ready"], "cannot be sent by a server"),
        (["--fault", "goaway=nan@ready"], "finite"),
        (["--model", "gemini-9-live"], "--model gemini-9-live=3.8"),
        (["--model", "x=4.0"], "unknown model family '4.0'"),
        (["--api-key-file", "/dev/null"], "not a regular file"),
    ],
)
def test_nonsense_options_are_one_line_errors_at_start(args: list[str], words: str) -> None:
    process = start(*args)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2 and out == ""
    assert words in err.strip().splitlines()[-1]  # one line (argparse puts its usage above)
    assert "Traceback" not in err


def test_a_fifo_key_file_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "keys"
    os.mkfifo(fifo)
    process = start("--api-key-file", str(fifo))
    _, err = process.communicate(timeout=30)  # opening a FIFO with no writer would hang
    assert process.returncode == 2 and "not a regular file" in err
