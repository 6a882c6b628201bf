"""`edgevoice test-audio`: check the microphone (record, report its level, play it back) or, with
`--speaker`, the speaker alone (a known tone at a stated level).

The recording goes through the daemon's own capture path (device rate -> downmix -> gain ->
16 kHz), so what is reported is what the Live API would hear; the tone goes through the
daemon's playback path from the Live API's 24 kHz.

Exit status:
  0  every check passed (advice may still be printed)
  1  a device could not be opened or failed (the message says which and why)
  2  bad command-line option
  3  the audio failed a check: only zeros came in (a muted or broken microphone), heavy
     clipping, a recording too quiet to use, or (--speaker) a volume of 0 %
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgevoice.adapters.capture import FRAME_SAMPLES, PyAudioCapture
from edgevoice.adapters.playback import PyAudioPlayback, volume_gain
from edgevoice.adapters.portaudio_startup import STARTUP_TIMEOUT
from edgevoice.adapters.wavfile import write_wav
from edgevoice.audio import dsp
from edgevoice.commands._common import seconds_type, with_config
from edgevoice.config import AudioConfig, Config
from edgevoice.errors import AudioDeviceError
from edgevoice.ports import FRAME_MS, MIC_RATE, SPEAKER_RATE

NAME = "test-audio"
MAX_SECONDS = 60.0
EXIT_DEVICE = 1
EXIT_CHECK_FAILED = 3

# Thresholds for the verdict on a recording.
QUIET_PEAK_DBFS = -40.0  # speech close to a working microphone peaks well above this
HEAVY_CLIPPING = 0.001  # fraction of device samples at full scale that fails the check
DC_WARNING = 0.05  # a mean of 5 % of full scale points at a faulty or badly biased input

# The speaker check's tone: what is sent, at the Live API's rate, before the volume.
TONE_HZ = 1000.0
TONE_PEAK_DBFS = -6.0
TONE_FADE_S = 0.02  # raised-cosine fade in and out, so the tone starts and stops without a click


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="check the microphone (record, report, play back) or the speaker (--speaker)",
        description=(
            "Record from audio.input_device through the same path the daemon uses (16 kHz "
            "mono), report the level (RMS and peak dBFS), clipping, DC offset and the device "
            "rate actually used, then play the recording on audio.output_device. Speak "
            "normally once it says 'speak now'. With --speaker, play a 1 kHz tone of a stated "
            "level on audio.output_device instead. Exits 0 when every check passed, 1 when a "
            "device failed, 3 when the audio failed a check (its verdict says which)."
        ),
    )
    parser.add_argument(
        "--seconds",
        type=seconds_type("--seconds", MAX_SECONDS),
        default=3.0,
        metavar="S",
        help="how long to record, or to play the tone (default 3, at most 60)",
    )
    parser.add_argument("--wav", metavar="FILE", help="also write the recording to a WAV file")
    parser.add_argument("--no-play", action="store_true", help="do not play the recording back")
    parser.add_argument(
        "--speaker",
        action="store_true",
        help="check the speaker alone: play a 1 kHz tone and say what level it should have",
    )
    parser.add_argument(
        "--timeout",
        type=seconds_type("--timeout", 600),
        default=STARTUP_TIMEOUT,
        metavar="S",
        help=f"give up when a device takes longer to open (default {STARTUP_TIMEOUT:g})",
    )
    parser.set_defaults(func=with_config(run_test_audio))


@dataclass(frozen=True)
class Recording:
    """What was recorded: 16 kHz mono int16 PCM plus what the device did."""

    pcm: bytes
    device: str
    rate: int  # the device rate actually used
    channels: int
    device_samples: int  # samples per channel the device delivered
    raw_peak: int  # largest raw device sample (int16 magnitude)
    raw_clipped: int  # raw samples at full scale
    dropped_ms: int  # audio lost because the reader fell behind
    digital_silence: bool


@dataclass
class Verdict:
    """Failed checks (exit 3) and advice (exit 0), in the order they are printed."""

    problems: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        lines = [f"Problem:    {p}" for p in self.problems]
        lines += [f"Advice:     {a}" for a in self.advice]
        if self.problems:
            lines.append(f"Verdict:    FAILED (exit status {EXIT_CHECK_FAILED})")
        else:
            lines.append("Verdict:    passed")
        return lines


def run_test_audio(args: argparse.Namespace, config: Config) -> int:
    audio = config.audio
    if args.speaker:
        return asyncio.run(speaker_check(make_playback(audio, args.timeout), args.seconds))
    capture = PyAudioCapture(
        device=audio.input_device,
        rate=audio.input_rate,
        channels=audio.input_channels,
        downmix=audio.downmix,
        gain_db=audio.input_gain_db,
        period_ms=audio.period_ms,
        # Room for the whole recording: the point is to hear every sample, not to keep up.
        queue_frames=max(audio.capture_queue_frames, frames_for(args.seconds) + 500),
        open_timeout=args.timeout,
    )
    playback = None if args.no_play else make_playback(audio, args.timeout)
    return asyncio.run(test_audio(capture, playback, args.seconds, args.wav))


def make_playback(audio: AudioConfig, open_timeout: float) -> PyAudioPlayback:
    return PyAudioPlayback(
        device=audio.output_device,
        rate=audio.output_rate,
        channels=audio.output_channels,
        volume=audio.volume,
        prebuffer_ms=audio.playback_prebuffer_ms,
        period_ms=audio.period_ms,
        open_timeout=open_timeout,
    )


def frames_for(seconds: float) -> int:
    return max(1, round(seconds * 1000 / FRAME_MS))


def _fail(exc: AudioDeviceError) -> int:
    print(f"edgevoice: test-audio: {exc}", file=sys.stderr)
    return EXIT_DEVICE


async def test_audio(
    capture: PyAudioCapture,
    playback: PyAudioPlayback | None,
    seconds: float,
    wav_path: str | None,
) -> int:
    """Record, report, then write and/or play. Returns the exit status."""
    try:
        recording = await record(capture, frames_for(seconds))
    except AudioDeviceError as exc:
        return _fail(exc)
    verdict = judge(recording)
    print(report(recording), flush=True)
    if wav_path:
        try:
            write_wav(wav_path, recording.pcm, MIC_RATE)
        except OSError as exc:
            print(f"edgevoice: test-audio: cannot write {wav_path}: {exc}", file=sys.stderr)
            return EXIT_DEVICE
        print(f"Wrote {wav_path} (16 kHz mono, 16-bit).")
    if playback is not None and recording.raw_peak == 0:
        print("Playback:   skipped, nothing but zeros to play (check the speaker with --speaker)")
    elif playback is not None:
        try:
            await play(playback, recording.pcm, MIC_RATE, "back")
        except AudioDeviceError as exc:
            return _fail(exc)
    print("\n".join(verdict.lines()), flush=True)
    return 0 if verdict.passed else EXIT_CHECK_FAILED


async def record(capture: PyAudioCapture, frames: int) -> Recording:
    """Open the capture, say "speak now", collect `frames` 20 ms frames, then close it."""
    chunks: list[bytes] = []
    await capture.start()
    try:
        name = capture.device.name if capture.device else capture.device_name
        seconds = frames * FRAME_MS / 1000
        print(
            f"Recording {seconds:g} s from {name!r} at {capture.rate} Hz... speak now.", flush=True
        )
        async for frame in capture.frames():
            chunks.append(frame)
            if len(chunks) >= frames:
                break
        stats = capture.stats
        rate = capture.rate
    finally:
        await capture.close()
    if len(chunks) < frames:
        raise AudioDeviceError(f"capture device {capture.device_name!r} stopped while recording")
    assert rate is not None
    return Recording(
        pcm=b"".join(chunks),
        device=capture.device.name if capture.device else capture.device_name,
        rate=rate,
        channels=capture.channels,
        device_samples=stats.device_frames,
        raw_peak=stats.raw_peak,
        raw_clipped=stats.raw_clipped_samples,
        dropped_ms=stats.dropped_frames * FRAME_MS + stats.dropped_device_frames * 1000 // rate,
        digital_silence=stats.digital_silence,
    )


async def play(playback: PyAudioPlayback, pcm: bytes, rate: int, what: str) -> None:
    """Open the speaker, play `pcm` (mono int16 at `rate`) to the end, close it."""
    await playback.start()
    try:
        print(
            f"Playing {what} on {playback.device_name!r} at {playback.rate} Hz "
            f"(volume {playback.volume} %)...",
            flush=True,
        )
        playback.play(pcm, rate)
        await playback.drain()
        # Closing aborts what the device still holds: let the last period be heard first.
        await asyncio.sleep(playback.output_latency + playback.period_ms / 1000)
    finally:
        await playback.close()


def judge(rec: Recording) -> Verdict:
    """Which checks the recording fails (exit 3) and what advice it gets."""
    level = dsp.measure_level(dsp.int16_to_float32(rec.pcm))
    verdict = Verdict()
    samples = max(1, rec.device_samples * rec.channels)
    if rec.raw_peak == 0:
        verdict.problems.append(
            "only zeros came in: the microphone is muted or broken (check alsamixer)"
        )
    elif level.peak_dbfs < QUIET_PEAK_DBFS:
        verdict.problems.append(
            f"too quiet to use (peak below {QUIET_PEAK_DBFS:g} dBFS): speak closer, raise the "
            "capture level in alsamixer, or raise audio.input_gain_db"
        )
    if rec.raw_clipped / samples > HEAVY_CLIPPING:
        verdict.problems.append(
            f"heavy clipping ({rec.raw_clipped / samples:.2%} of the samples at full scale): "
            "lower the capture level in alsamixer or audio.input_gain_db"
        )
    elif rec.raw_clipped:
        verdict.advice.append("some clipping: consider lowering the capture level in alsamixer")
    if abs(level.dc_offset) > DC_WARNING:
        verdict.advice.append("large DC offset: the microphone or its preamp may be faulty")
    if rec.dropped_ms:
        verdict.advice.append(
            f"{rec.dropped_ms} ms of audio dropped: this machine could not keep up"
        )
    return verdict


def report(rec: Recording) -> str:
    """The figures for one recording, as printed lines."""
    samples = dsp.int16_to_float32(rec.pcm)
    level = dsp.measure_level(samples)
    return "\n".join(
        [
            f"Device:     {rec.device!r} at {rec.rate} Hz, {rec.channels} channel(s)"
            f" -> {MIC_RATE} Hz mono",
            f"Duration:   {len(samples) / MIC_RATE:.2f} s ({len(samples) // FRAME_SAMPLES} frames)",
            f"Level:      RMS {level.rms_dbfs:.1f} dBFS, peak {level.peak_dbfs:.1f} dBFS",
            f"Clipping:   {rec.raw_clipped} device sample(s) at full scale",
            f"DC offset:  {level.dc_offset:+.4f} (fraction of full scale)",
        ]
    )


def tone(seconds: float, rate: int = SPEAKER_RATE) -> bytes:
    """The speaker check's tone: TONE_HZ at TONE_PEAK_DBFS, faded in and out, int16 mono."""
    t = np.arange(round(seconds * rate), dtype=np.float64) / rate
    amplitude = 10.0 ** (TONE_PEAK_DBFS / 20.0)
    x = (amplitude * np.sin(2.0 * np.pi * TONE_HZ * t)).astype(np.float32)
    fade = round(TONE_FADE_S * rate)
    return dsp.float32_to_int16(dsp.fade_out(dsp.fade_in(x, fade), fade)).tobytes()


