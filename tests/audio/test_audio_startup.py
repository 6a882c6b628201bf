"""PortAudio start-up against a hostile or bare ALSA world, through the real CLI in a child process
(a hang or a C assertion there must not take the test run with it): no library noise, a broken
ALSA configuration named before PortAudio aborts, and devices that block on a FIFO bounded."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgevoice.adapters import alsa_lib

HANG_GUARD = 60.0  # seconds a child may take before the test fails; never asserted as a duration
NOISE = ("ALSA lib", "Jack", "jack server", "Cannot connect to server", "pa_linux_alsa")


def run_cli(
    tmp_path: Path, alsa_config: Path | str | None, *args: str
) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "edgevoice.toml"
    if not config.exists():  # warnings and up: not the info line naming the config file
        config.write_text('[log]\nlevel = "warning"\n')
    env = dict(os.environ)
    env.pop("ALSA_CONFIG_PATH", None)
    if alsa_config is not None:
        env["ALSA_CONFIG_PATH"] = str(alsa_config)
    return subprocess.run(
        [sys.executable, "-m", "edgevoice", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        env=env,
        check=False,
    )


def noise_in(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(word in line for word in NOISE)]


def write_alsa(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "asound.conf"
    path.write_text(text)
    return path


def file_pcm(name: str, infile: str = "/dev/zero", outfile: str = "/dev/null") -> str:
    return (
        f'pcm.{name} {{ type file slave.pcm {{ type null }} file "{outfile}" '
        f'infile "{infile}" format "raw" }}\n'
    )


DEFAULT = 'pcm.!default { type asym capture.pcm "mic" playback.pcm "spk" }\n'


def test_devices_under_the_stock_alsa_configuration_prints_no_library_noise(
    tmp_path: Path,
) -> None:
    if not Path(alsa_lib.SYSTEM_CONFIG).exists():
        pytest.skip("no system ALSA configuration here")
    result = run_cli(tmp_path, None, "devices")
    assert result.returncode in (0, 1), result.stderr
    assert noise_in(result.stdout + result.stderr) == []
    # The table, or (no sound card, as in CI containers) the one-line verdict.
    if "Capture devices" not in result.stdout:
        assert result.stdout.startswith("No audio devices: PortAudio sees no ALSA")
        assert len(result.stdout.splitlines()) == 1
    # What the libraries said is kept, as one line.
    assert len(result.stderr.splitlines()) <= 1
    if result.stderr:
        assert "message(s) from the audio libraries" in result.stderr
        assert "(-v shows them all)" in result.stderr


def test_devices_verbose_logs_every_library_message_as_one_log_line(tmp_path: Path) -> None:
    if not Path(alsa_lib.SYSTEM_CONFIG).exists():
        pytest.skip("no system ALSA configuration here")
    quiet = run_cli(tmp_path, None, "devices")
    verbose = run_cli(tmp_path, None, "devices", "-v")
    assert verbose.returncode == quiet.returncode
    logged = [line for line in verbose.stderr.splitlines() if "alsa-lib: " in line]
    if quiet.stderr:  # this machine's libraries had something to say
        assert logged
    assert noise_in("\n".join(line.split("alsa-lib: ")[0] for line in logged)) == []


@pytest.mark.parametrize(
    ("alsa_config", "expected"),
    [
        ("no_default", "defines no pcm.default, and PortAudio cannot start without one"),
        ("empty", "defines no pcm.default"),
        ("missing", "ALSA cannot read its configuration"),
        ("a_fifo", "is not a regular file (reading it could block)"),
    ],
)
def test_a_configuration_portaudio_would_abort_on_is_named_in_one_line(
    tmp_path: Path, alsa_config: str, expected: str
) -> None:
    paths = {
        "no_default": write_alsa(tmp_path, file_pcm("mic")),
        "empty": write_alsa(tmp_path, ""),
        "missing": tmp_path / "nowhere" / "asound.conf",
        "a_fifo": tmp_path / "asound.fifo",
    }
    if alsa_config == "a_fifo":
        os.mkfifo(paths["a_fifo"])
    path = paths[alsa_config]
    for command in (["devices"], ["test-audio", "--no-play", "--seconds", "0.1"]):
        result = run_cli(tmp_path, path, *command)
        assert result.returncode in (69, 1), result.stderr  # not -6: PortAudio did not abort
        assert "Assertion" not in result.stderr
        lines = [line for line in result.stderr.splitlines() if line.startswith("edgevoice:")]
        assert lines and expected in lines[0], result.stderr
        assert f"ALSA_CONFIG_PATH={path}" in lines[0]
        assert noise_in(result.stderr) == []
        assert "Traceback" not in result.stderr


def test_a_capture_device_on_a_fifo_without_writer_is_reported_not_waited_for(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "mic.fifo"
    os.mkfifo(fifo)
    alsa = write_alsa(tmp_path, file_pcm("mic", infile=str(fifo)) + file_pcm("spk") + DEFAULT)
    result = run_cli(tmp_path, alsa, "devices", "--timeout", "1")
    assert result.returncode == 69, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("edgevoice: devices: PortAudio did not finish opening the ALSA ")
    assert f"'mic' ({fifo})" in line and "use FIFOs" in line

    started = time.monotonic()
    result = run_cli(tmp_path, alsa, "test-audio", "--timeout", "1", "--no-play")
    assert result.returncode == 1, result.stderr
    assert "speak now" not in result.stdout  # never before the device is open
    (line,) = result.stderr.splitlines()
    assert line.startswith("edgevoice: test-audio: capture device 'default' did not open within")
    assert f"the ALSA device 'default' reads {fifo}, a FIFO" in line
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < HANG_GUARD


def test_a_playback_device_on_a_fifo_without_reader_is_listed_unprobed_and_not_waited_for(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "spk.fifo"
    os.mkfifo(fifo)
    alsa = write_alsa(tmp_path, file_pcm("mic") + file_pcm("spk", outfile=str(fifo)) + DEFAULT)
    result = run_cli(tmp_path, alsa, "devices", "--timeout", "2")
    assert result.returncode == 0, result.stderr
    playback = result.stdout.split("Playback devices")[1]
    assert "  * default\n" in playback
    assert f"accepts (1 ch, 16-bit): not probed: it uses the FIFO {fifo}" in playback
    assert "accepts (1 ch, 16-bit): 8000 16000" in result.stdout  # 'mic' is probed

    result = run_cli(tmp_path, alsa, "test-audio", "--speaker", "--timeout", "1")
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("edgevoice: test-audio: playback device 'default' did not open within")
    assert f"the ALSA device 'default' writes to {fifo}, a FIFO" in line


# --------------------------------------------------------------------------------------------
# The captured messages are what alsa-lib would have printed, formatted the same way.


def test_captured_alsa_messages_read_exactly_like_alsa_lib_s_own_lines(tmp_path: Path) -> None:
    if not Path(alsa_lib.SYSTEM_CONFIG).exists():
        pytest.skip("no system ALSA configuration here")
    script = (
        "import sys\n"
        "from edgevoice.adapters import alsa_lib\n"
        "if sys.argv[1] == 'capture':\n"
        "    alsa_lib.capture_library_messages()\n"
        "import pyaudio\n"
        "pyaudio.PyAudio().terminate()\n"
        "for m in alsa_lib.MESSAGES.since(0):\n"
        "    print(m.library, m.text)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ALSA_CONFIG_PATH"}

    def run(mode: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script, mode],
            capture_output=True,
            text=True,
            env=env,
            timeout=HANG_GUARD,
            check=False,
        )

    plain, captured = run("plain"), run("capture")
    # alsa-lib's own format: "ALSA lib FILE:LINE:(FUNCTION) MESSAGE".
    printed = sorted(
        line.split(":(", 1)[1].replace(") ", ": ", 1)
        for line in plain.stderr.splitlines()
        if line.startswith("ALSA lib ")
    )
    ours = sorted(
        line.removeprefix("alsa-lib ")
        for line in captured.stdout.splitlines()
        if line.startswith("alsa-lib ")
    )
    assert ours == printed
    assert noise_in(captured.stderr) == []


def test_format_c_formats_what_it_can_read_and_stops_at_what_it_cannot() -> None:
    name = ctypes.create_string_buffer(b"cards.pcm.front")
    address = ctypes.addressof(name)
    minus_two = (1 << 64) - 2 if ctypes.sizeof(ctypes.c_void_p) == 8 else (1 << 32) - 2
    assert alsa_lib.format_c(b"Unknown PCM %s", (address,)) == "Unknown PCM cards.pcm.front"
    assert alsa_lib.format_c(b"card %d: %i%%", (minus_two, 7)) == "card -2: 7%"
    assert alsa_lib.format_c(b"[%5u|%-4x|%03d]", (42, 255, 7)) == "[   42|ff  |007]"
    assert alsa_lib.format_c(b"%.5s!", (address,)) == "cards!"
    assert alsa_lib.format_c(b"%s", (0,)) == "(null)"
    # A double is not passed where an integer is: stop there, show the rest as written.
    assert alsa_lib.format_c(b"rate %d, ratio %f of %s", (44100, address)) == (
        "rate 44100, ratio %f of %s"
    )
    assert alsa_lib.format_c(b"%d %d", (1,)) == "1 %d"  # more conversions than arguments


def test_library_messages_are_bounded_and_summarised_in_one_line() -> None:
    messages = alsa_lib.LibraryMessages(limit=3)
    mark = messages.mark()
    for text in ("a\nforged line", "_snd_config_evaluate: echo", "b", "b", "c"):
        messages.add("alsa-lib", text)
    assert messages.count_since(mark) == 5
    assert [m.text for m in messages.since(mark)] == ["b", "b", "c"]  # only the newest 3
    assert [m.text for m in messages.since(4)] == ["c"]
    line = alsa_lib.summary(
        [alsa_lib.LibraryMessage("alsa-lib", t) for t in ("snd_func_x: e", "x", "y", "z", "x")]
    )
    assert line == "5 message(s) from the audio libraries: x; y; z (and 1 more kinds)"
    messages.add("libjack", "a\nforged line")
    assert messages.since(mark)[-1].text == "a\\x0aforged line"


RECOVERY_SCRIPT = """
import os, sys, pyaudio
from edgevoice.adapters import portaudio_startup
from edgevoice.adapters.audio_devices import list_devices
from edgevoice.errors import AudioDeviceError

