"""The real-time audio harness does what it claims (tests/e2e/rtkit.py).

- `edgevoice test-audio`, a real process reading `pcm.mic`, measures the speech the harness
  plays into the microphone (and hears only zeros when nothing is played);
- a tone played through `pcm.spk` shows up in the speaker recording at the level the product
  says it sent, and tones played a measured time apart sit that far apart in the recording;
- reads of the microphone run at the pace of a sound card: N ms of audio take N ms of wall
  time (compared with the harness's own real-time recorder in the same run), never the flood
  a file-backed PCM gives;
- the echo path carries the speaker into the microphone, later and quieter.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import subprocess
import time
from pathlib import Path

import numpy as np
from daemonkit import EDGEVOICE
from rtkit import (
    SINK_RATE,
    RtAudio,
    align,
    breaks,
    dbfs,
    from_pcm,
    onset,
    peak_dbfs,
    pieces,
    read_wav_mono,
    resample,
)

from edgevoice.adapters.capture import PyAudioCapture
from edgevoice.adapters.playback import PyAudioPlayback

SPEECH = "The quick brown fox jumps over the lazy dog."


def write_config(directory: Path, **audio: object) -> Path:
    path = directory / "audio.toml"
    lines = ["[audio]", 'input_device = "mic"', 'output_device = "spk"']
    lines += [f"{k} = {v!r}" for k, v in audio.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_test_audio(rt: RtAudio, config: Path, *args: str, speak: str | None = None):
    """Start `edgevoice test-audio`, speak once it says "speak now", return (rc, out, err)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(config.parent), **rt.alsa_env}
    process = subprocess.Popen(
        [EDGEVOICE, "test-audio", "--config", str(config), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # "Recording ... speak now." (or nothing on failure)
    if speak is not None and "speak now" in first:
        rt.speak(speak)
    out, err = process.communicate(timeout=60)
    return process.returncode, first + out, err


def level_line(out: str) -> tuple[float, float]:
    match = re.search(r"Level:\s+RMS (-?[\d.]+) dBFS, peak (-?[\d.]+) dBFS", out)
    assert match, out
    return float(match.group(1)), float(match.group(2))


def test_test_audio_measures_the_speech_played_into_the_microphone(
    rt_audio: RtAudio, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    clip = rt_audio.utterance(SPEECH, peak_dbfs=-6.0)
    wav = tmp_path / "heard.wav"
    rc, out, err = run_test_audio(
        rt_audio, config, "--seconds", f"{clip.duration_s + 2.0:.1f}", "--no-play",
        "--wav", str(wav), speak=SPEECH,
    )  # fmt: skip
    assert rc == 0, out + err
    assert "Verdict:    passed" in out
    rms, peak = level_line(out)
    # The clip's peak is -6 dBFS at 48 kHz; at 16 kHz after two resamplers it moves a little.
    assert -8.0 < peak < -4.5, out
    assert rms < peak - 6, out  # speech, not a square wave
    heard, rate = read_wav_mono(wav)
    assert rate == 16000
    found = align(heard, clip.reference(16000))
    assert found.correlation > 0.9, found
    assert abs(found.gain_db) < 1.0, found
    # The speech is there once, whole: nothing was cut at either end.
    assert found.lag + len(clip.reference(16000)) <= len(heard), (found, len(heard))


def test_test_audio_hears_only_zeros_when_nothing_is_played(
    rt_audio: RtAudio, tmp_path: Path
) -> None:
    rc, out, err = run_test_audio(rt_audio, write_config(tmp_path), "--seconds", "0.5", "--no-play")
    assert rc == 3, out + err
    assert "only zeros came in" in out


def test_a_noise_floor_reaches_the_microphone_at_its_level(
    rt_audio: RtAudio, tmp_path: Path
) -> None:
    rt_audio.noise_floor(dbfs=-50.0)
    rc, out, err = run_test_audio(rt_audio, write_config(tmp_path), "--seconds", "1", "--no-play")
    # test-audio says -50 dBFS is too quiet to use (its threshold is a -40 dBFS peak) ...
    assert rc == 3 and "too quiet" in out, out + err
    rms, _ = level_line(out)
    # ... and measures the noise's level: white noise keeps 1/3 of its power (the band below
    # 8 kHz of the 24 kHz) on the way to 16 kHz: -50 dBFS becomes -50 - 4.8 dB.
    assert abs(rms - (-50.0 + 10 * np.log10(1 / 3))) < 1.0, out


def test_a_tone_played_on_the_speaker_is_recorded_at_the_level_the_product_states(
    rt_audio: RtAudio, tmp_path: Path
) -> None:
    recorder = rt_audio.record_speaker()
    rc, out, err = run_test_audio(
        rt_audio, write_config(tmp_path, volume=50), "--speaker", "--seconds", "1"
    )
    time.sleep(0.3)  # the tone's tail through the monitor
    recording = recorder.stop()
    assert rc == 0, out + err
    stated = re.search(r"got peak (-?[\d.]+) dBFS, RMS (-?[\d.]+) dBFS", out)
    assert stated, out
    stated_peak, stated_rms = float(stated.group(1)), float(stated.group(2))
    start = onset(recording.samples, SINK_RATE, threshold_dbfs=stated_rms - 20)
    assert start is not None, "no tone in the speaker recording"
    tone = recording.samples[start : start + SINK_RATE]
    middle = tone[SINK_RATE // 10 : -SINK_RATE // 10]  # clear of the fades
    assert abs(dbfs(middle) - stated_rms) < 0.5
    assert abs(peak_dbfs(middle) - stated_peak) < 0.5
    # Its length is the one asked for: 1 s between the half-level points.
    loud = np.flatnonzero(np.abs(recording.samples) > 10 ** (stated_peak / 20) / 2)
    assert abs((loud[-1] - loud[0]) / SINK_RATE - 1.0) < 0.03
    # And it is a 1 kHz tone.
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    assert abs(np.argmax(spectrum) * SINK_RATE / len(middle) - 1000) < 5


async def test_tones_played_apart_in_time_are_that_far_apart_in_the_recording(
    rt_audio: RtAudio,
) -> None:
    recorder = rt_audio.record_speaker()
    await recorder.wait_samples(0.2)
    playback = PyAudioPlayback(device="spk", volume=100, prebuffer_ms=40)
    await playback.start()
    t = np.arange(SINK_RATE // 5) / SINK_RATE
    beep = (0.25 * np.sin(2 * np.pi * 700 * t) * 32767).astype("<i2").tobytes()
    try:
        first = time.monotonic()
        playback.play(beep, SINK_RATE)
        await asyncio.sleep(0.7)
        second = time.monotonic()
        playback.play(beep, SINK_RATE)
        await playback.drain()
        await asyncio.sleep(playback.output_latency + 0.2)
    finally:
        await playback.close()
    recording = recorder.stop()
    loud = np.abs(recording.samples) > 0.1
    starts = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    # Two beeps, one onset each (a 700 Hz sine crosses 0.1 many times: keep the first of each
    # burst).
    bursts = [starts[0]] + [s for a, s in itertools.pairwise(starts) if s - a > SINK_RATE // 10]
    assert len(bursts) == 2, bursts
    gap_recorded = (bursts[1] - bursts[0]) / SINK_RATE
    assert abs(gap_recorded - (second - first)) < 0.06, (gap_recorded, second - first)
    # Each beep starts where the wall clock says it was played (the recorder's mapping), within
    # the playback's prebuffer and device latency.
    for sent, index in ((first, bursts[0]), (second, bursts[1])):
        delay = recording.time_at(int(index)) - sent
        assert -0.02 < delay < 0.5, delay
    # The level is what was sent (volume 100 %: no gain).
    one = recording.samples[bursts[0] + 480 : bursts[0] + 8000]
    assert abs(peak_dbfs(one) - 20 * np.log10(0.25)) < 0.5


async def test_microphone_reads_run_at_real_time_pace(rt_audio: RtAudio) -> None:
    """N ms of audio take N ms: the capture is compared with the harness's own real-time
    recorder over the same stretch of wall time, so a slow machine slows both alike."""
    capture = PyAudioCapture(device="mic", rate=48000, channels=1, queue_frames=500)
    reference = rt_audio.record_speaker("pace-reference")
    await reference.wait_samples(0.2)
    await capture.start()
    try:
        frames = capture.frames()
        for _ in range(10):  # what the stream held when it opened
            await anext(frames)
        began_wall = time.monotonic()
        began_ref = len(reference.snapshot().samples)
        for _ in range(100):  # 2 s of 20 ms frames
            await anext(frames)
        wall = time.monotonic() - began_wall
        ref_seconds = (len(reference.snapshot().samples) - began_ref) / SINK_RATE
    finally:
        await capture.close()
        reference.stop()
    # A flooded (file-backed) device would deliver 2 s in a few ms.
    assert wall > 1.6, wall
    assert 0.85 < ref_seconds / 2.0 < 1.15, ref_seconds


async def test_microphone_content_is_what_was_played(rt_audio: RtAudio) -> None:
    clip = rt_audio.utterance("Hello there.", peak_dbfs=-10.0, lead_ms=100, tail_ms=200)
    capture = PyAudioCapture(device="mic", rate=48000, channels=1, queue_frames=1000)
    await capture.start()
    try:
        frames = capture.frames()
        await anext(frames)
        playing = rt_audio.play(clip)
        got = []
        for _ in range(round((clip.duration_s + 0.5) * 50)):
            got.append(await anext(frames))
        await playing.finished()
    finally:
        await capture.close()
    heard = from_pcm(b"".join(got))
    found = align(heard, clip.reference(16000))
    assert found.correlation > 0.95, found
    assert abs(found.gain_db) < 0.5, found


async def test_the_echo_path_carries_the_speaker_into_the_microphone(rt_audio: RtAudio) -> None:
    echo = rt_audio.echo_path(latency_ms=60, gain_db=-6.0)
    capture = PyAudioCapture(device="mic", rate=48000, channels=1, queue_frames=1000)
    playback = PyAudioPlayback(device="spk", volume=100, prebuffer_ms=40)
    await capture.start()
    await playback.start()
    rng = np.random.default_rng(1)
    burst = resample(rng.standard_normal(SINK_RATE // 2) * 0.1, SINK_RATE, SINK_RATE)
    try:
        frames = capture.frames()
        got = [await anext(frames) for _ in range(10)]
        playback.play((np.clip(burst, -1, 1) * 32767).astype("<i2").tobytes(), SINK_RATE)
        got += [await anext(frames) for _ in range(75)]
    finally:
        await playback.close()
        await capture.close()
    heard = from_pcm(b"".join(got))
    found = align(heard, resample(burst, SINK_RATE, 16000))
    assert found.correlation > 0.8, found
    assert abs(found.gain_db - echo.gain_db) < 1.5, found
    echo.remove()


def test_a_clip_is_padded_with_silence_and_scaled(rt_audio: RtAudio) -> None:
    clip = rt_audio.utterance("Hello.", peak_dbfs=-12.0, lead_ms=200, tail_ms=400)
    lead = clip.samples[: round(0.2 * SINK_RATE)]
    tail = clip.samples[-round(0.4 * SINK_RATE) :]
    assert not lead.any() and not tail.any()
    assert abs(peak_dbfs(clip.sound()) + 12.0) < 0.1
    assert clip.sound_s > 0.2
    data, rate = read_wav_mono(clip.path)
    assert rate == SINK_RATE and len(data) == len(clip.samples)


def test_pieces_find_a_dropped_or_repeated_frame_and_nothing_in_an_unbroken_copy() -> None:
    rng = np.random.default_rng(3)
    ref = np.concatenate([np.zeros(4000), rng.standard_normal(16000 * 2) * 0.1])
    copy = ref[3000:]
    assert breaks(pieces(copy, ref, 16000)) == []
    dropped = np.concatenate([ref[:16000], ref[16320:]])  # one 20 ms frame lost
    assert breaks(pieces(dropped, ref, 16000))
    repeated = np.concatenate([ref[:16000], ref[15680:]])  # one 20 ms frame twice
    assert breaks(pieces(repeated, ref, 16000))