def expected_tone_level(volume: int) -> tuple[float, float]:
    """(peak, RMS) in dBFS that the device should receive for the tone at `volume` %."""
    gain = volume_gain(volume)
    if gain == 0.0:
        return dsp.SILENCE_DBFS, dsp.SILENCE_DBFS
    peak = TONE_PEAK_DBFS + 20.0 * math.log10(gain)
    return peak, peak - 10.0 * math.log10(2.0)  # a sine's RMS is its peak - 3.01 dB


async def speaker_check(playback: PyAudioPlayback, seconds: float) -> int:
    """Play the tone and say what level the device gets. Returns the exit status."""
    verdict = Verdict()
    if playback.volume == 0:
        verdict.problems.append("audio.volume is 0 %: nothing can be heard; raise it")
        print("\n".join(verdict.lines()), flush=True)
        return EXIT_CHECK_FAILED
    peak, rms = expected_tone_level(playback.volume)
    try:
        await play(playback, tone(seconds), SPEAKER_RATE, "a tone")
    except AudioDeviceError as exc:
        return _fail(exc)
    print(
        f"Tone:       {TONE_HZ:g} Hz for {seconds:g} s, sent at peak {TONE_PEAK_DBFS:.1f} dBFS "
        f"({SPEAKER_RATE} Hz, as the Live API sends); at volume {playback.volume} % the device "
        f"got peak {peak:.1f} dBFS, RMS {rms:.1f} dBFS",
        flush=True,
    )
    verdict.advice.append(
        "you should have heard a steady beep; if not, check the speaker, its cable, "
        "audio.output_device and the playback level in alsamixer"
    )
    print("\n".join(verdict.lines()), flush=True)
    return 0
