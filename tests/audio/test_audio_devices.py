"""Device listing and matching, PortAudio error mapping, the throttled warning."""

from __future__ import annotations

import asyncio
import logging
import threading
import wave
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyaudio
import pytest

from edgevoice.adapters.audio_devices import (
    PA_DEVICE_UNAVAILABLE,
    PA_INVALID_CHANNEL_COUNT,
    PA_INVALID_SAMPLE_RATE,
    DeviceInfo,
    ThrottledWarning,
    close_stream_blocking,
    device_error,
    find_device,
    list_devices,
    open_stream,
    run_in_thread,
)
from edgevoice.adapters.portaudio_startup import start_portaudio, stop_portaudio
from edgevoice.adapters.wavfile import write_wav
from edgevoice.errors import AudioDeviceError, DeviceBusyError, DeviceNotFoundError

DEVICES = [
    DeviceInfo(0, "HDA Intel PCH: ALC3246 Analog (hw:0,0)", 2, 2, 44100),
    DeviceInfo(1, "USB PnP Sound Device: Audio (hw:1,0)", 1, 0, 48000),
    DeviceInfo(2, "HDMI 0 (hw:0,3)", 0, 8, 48000),
    DeviceInfo(3, "default", 32, 32, 44100),
]


def test_exact_name_wins_over_substrings() -> None:
    assert find_device(DEVICES, "default", "input").index == 3


def test_unique_case_insensitive_substring() -> None:
    assert find_device(DEVICES, "usb pnp", "input").index == 1
    assert find_device(DEVICES, "hw:0,3", "output").index == 2


def test_only_devices_of_the_right_direction_count() -> None:
    # "hw:1,0" is capture only; as an output it matches nothing.
    with pytest.raises(DeviceNotFoundError) as caught:
        find_device(DEVICES, "hw:1,0", "output")
    assert caught.value.kind == "output"
    assert "USB PnP Sound Device: Audio (hw:1,0)" not in caught.value.candidates
    assert "HDMI 0 (hw:0,3)" in caught.value.candidates


def test_no_match_names_every_candidate() -> None:
    with pytest.raises(DeviceNotFoundError) as caught:
        find_device(DEVICES, "Blue Yeti", "input")
    err = caught.value
    assert err.candidates == (
        "HDA Intel PCH: ALC3246 Analog (hw:0,0)",
        "USB PnP Sound Device: Audio (hw:1,0)",
        "default",
    )
    assert str(err).startswith("no input device matches 'Blue Yeti'; candidates: ")
    assert "audio.input_device" in str(err)


def test_ambiguous_substring_says_so_and_lists_the_matches() -> None:
    with pytest.raises(DeviceNotFoundError) as caught:
        find_device(DEVICES, "hw:", "input")
    message = str(caught.value)
    assert "matches several input devices" in message
    assert "'HDA Intel PCH: ALC3246 Analog (hw:0,0)'" in message
    assert "'default'" not in message
    assert len(caught.value.candidates) == 2


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        (PA_DEVICE_UNAVAILABLE, "Device unavailable", DeviceBusyError),
        (-9999, "Unanticipated host error: Device or resource busy", DeviceBusyError),
        (PA_INVALID_CHANNEL_COUNT, "Invalid number of channels", AudioDeviceError),
        (PA_INVALID_SAMPLE_RATE, "Invalid sample rate", AudioDeviceError),
    ],
)
def test_portaudio_errors_become_typed_errors(code: int, text: str, expected: type) -> None:
    err = device_error(OSError(code, text), "input", "usbmic", "open")
    assert type(err) is expected
    assert "'usbmic'" in str(err)
    if code == PA_INVALID_CHANNEL_COUNT:
        assert "audio.input_channels" in str(err)


def test_throttled_warning_logs_once_per_interval_with_the_count(
    caplog: pytest.LogCaptureFixture, kit: SimpleNamespace
) -> None:
    clock = kit.FakeClock()
    logger = logging.getLogger("test.throttle")
    warn = ThrottledWarning(logger, "lost %d things", interval=10.0, clock=clock)
    caplog.set_level(logging.WARNING, logger="test.throttle")
    for _ in range(5):
        warn.note()
    clock.advance(9.5)
    warn.note(3)  # still inside the interval: counted, not logged
    clock.advance(0.5)
    warn.note()
    assert [r.getMessage() for r in caplog.records] == ["lost 1 things", "lost 8 things"]
    assert warn.total == 9 and warn.logged == 2


async def test_run_in_thread_returns_raises_and_cleans_up_abandoned_results() -> None:
    assert await run_in_thread(lambda: threading.current_thread().name, name="t1") == "t1"
    with pytest.raises(ValueError, match="boom"):
        await run_in_thread(lambda: (_ for _ in ()).throw(ValueError("boom")), name="t2")

    release = threading.Event()
    abandoned: list[str] = []
    cleaned = threading.Event()

    def slow() -> str:
        release.wait(30)
        return "stream"

    def abandon(result: str) -> None:
        abandoned.append(result)
        cleaned.set()

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await run_in_thread(slow, name="t3", abandon=abandon)
    release.set()
    assert await asyncio.to_thread(cleaned.wait, 30)
    assert abandoned == ["stream"]


def test_real_listing(alsa: Any, tmp_path: Path) -> None:
    alsa.mic("filemic", Path("/dev/zero"))
    alsa.speaker("filespk", tmp_path / "out.raw")
    alsa.install("filemic", "filespk")
    pa = start_portaudio(pyaudio.PyAudio)
    try:
        devices = list_devices(pa)
        names = {d.name for d in devices}
        assert {"filemic", "filespk", "default"} <= names
        mic = find_device(devices, "filemic", "input")
        assert mic.max_input_channels >= 2 and mic.default_rate == 44100
    finally:
        stop_portaudio(pa)


def test_a_refused_rate_falls_back_to_the_default_rate_with_a_warning(
    alsa: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alsa.mic("filemic", Path("/dev/zero"))
    alsa.speaker("filespk", tmp_path / "out.raw")
    alsa.install("filemic", "filespk")

    def callback(*_: object) -> tuple[None, int]:
        return None, pyaudio.paContinue

    opened = open_stream(pyaudio.PyAudio, "input", "filemic", 48000, 2, 20, callback)
    try:
        assert opened.rate == 48000
    finally:
        close_stream_blocking(opened)
    # 768 kHz is beyond what alsa-lib accepts: the device's default rate is used instead.
    opened = open_stream(pyaudio.PyAudio, "input", "filemic", 768000, 1, 20, callback)
    try:
        assert (opened.rate, opened.device.name) == (44100, "filemic")
    finally:
        close_stream_blocking(opened)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "capture device 'filemic' refused 768000 Hz; using its default rate 44100 Hz"
    ]


def test_wav_file_is_16_bit_pcm_with_the_given_format(tmp_path: Path) -> None:
    pcm = bytes(range(256)) * 10
    write_wav(tmp_path / "a.wav", pcm, 16000, channels=2)
    with wave.open(str(tmp_path / "a.wav")) as back:
        params = (back.getframerate(), back.getnchannels(), back.getsampwidth())
        assert params == (16000, 2, 2)
        assert back.readframes(back.getnframes()) == pcm
    with pytest.raises(ValueError, match="whole number of 2-ch frames"):
        write_wav(tmp_path / "b.wav", pcm[:-1], 16000, channels=2)
