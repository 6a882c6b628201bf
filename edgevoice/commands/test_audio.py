"""`edgevoice test-audio`: record from the configured microphone, report its level, play it back.

The recording goes through the daemon's own capture path (device rate -> downmix -> gain ->
16 kHz), so what is reported is what the Live API would hear. Exit status: 0 when recording
(and playback) worked, 1 when a device failed (the message says which and why), 2 for a bad
option.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from typing import Any

from edgevoice.adapters.capture import FRAME_SAMPLES, PyAudioCapture
from edgevoice.adapters.playback import PyAudioPlayback
from edgevoice.adapters.wavfile import write_wav
from edgevoice.audio import dsp
from edgevoice.commands._common import with_config
from edgevoice.config import Config
from edgevoice.errors import AudioDeviceError
from edgevoice.ports import FRAME_MS, MIC_RATE

NAME = "test-audio"
MAX_SECONDS = 60.0

# Thresholds for the advice printed under the figures.
QUIET_PEAK_DBFS = -40.0  # speech close to a working microphone peaks well above this
DC_WARNING = 0.05  # a mean of 5 % of full scale points at a faulty or badly biased input


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"--seconds must be above 0 and at most {MAX_SECONDS:g}")
    return value


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="record from the microphone, report its level, and play it back",
        description=(
            "Record from audio.input_device through the same path the daemon uses (16 kHz "
            "mono), report the level (RMS and peak dBFS), clipping, DC offset and the device "
            "rate actually used, then play the recording on audio.output_device. Speak "
            "normally while it records."
        ),
    )
    parser.add_argument(
        "--seconds",
        type=_seconds,
        default=3.0,
        metavar="S",
        help="how long to record (default 3, at most 60)",
    )
    parser.add_argument("--wav", metavar="FILE", help="also write the recording to a WAV file")
    parser.add_argument("--no-play", action="store_true", help="do not play the recording back")
    parser.set_defaults(func=with_config(run_test_audio))


@dataclass(frozen=True)
class Recording:
    """What was recorded: 16 kHz mono int16 PCM plus what the device did."""

    pcm: bytes
    device: str
    rate: int  # the device rate actually used
    channels: int
    raw_peak: int  # largest raw device sample (int16 magnitude)
    raw_clipped: int  # raw samples at full scale
    dropped_ms: int  # audio lost because the reader fell behind
    digital_silence: bool


def run_test_audio(args: argparse.Namespace, config: Config) -> int:
    audio = config.audio
    capture = PyAudioCapture(
        device=audio.input_device,
        rate=audio.input_rate,
        channels=audio.input_channels,
        downmix=audio.downmix,
        gain_db=audio.input_gain_db,
        period_ms=audio.period_ms,
        # Room for the whole recording: the point is to hear every sample, not to keep up.
        queue_frames=max(audio.capture_queue_frames, frames_for(args.seconds) + 500),
    )
    playback = None
    if not args.no_play:
        playback = PyAudioPlayback(
            device=audio.output_device,
            rate=audio.output_rate,
            channels=audio.output_channels,
            volume=audio.volume,
            prebuffer_ms=audio.playback_prebuffer_ms,
            period_ms=audio.period_ms,
        )
    return asyncio.run(test_audio(capture, playback, args.seconds, args.wav))


def frames_for(seconds: float) -> int:
    return max(1, round(seconds * 1000 / FRAME_MS))


async def test_audio(
    capture: PyAudioCapture,
    playback: PyAudioPlayback | None,
    seconds: float,
    wav_path: str | None,
) -> int:
    """Record, report, then write and/or play. Returns the exit status."""
    print(f"Recording {seconds:g} s from {capture.device_name!r}... speak now.", flush=True)
    try:
        recording = await record(capture, frames_for(seconds))
    except AudioDeviceError as exc:
        print(f"edgevoice: test-audio: {exc}", file=sys.stderr)
        return 1
    print(report(recording), flush=True)
    if wav_path:
        try:
            write_wav(wav_path, recording.pcm, MIC_RATE)
        except OSError as exc:
            print(f"edgevoice: test-audio: cannot write {wav_path}: {exc}", file=sys.stderr)
            return 1
        print(f"Wrote {wav_path} (16 kHz mono, 16-bit).")
    if playback is not None:
        try:
            await play(playback, recording.pcm)
        except AudioDeviceError as exc:
            print(f"edgevoice: test-audio: {exc}", file=sys.stderr)
            return 1
    return 0


async def record(capture: PyAudioCapture, frames: int) -> Recording:
    """Collect `frames` 20 ms frames from a started-here capture, then close it."""
    chunks: list[bytes] = []
    await capture.start()
    try:
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
        raw_peak=stats.raw_peak,
        raw_clipped=stats.raw_clipped_samples,
        dropped_ms=stats.dropped_frames * FRAME_MS + stats.dropped_device_frames * 1000 // rate,
        digital_silence=stats.digital_silence,
    )


async def play(playback: PyAudioPlayback, pcm: bytes) -> None:
    await playback.start()
    try:
        print(
            f"Playing back on {playback.device_name!r} at {playback.rate} Hz "
            f"(volume {playback.volume} %)...",
            flush=True,
        )
        playback.play(pcm, MIC_RATE)
        await playback.drain()
        # Closing aborts what the device still holds: let the last period be heard first.
        await asyncio.sleep(playback.output_latency + playback.period_ms / 1000)
    finally:
        await playback.close()


def report(rec: Recording) -> str:
    """The figures and advice for one recording, as printed lines."""
    samples = dsp.int16_to_float32(rec.pcm)
    level = dsp.measure_level(samples)
    lines = [
        f"Device:     {rec.device!r} at {rec.rate} Hz, {rec.channels} channel(s)"
        f" -> {MIC_RATE} Hz mono",
        f"Duration:   {len(samples) / MIC_RATE:.2f} s ({len(samples) // FRAME_SAMPLES} frames)",
        f"Level:      RMS {level.rms_dbfs:.1f} dBFS, peak {level.peak_dbfs:.1f} dBFS",
        f"Clipping:   {rec.raw_clipped} device sample(s) at full scale",
        f"DC offset:  {level.dc_offset:+.4f} (fraction of full scale)",
    ]
    advice = []
    if rec.raw_peak == 0:
        advice.append("only zeros came in: the microphone is muted or broken (check alsamixer)")
    elif level.peak_dbfs < QUIET_PEAK_DBFS:
        advice.append(
            "very quiet: speak closer, raise the capture level in alsamixer, "
            "or raise audio.input_gain_db"
        )
    if rec.raw_clipped:
        advice.append("clipping: lower the capture level in alsamixer")
    if abs(level.dc_offset) > DC_WARNING:
        advice.append("large DC offset: the microphone or its preamp may be faulty")
    if rec.dropped_ms:
        advice.append(f"{rec.dropped_ms} ms of audio dropped: this machine could not keep up")
    lines += [f"Advice:     {a}" for a in advice] or ["Advice:     levels look usable"]
    return "\n".join(lines)