fifo = sys.argv[1]

def attempt():
    try:
        pa = portaudio_startup.start_portaudio(pyaudio.PyAudio, timeout=0.5)
    except AudioDeviceError as exc:
        return str(exc)
    names = [d.name for d in list_devices(pa)]
    portaudio_startup.stop_portaudio(pa)
    return "started: " + " ".join(names)

print(attempt())  # blocked on the FIFO: reported, the start-up left behind
print(attempt())  # refused while the first one is stuck inside PortAudio
writer = os.open(fifo, os.O_RDWR)  # now the first start-up can finish (and is released)
for _ in range(60):  # each attempt waits up to 0.5 s for it
    outcome = attempt()
    if outcome.startswith("started"):
        break
print(outcome)
"""


def test_a_start_up_stuck_on_a_fifo_blocks_the_next_one_until_it_finishes(tmp_path: Path) -> None:
    fifo = tmp_path / "mic.fifo"
    os.mkfifo(fifo)
    alsa = write_alsa(tmp_path, file_pcm("mic", infile=str(fifo)) + file_pcm("spk") + DEFAULT)
    env = {**os.environ, "ALSA_CONFIG_PATH": str(alsa)}
    result = subprocess.run(
        [sys.executable, "-c", RECOVERY_SCRIPT, str(fifo)],
        capture_output=True,
        text=True,
        env=env,
        timeout=HANG_GUARD,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    first, second, third = result.stdout.splitlines()
    assert first.startswith("PortAudio did not finish opening the ALSA devices within 0.5 s")
    assert second.startswith("PortAudio is still blocked in an earlier start-up")
    assert third == "started: mic spk default"
    assert noise_in(result.stderr) == []
