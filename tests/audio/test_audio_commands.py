"""`edgevoice devices` and `edgevoice test-audio` through the real CLI, real pyaudio, ALSA files."""

from __future__ import annotations

import wave
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from scipy.signal import correlate, resample_poly

from edgevoice import cli


def write_config(path: Path, **audio: object) -> Path:
    lines = ["[audio]"]
    for key, value in audio.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_devices_lists_capture_and_playback_and_marks_the_configured_ones(
    alsa: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alsa.mic("usbmic", Path("/dev/zero"))
    alsa.speaker("hdmispk", tmp_path / "out.raw")
    alsa.install("usbmic", "hdmispk")
    config = write_config(tmp_path / "c.toml", input_device="usbmic", output_device="hdmi")
    status = cli.main(["devices", "--config", str(config)])
    out = capsys.readouterr().out
    assert status == 0, out
    capture, playback = out.split("Playback devices")
    assert "Capture devices (ALSA via PortAudio):" in capture
    assert "  * usbmic\n" in capture and "    hdmispk\n" in capture and "    default\n" in capture
    assert "  * hdmispk\n" in playback and "    usbmic\n" in playback
    assert "default 44100 Hz" in capture
    assert "accepts (1 ch, 16-bit): 8000 16000 22050 24000 32000 44100 48000" in capture
    assert "configured: audio.input_device = 'usbmic'" in capture
    assert "configured: audio.output_device = 'hdmi'" in playback


def test_devices_exits_1_when_the_configured_device_is_missing(
    alsa: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alsa.mic("usbmic", Path("/dev/zero"))
    alsa.speaker("hdmispk", tmp_path / "out.raw")
    alsa.install("usbmic", "hdmispk")
    status = cli.main(["devices", "--set", "audio.input_device=Blue Yeti", "--config", "/dev/null"])
    out = capsys.readouterr().out
    assert status == 1
    assert "! no input device matches 'Blue Yeti'; candidates: 'usbmic'" in out
    assert "*" not in out.split("Playback devices")[0]
    assert "  * default\n" in out.split("Playback devices")[1]  # the output side still resolves


def test_test_audio_reports_levels_writes_the_wav_and_plays_it_back(
    alsa: Any, kit: SimpleNamespace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rate = 48000
    fifo = alsa.fifo("mic.fifo")
    out = tmp_path / "spk.raw"
    alsa.mic("testmic", fifo.path)
    alsa.speaker("testspk", out)
    alsa.install("testmic", "testspk")
    # A 440 Hz tone at half scale riding on a DC offset of +0.06 (a badly biased input).
    t = np.arange(round(rate * 1.5)) / rate
    signal = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.06
    writer = kit.PacedFifoWriter(fifo, kit.to_pcm(signal), chunk=2 * 960, seconds_per_chunk=0.005)
    config = write_config(
        tmp_path / "c.toml",
        input_device="testmic",
        input_rate=rate,
        output_device="testspk",
        output_rate=rate,
        volume=100,
    )
    wav = tmp_path / "rec.wav"
    try:
        status = cli.main(
            ["test-audio", "--config", str(config), "--seconds", "1", "--wav", str(wav)]
        )
    finally:
        writer.stop()
    captured = capsys.readouterr()
    assert status == 0, captured.err
    text = captured.out
    assert "Device:     'testmic' at 48000 Hz, 1 channel(s) -> 16000 Hz mono" in text
    assert "Duration:   1.00 s (50 frames)" in text
    rms = 20 * np.log10(np.sqrt(0.5**2 / 2 + 0.06**2))  # -8.9 dBFS
    peak = 20 * np.log10(0.56)  # -5.0 dBFS
    assert f"RMS {rms:.1f} dBFS, peak {peak:.1f} dBFS" in text
    assert "Clipping:   0 device sample(s)" in text
    assert "DC offset:  +0.06" in text
    assert "large DC offset" in text
    assert "Playing back on 'testspk' at 48000 Hz (volume 100 %)" in text

    with wave.open(str(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        recorded = kit.from_pcm(w.readframes(w.getnframes()))
    assert len(recorded) == 16000
    ref = resample_poly(signal[:rate], 1, 3)
    lag, corr = kit.best_alignment(recorded, ref, max_lag=4)
    assert corr > 0.999 and abs(lag) <= 1

    played = kit.from_pcm(out.read_bytes())
    back = resample_poly(recorded, 3, 1)  # what the speaker should get at 48 kHz
    start = int(np.argmax(correlate(played, back, mode="valid", method="fft")))
    assert np.corrcoef(played[start : start + len(back)], back)[0, 1] > 0.999


def test_test_audio_reports_a_missing_device_in_one_line(
    alsa: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alsa.mic("usbmic", Path("/dev/zero"))
    alsa.speaker("hdmispk", tmp_path / "out.raw")
    alsa.install("usbmic", "hdmispk")
    status = cli.main(
        ["test-audio", "--no-play", "--config", "/dev/null", "--set", "audio.input_device=yeti"]
    )
    err = capsys.readouterr().err
    assert status == 1
    lines = [line for line in err.splitlines() if line.startswith("edgevoice:")]
    assert lines == [
        "edgevoice: test-audio: no input device matches 'yeti'; candidates: 'usbmic', "
        "'hdmispk', 'default'. Set audio.input_device to one of them (see `edgevoice devices`)"
    ]


def test_test_audio_refuses_a_bad_duration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["test-audio", "--seconds", "0"])
    assert caught.value.code == 2
    assert "--seconds must be above 0" in capsys.readouterr().err
