"""Every odd config either exits 78 from `check-config` naming its key, or starts and runs a
round trip against the simulator; none ends in a traceback (issue 7, "What it must show", for
the configs of section 2 and the hostile files of section 4).

"Starts" means the real `edgevoice probe` (in this process, on a worker thread) connects to the
real simulator on loopback with the config, speaks a turn and gets the spoken answer back, and
`edgevoice run` (a process) starts the daemon and stops cleanly on SIGTERM. A refused config is
refused the same way by `check-config`, `run` and `probe`: one path.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edgevoice.cli import main

KEY = "odd-config-test-key-5b1f0c"


@dataclass(frozen=True)
class Case:
    name: str
    text: str = ""  # the config file
    overrides: tuple[str, ...] = ()  # --set values
    refused_key: str | None = None  # None: must start and complete a round trip
    fragment: str = ""  # part of the refusal message
    file: Callable[[Path], Path] | None = None  # makes a hostile file instead of `text`


def fifo(directory: Path) -> Path:
    path = directory / "edgevoice.toml"
    os.mkfifo(path)
    return path


def dotted_key(directory: Path) -> Path:
    path = directory / "edgevoice.toml"
    path.write_text("a" + ".a" * 30_000 + " = 1\n")
    return path


def oversized(directory: Path) -> Path:
    path = directory / "edgevoice.toml"
    path.write_text("# " + "x" * 70 + "\n" + ("[audio]\n" + "volume = 5\n") * 15_000)
    return path


CASES = [
    # --- issue 7 section 2: these passed check-config and then crashed with a traceback ------
    Case("model-with-slash", '[live]\nmodel = "a/b"\n', refused_key="live.model",
         fragment="is not a model id"),
    Case("compression-off-with-tokens", "[live]\ncompression = false\n"
         "compression_trigger_tokens = 20000\n", refused_key="live.compression_trigger_tokens",
         fragment="live.compression is false"),
    Case("port-out-of-range", overrides=("live.endpoint=wss://example.com:99999",),
         refused_key="live.endpoint", fragment="invalid host or port"),
    Case("port-not-a-number", overrides=("live.endpoint=wss://example.com:abc",),
         refused_key="live.endpoint", fragment="invalid host or port"),
    Case("nan-timeout", "[live]\nconnect_timeout = nan\n", refused_key="live.connect_timeout",
         fragment="not a finite number"),
    Case("inf-delay", "[reconnect]\nmax_delay = inf\n", refused_key="reconnect.max_delay",
         fragment="not a finite number"),
    Case("nan-gain", overrides=("audio.input_gain_db=nan",), refused_key="audio.input_gain_db",
         fragment="not a finite number"),
    Case("message-size-1e23", "[live]\nmax_message_size = 1e23\n",
         refused_key="live.max_message_size", fragment="is not an integer"),
    Case("message-size-10^23", "[live]\nmax_message_size = 100000000000000000000000\n",
         refused_key="live.max_message_size", fragment="above the maximum"),
    # --- family rules (issue 8): refused before a device meets a 1007 ----------------------
    Case("3.8-with-budget", overrides=("live.thinking_budget=0",),
         refused_key="live.thinking_budget", fragment="gemini-3.8-live"),
    # --- hostile files (issue 7 section 4) ----------------------------------------------------
    Case("fifo", file=fifo, refused_key="--config", fragment="FIFO"),
    Case("dotted-key-attack", file=dotted_key, refused_key="--config", fragment="dotted key"),
    Case("oversized", file=oversized, refused_key="--config", fragment="larger than 256 KiB"),
    # --- odd but valid: each must start and complete a round trip -------------------------
    Case("compression-off", "[live]\ncompression = false\n"),
    Case("model-with-prefix", '[live]\nmodel = "models/gemini-3.8-live"\n'),
    Case("largest-message-size", "[live]\nmax_message_size = 67108864\n"),
    Case("no-keepalive", "[live]\nkeepalive_interval = 0\n"),
    Case("no-resumption-no-tools",
         '[live]\nresumption = false\ntools = []\nsystem_instruction = ""\n'),
    Case("no-transcripts", "[live]\ninput_transcription = false\noutput_transcription = false\n"),
    Case("server-vad", '[trigger]\nmode = "voice"\n[vad]\nend_of_speech = "server"\n'),
    Case("integer-for-a-float", "[live]\nconnect_timeout = 5\nsetup_timeout = 120\n"),
    Case("dotted-keys-at-top-level", 'live.voice = "Kore"\naudio.volume = 0\n'),
    # --- the Gemini 3.8 keys, as the setup frame carries them --------------------------------
    Case("turn-options", '[live]\nactivity_handling = "no_interruption"\n'
         'turn_coverage = "only_activity"\ntranscription_languages = ["de-DE", "en"]\n'),
    Case("2.5-thinking-off", '[live]\nmodel = "gemini-2.5-flash-native-audio-preview-12-2025"\n'
         'fallback_models = ["gemini-3.8-live"]\nthinking_budget = -1\n'),
    Case("2.5-budget", '[live]\nmodel = "gemini-2.5-flash-native-audio-preview-12-2025"\n'
         "thinking_budget = 256\n"),
    Case("3.8-with-a-2.5-fallback", '[live]\nproactive_audio = "on"\napi_version = "v1alpha"\n'
         'fallback_models = ["gemini-2.5-flash-native-audio-preview-09-2025"]\n'),
]  # fmt: skip


def test_the_table_covers_both_outcomes() -> None:
    refused = [c for c in CASES if c.refused_key]
    assert len(refused) >= 13 and len(CASES) - len(refused) >= 8


async def run_daemon(argv: list[str], directory: Path) -> tuple[int, str]:
    """`edgevoice run` as a process, until it says it is running; then SIGTERM. Its exit status
    and stderr. State and socket go to `directory`, never /var/lib or /run."""
    paths = [
        "--set",
        f'paths.state_dir="{directory / "state"}"',
        "--set",
        f'paths.runtime_dir="{directory / "run"}"',
    ]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edgevoice", "run", *argv, *paths,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "GEMINI_API_KEY": KEY},
    )  # fmt: skip
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):  # a hang guard
            while line := (await process.stderr.readline()).decode():
                lines.append(line)
                if "edgevoice is running" in line:
                    process.send_signal(signal.SIGTERM)
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, "".join(lines)


def config_argv(case: Case, directory: Path) -> list[str]:
    if case.file is not None:
        path = case.file(directory)
    else:
        path = directory / "edgevoice.toml"
        path.write_text(case.text)
    argv = ["--config", str(path)]
    for item in case.overrides:
        argv += ["--set", item]
    return argv


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("case", [c for c in CASES if c.refused_key], ids=lambda c: c.name)
def test_refused_by_every_command_with_its_key(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    argv = config_argv(case, tmp_path)
    for command in ("check-config", "run", "probe"):
        status, out, err = run_cli(capsys, command, *argv)
        assert status == 78, f"{command}: {err}"
        assert re.search(
            rf"^edgevoice: config error: {re.escape(case.refused_key or '')}: ", err, re.M
        )
        assert case.fragment in err
        assert "Traceback" not in out + err
        assert out == ""


@pytest.mark.parametrize("case", [c for c in CASES if not c.refused_key], ids=lambda c: c.name)
async def test_accepted_configs_start_and_complete_a_round_trip(
    case: Case,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: Any,
    sim_factory: Callable[..., Any],
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    argv = config_argv(case, tmp_path)
    status, out, err = run_cli(capsys, "check-config", *argv)
    assert status == 0, err
    assert "Traceback" not in out + err
    # `run` validates the same way and starts the daemon (a process: it runs until SIGTERM).
    status, err = await run_daemon(argv, tmp_path)
    assert status == 0, err
    assert "Traceback" not in err
    async with sim_factory() as sim:
        probe = ["probe", *argv, "--set", f"live.endpoint={sim.url}", "--timeout", "60"]
        status = await asyncio.to_thread(main, probe)
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "Traceback" not in out + err
    seconds = re.search(r"^answer: (\d+\.\d\d) s of audio$", out, re.M)
    assert seconds is not None and float(seconds.group(1)) > 0, out
    assert len(sim.connections) == 1
