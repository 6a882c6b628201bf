"""probe and the small commands (issue 7 section 4): signals end probe in one line with a close
frame, bad options and unwritable paths are refused up front in one line, the answer is bounded,
and commands that read no config refuse --config and --set."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgevoice.cli import main
from edgevoice.sim import SimOptions

REPO = Path(__file__).resolve().parents[2]
KEY = "commands-test-key-7e21aa"
# Served by the simulator before and after the 3.8 work: these tests are about the commands.
MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
HANG_GUARD = 60.0  # s: a guard against hangs only; nothing asserts on durations


async def start_probe(*argv: str) -> asyncio.subprocess.Process:
    drop = ("EDGEVOICE_CONFIG", "GEMINI_API_KEY", "PYTHONUNBUFFERED")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(GEMINI_API_KEY=KEY, PYTHONPATH=str(REPO))
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edgevoice", "probe", "--config", "/dev/null",
        "--set", f"live.model={MODEL}", *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=REPO,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["INT", "TERM"]
)
async def test_a_signal_closes_the_connection_with_1000_in_one_line(
    sim_factory: Callable[..., Any], signum: signal.Signals, status: int
) -> None:
    # Real time and a long utterance: the answer is still coming when the signal arrives.
    async with sim_factory(SimOptions(pace=1.0, max_reply_s=30)) as sim:
        process = await start_probe("--set", f"live.endpoint={sim.url}", "--seconds", "20")
        assert process.stdout is not None and process.stderr is not None
        async with asyncio.timeout(HANG_GUARD):
            first = await process.stdout.readline()
            assert first.startswith(b"connected and set up in"), first
            process.send_signal(signum)
            _, err = await process.communicate()
            await sim.wait_closed()
    assert process.returncode == status
    text = err.decode()
    assert f"probe interrupted by {signum.name}; the connection was closed" in text
    assert "Traceback" not in text
    assert [x for x in text.splitlines() if "INFO" not in x] == [
        f"probe interrupted by {signum.name}; the connection was closed"
    ]
    record = sim.connections[0]
    assert (record.closed_by, record.close_code) == ("client", 1000)


async def test_an_endless_answer_is_bounded(
    sim_factory: Callable[..., Any], capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    async with sim_factory(SimOptions(pace=0, max_reply_s=60)) as sim:
        argv = ["probe", "--config", "/dev/null", "--set", f"live.endpoint={sim.url}"]
        argv += ["--set", f"live.model={MODEL}"]
        argv += ["--seconds", "10", "--max-reply", "1"]
        status = await asyncio.to_thread(main, argv)
    out, err = capsys.readouterr()
    assert status == 1
    assert "answer: 1.00 s of audio" in out
    assert "the answer went on past 1 s of audio without turnComplete" in err
    assert (sim.connections[0].closed_by, sim.connections[0].close_code) == ("client", 1000)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--seconds", "0"),
        ("--seconds", "-1"),
        ("--seconds", "nan"),
        ("--seconds", "1e9"),
        ("--timeout", "inf"),
        ("--timeout", "abc"),
        ("--max-reply", "0"),
    ],
)
def test_bad_probe_options_are_one_line(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["probe", option, value])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"edgevoice probe: error: argument {option}")
    assert "see edgevoice probe --help" in err


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        (lambda d: d / "missing-dir" / "reply.wav", "cannot be written: No such file or directory"),
        (lambda d: d, "exists and is not a regular file"),
        (lambda d: Path("/dev/null"), "exists and is not a regular file"),
    ],
    ids=["no-directory", "a-directory", "a-device"],
)
def test_an_unusable_reply_path_is_refused_before_connecting(
    target: Callable[[Path], Path],
    fragment: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    # Port 9 on loopback: nothing listens; the probe must fail before it would even try.
    argv = ["probe", "--config", "/dev/null", "--set", "live.endpoint=ws://127.0.0.1:9"]
    status = main([*argv, "--save-reply", str(target(tmp_path))])
    err = capsys.readouterr().err
    assert status == 2
    assert [x for x in err.splitlines() if "INFO" not in x] == [
        next(x for x in err.splitlines() if x.startswith("edgevoice probe: --save-reply"))
    ]
    assert fragment in err


def test_a_fifo_as_reply_path_is_refused_unopened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    fifo = tmp_path / "reply.wav"
    os.mkfifo(fifo)
    argv = ["probe", "--config", "/dev/null", "--set", "live.endpoint=ws://127.0.0.1:9"]
    assert main([*argv, "--save-reply", str(fifo)]) == 2
    assert "exists and is not a regular file" in capsys.readouterr().err
    assert stat.S_ISFIFO(fifo.stat().st_mode)


async def test_the_reply_replaces_the_file_only_when_complete(
    sim_factory: Callable[..., Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    reply = tmp_path / "reply.wav"
    reply.write_bytes(b"an earlier reply")
    async with sim_factory() as sim:
        base = ["probe", "--config", "/dev/null", "--set", f"live.endpoint={sim.url}"]
        base += ["--set", f"live.model={MODEL}"]
        failed = await asyncio.to_thread(
            main, [*base, "--seconds", "5", "--max-reply", "1", "--save-reply", str(reply)]
        )
        assert failed == 1
        assert reply.read_bytes() == b"an earlier reply"  # a failed probe destroys nothing
        assert await asyncio.to_thread(main, [*base, "--save-reply", str(reply)]) == 0
    capsys.readouterr()
    with wave.open(str(reply)) as saved:
        assert saved.getframerate() == 24000 and saved.getnframes() > 0
    assert sorted(os.listdir(tmp_path)) == ["reply.wav"]  # no .part file left behind


@pytest.mark.parametrize(
    "argv",
    [
        ["version", "--config", "/nonexistent"],
        ["--config", "/nonexistent", "version"],
        ["version", "--set", "audio.volume=3"],
        ["bench", "resampler", "--config", "/nonexistent"],
        ["bench", "--set", "a.b=c"],
        ["simulator", "--config", "/nonexistent", "--port", "0"],
    ],
)
def test_commands_that_read_no_config_refuse_config_options(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "no effect here" in err and "reads no config" in err


def test_version_without_config_options_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.startswith("edgevoice ")


def test_ctrl_c_anywhere_is_one_line_and_130(tmp_path: Path) -> None:
    # A token command that blocks: Ctrl-C arrives while check-config waits for it.
    started = tmp_path / "started"
    script = tmp_path / "token.sh"
    script.write_text(f"#!/bin/sh\ntouch {started}\nexec sleep 60\n")
    script.chmod(0o755)
    config = tmp_path / "edgevoice.toml"
    config.write_text(f'[auth]\ntoken_command = "{script}"\n')
    env = {k: v for k, v in os.environ.items() if k != "EDGEVOICE_CONFIG"}
    env["PYTHONPATH"] = str(REPO)
    process = subprocess.Popen(
        [sys.executable, "-m", "edgevoice", "check-config", "--config", str(config),
         "--require-key"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
        # As a terminal's Ctrl-C finds it: a test run started in the background of a
        # non-interactive shell inherits SIGINT ignored, and Python then installs no handler.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + HANG_GUARD
        while not started.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the token command never started"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=HANG_GUARD)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, (out, err)
    assert err == "edgevoice: interrupted\n"
    assert out == ""


def test_a_missing_key_leaves_no_partial_reply_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = tmp_path / "reply.wav"
    argv = ["probe", "--config", "/dev/null", "--set", "live.endpoint=ws://127.0.0.1:9"]
    assert main([*argv, "--save-reply", str(reply)]) == 78  # no GEMINI_API_KEY here
    assert "no API key found" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("port", ["99999", "-1", "abc", "1e3"])
def test_a_bad_simulator_port_is_one_line(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["simulator", "--port", port])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a port (0-65535; 0 = any free)" in err


def test_an_edgevoice_error_escaping_a_command_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A token server that is down is a transient error, not a config problem (issue 7 section
    # 2): a command that meets it says so in one line and exits 69, never with a traceback.
    import argparse

    from edgevoice.commands._common import with_config
    from edgevoice.errors import ConnectError

    def body(args: argparse.Namespace, config: Any) -> int:
        raise ConnectError("token server unreachable\nforged line")

    args = argparse.Namespace(config="/dev/null", overrides=[], log_level="error", verbose=False)
    assert with_config(body)(args) == 69
    assert capsys.readouterr().err == (
        "edgevoice: transient error: token server unreachable\\x0aforged line\n"
    )
