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


def test_test_audio_on_an_all_zero_microphone_exits_3_with_its_verdict(
    alsa: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "spk.raw"
    alsa.mic("deadmic", Path("/dev/zero"))
    alsa.speaker("testspk", out)
    alsa.install("deadmic", "testspk")
    config = write_config(tmp_path / "c.toml", input_device="deadmic", output_device="testspk")
    status = cli.main(["test-audio", "--config", str(config), "--seconds", "0.5"])
    text = capsys.readouterr().out
    assert status == 3
    lines = text.splitlines()
    assert lines[0] == "Recording 0.5 s from 'deadmic' at 48000 Hz... speak now."
    assert "Problem:    only zeros came in: the microphone is muted or broken" in text
    assert lines[-1] == "Verdict:    FAILED (exit status 3)"
    assert "Playback:   skipped, nothing but zeros to play" in text
    assert not out.exists() or not out.read_bytes()  # nothing was played


def test_test_audio_on_a_heavily_clipping_microphone_exits_3(
    alsa: Any, kit: SimpleNamespace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rate = 48000
    t = np.arange(rate * 3) / rate
    # A 200 Hz tone driven twice past full scale: about 2/3 of its samples are clipped.
    mic = tmp_path / "mic.raw"
    mic.write_bytes(kit.to_pcm(np.clip(2.0 * np.sin(2 * np.pi * 200 * t), -1, 1)))
    alsa.mic("hotmic", mic)
    alsa.speaker("testspk", tmp_path / "spk.raw")
    alsa.install("hotmic", "testspk")
    config = write_config(tmp_path / "c.toml", input_device="hotmic", input_rate=rate)
    status = cli.main(["test-audio", "--config", str(config), "--seconds", "1", "--no-play"])
    text = capsys.readouterr().out
    assert status == 3
    assert "Problem:    heavy clipping (" in text and "of the samples at full scale)" in text
    assert text.splitlines()[-1] == "Verdict:    FAILED (exit status 3)"


def test_test_audio_says_speak_now_once_the_device_is_open_and_passes_on_speech(
    alsa: Any, kit: SimpleNamespace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rate = 16000
    mic = tmp_path / "mic.raw"
    mic.write_bytes(kit.to_pcm(kit.tones(rate, 3.0, (200.0, 900.0, 2500.0), 0.3)))
    alsa.mic("goodmic", mic)
    alsa.speaker("testspk", tmp_path / "spk.raw")
    alsa.install("goodmic", "testspk")
    config = write_config(tmp_path / "c.toml", input_device="goodmic", input_rate=rate)
    status = cli.main(["test-audio", "--config", str(config), "--seconds", "1", "--no-play"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    # The device rate in the line is the one the open negotiated: it was open when it printed.
    assert lines[0] == "Recording 1 s from 'goodmic' at 16000 Hz... speak now."
    assert lines[-1] == "Verdict:    passed"
    assert not any(line.startswith("Problem:") for line in lines)


@pytest.mark.parametrize("volume", [100, 50])
def test_the_speaker_check_plays_a_1_khz_tone_at_the_level_it_states(
    alsa: Any, kit: SimpleNamespace, tmp_path: Path, capsys: pytest.CaptureFixture[str], volume: int
) -> None:
    out = tmp_path / "spk.raw"
    alsa.mic("nullmic", Path("/dev/zero"))
    alsa.speaker("testspk", out)
    alsa.install("nullmic", "testspk")
    config = write_config(
        tmp_path / "c.toml", output_device="testspk", output_rate=44100, volume=volume
    )
    status = cli.main(["test-audio", "--speaker", "--config", str(config), "--seconds", "1"])
    text = capsys.readouterr().out
    assert status == 0, text
    # What the issue asks for: a known tone (1 kHz, -6 dBFS as sent) and the level it should
    # have at the device: volume is a square law, so 50 % is a quarter of the amplitude.
    peak = -6.0 + 20 * np.log10((volume / 100) ** 2)
    rms = peak - 3.0103
    assert f"got peak {peak:.1f} dBFS, RMS {rms:.1f} dBFS" in text
    assert text.splitlines()[-1] == "Verdict:    passed"

    played = kit.from_pcm(out.read_bytes())
    loud = np.flatnonzero(np.abs(played) > 1e-3)
    tone = played[loud[0] : loud[-1] + 1]
    assert abs(len(tone) - 44100) <= 44100 * 0.03  # one second, give or take the fade edges
    steady = tone[len(tone) // 4 : 3 * len(tone) // 4]
    measured_rms = 20 * np.log10(np.sqrt(np.mean(steady**2)))
    measured_peak = 20 * np.log10(np.max(np.abs(steady)))
    assert abs(measured_rms - rms) < 0.1 and abs(measured_peak - peak) < 0.1
    spectrum = np.abs(np.fft.rfft(steady * np.hanning(len(steady))))
    assert abs(np.argmax(spectrum) * 44100 / len(steady) - 1000) < 5


def test_the_speaker_check_fails_at_volume_0(
    alsa: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alsa.mic("nullmic", Path("/dev/zero"))
    alsa.speaker("testspk", tmp_path / "spk.raw")
    alsa.install("nullmic", "testspk")
    config = write_config(tmp_path / "c.toml", output_device="testspk", volume=0)
    status = cli.main(["test-audio", "--speaker", "--config", str(config)])
    text = capsys.readouterr().out
    assert status == 3
    assert "Problem:    audio.volume is 0 %: nothing can be heard; raise it" in text
