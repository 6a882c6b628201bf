"""`RtAudio`: one user's handle on the real-time devices: clips, players, background noise,
recorders and an echo path, every one of them stopped by `close()`.

    server = PulseServer(tmp / "pulse"); server.start()
    rt = RtAudio(server, tmp / "audio")
    try:
        speaker = rt.record_speaker()                  # what the speaker plays -> speaker.wav
        playing = rt.speak("What time is it?")         # espeak-ng into the microphone, now
        await playing.finished()
    finally:
        rt.close(); server.stop()

A process that opens the devices needs `rt.alsa_env` (ALSA_CONFIG_PATH); `pcm.mic` is the
microphone, `pcm.spk` the speaker, `default` both.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgevoice.rig.clips import Clip, Playing, padded, speak_to_wav
from edgevoice.rig.host import RigError
from edgevoice.rig.processes import spawn, stop_process
from edgevoice.rig.pulse import MIC_SINK, SINK_CHANNELS, SINK_RATE, SPK_SINK, PulseServer
from edgevoice.rig.recorder import SpeakerRecorder
from edgevoice.rig.signals import (
    Resample,
    Samples,
    product_resample,
    read_wav_mono,
    to_pcm,
    trim_silence,
    write_wav,
)


class NoiseFloor:
    """A quiet noise played into the microphone until stopped: pacat fed from a thread.

    One continuous stream (a fresh stream after an idle period loses its first writes); the
    pipe blocks when pulse's buffer is full, so the writer keeps real-time pace by itself.
    """

    def __init__(self, server: PulseServer, dbfs: float, seed: int = 9) -> None:
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal(SINK_RATE * 2)
        noise *= 10 ** (dbfs / 20) / np.sqrt(np.mean(noise**2))  # RMS at `dbfs`
        self.dbfs = dbfs
        self._block = to_pcm(np.repeat(noise[:, None], SINK_CHANNELS, axis=1))
        self.process = spawn(
            [
                "pacat", "-p", "-d", MIC_SINK, "--raw", "--format=s16le",
                f"--rate={SINK_RATE}", f"--channels={SINK_CHANNELS}", "--latency-msec=50",
            ],
            env=server.env,
            stdin=subprocess.PIPE,
        )  # fmt: skip
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, daemon=True, name="rig-noise")
        self._thread.start()

    def _feed(self) -> None:
        assert self.process.stdin is not None
        try:
            while not self._stop.is_set():
                self.process.stdin.write(self._block)
                self.process.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def stop(self) -> None:
        self._stop.set()
        stop_process(self.process)
        with contextlib.suppress(OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        self._thread.join(5)


@dataclass
class EchoPath:
    """The speaker leaking into the microphone: a loopback module, delayed and attenuated."""

    server: PulseServer
    module: int
    sink_input: int
    latency_ms: int
    gain_db: float

    def remove(self) -> None:
        with contextlib.suppress(RigError):
            self.server.pactl("unload-module", str(self.module))


def _sink_input_of(server: PulseServer, module: int) -> int:
    current: int | None = None
    for line in server.pactl("list", "sink-inputs").splitlines():
        if m := re.match(r"Sink Input #(\d+)", line.strip()):
            current = int(m.group(1))
        elif (m := re.match(r"Owner Module: (\d+)", line.strip())) and int(m.group(1)) == module:
            if current is not None:
                return current
    raise RigError(f"no sink input owned by module {module}")


ClipKey = tuple[str, float, int, int, str, int]


@dataclass
class RtAudio:
    """A use of the server: clips, players, recorders, echo paths; all stopped by close().

    `resample` makes clips at the sinks' rate and their references (tests inject an
    independent resampler; the default is edgevoice's own). Files go to `directory`.
    """

    server: PulseServer
    directory: Path
    resample: Resample = product_resample
    _players: list[Playing] = field(default_factory=list)
    _others: list[NoiseFloor | SpeakerRecorder | EchoPath] = field(default_factory=list)
    _clips: dict[ClipKey, Clip] = field(default_factory=dict)
    _clip_count: int = 0

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    @property
    def alsa_config(self) -> Path:
        return self.server.alsa_config

    @property
    def alsa_env(self) -> dict[str, str]:
        return self.server.alsa_env

    # --- clips --------------------------------------------------------------------------------
    def utterance(
        self,
        text_or_wav: str | Path,
        *,
        peak_dbfs: float = -6.0,
        lead_ms: int = 300,
        tail_ms: int = 500,
        voice: str = "en",
        words_per_minute: int = 160,
    ) -> Clip:
        """Speech (espeak-ng) or a WAV file's sound, scaled to `peak_dbfs`, padded with silence.

        The silence on both sides is part of the played file: a stream's first milliseconds
        and the server's last ones are then silence, never the speech (docs/environment.md).
        Made once per argument set and cached. Raises RigError when espeak-ng fails.
        """
        key = (str(text_or_wav), peak_dbfs, lead_ms, tail_ms, voice, words_per_minute)
        if key in self._clips:
            return self._clips[key]
        if isinstance(text_or_wav, Path):
            sound, rate = read_wav_mono(text_or_wav)
            text = ""
        else:
            text = text_or_wav
            raw = self.directory / f"espeak-{len(self._clips)}.wav"
            speak_to_wav(text, raw, voice=voice, words_per_minute=words_per_minute)
            sound, rate = read_wav_mono(raw)
            sound = trim_silence(sound)
        sound = self.resample(sound, rate, SINK_RATE)
        peak = float(np.max(np.abs(sound), initial=0.0)) or 1.0
        sound = sound * (10 ** (peak_dbfs / 20) / peak)
        clip = self.clip(sound, lead_ms=lead_ms, tail_ms=tail_ms, text=text)
        self._clips[key] = clip
        return clip

    def clip(
        self, sound: Samples, *, lead_ms: int = 300, tail_ms: int = 500, text: str = ""
    ) -> Clip:
        """A Clip of `sound` (mono floats at SINK_RATE) with silence around it."""
        samples = padded(sound, lead_ms, tail_ms)
        path = self.directory / f"clip-{self._clip_count}.wav"
        self._clip_count += 1
        write_wav(path, to_pcm(np.repeat(samples[:, None], SINK_CHANNELS, axis=1)), SINK_RATE, 2)
        return Clip(
            path,
            samples,
            lead_ms / 1000,
            len(sound) / SINK_RATE,
            tail_ms / 1000,
            text,
            self.resample,
        )

    def play(self, clip: Clip) -> Playing:
        """Start playing `clip` into the microphone (paplay, real-time pace); returns at once."""
        process = spawn(
            ["paplay", "-d", MIC_SINK, "--latency-msec=20", str(clip.path)],
            env=self.server.env,
            stderr=subprocess.PIPE,
        )
        playing = Playing(clip, process, time.monotonic())
        self._players.append(playing)
        return playing

    def speak(
        self, text_or_wav: str | Path | Clip, **utterance_options: float | int | str
    ) -> Playing:
        """`play(utterance(text_or_wav, ...))`: say it into the microphone; returns at once."""
        clip = (
            text_or_wav
            if isinstance(text_or_wav, Clip)
            else self.utterance(text_or_wav, **utterance_options)  # type: ignore[arg-type]
        )
        return self.play(clip)

    # --- background sound ---------------------------------------------------------------------
    def noise_floor(self, dbfs: float = -60.0) -> NoiseFloor:
        """Keep a quiet white noise (RMS `dbfs`) playing into the microphone until close()."""
        noise = NoiseFloor(self.server, dbfs)
        self._others.append(noise)
        return noise

    def record_speaker(self, name: str = "speaker", path: Path | None = None) -> SpeakerRecorder:
        """Start recording what reaches the speaker; the WAV goes to `path` (default: the
        directory's `<name>.wav`) when the recorder stops."""
        recorder = SpeakerRecorder(self.server, path or self.directory / f"{name}.wav")
        self._others.append(recorder)
        return recorder

    def record_mic(self, name: str = "microphone") -> SpeakerRecorder:
        """Record what is played into the microphone (`micsink.monitor`), timestamped like the
        speaker: when a clip really started, what was being said at a given wall time."""
        recorder = SpeakerRecorder(
            self.server, self.directory / f"{name}.wav", f"{MIC_SINK}.monitor"
        )
        self._others.append(recorder)
        return recorder

    def echo_path(self, latency_ms: int = 60, gain_db: float = -6.0) -> EchoPath:
        """Route the speaker back into the microphone, `latency_ms` later (plus ~40 ms of
        buffering) and `gain_db` quieter: a speaker next to the microphone. Removed by close()."""
        module = int(
            self.server.pactl(
                "load-module", "module-loopback", f"source={SPK_SINK}.monitor",
                f"sink={MIC_SINK}", f"latency_msec={latency_ms}", "adjust_time=0",
            ).strip()
        )  # fmt: skip
        echo = EchoPath(
            self.server, module, _sink_input_of(self.server, module), latency_ms, gain_db
        )
        self._others.append(echo)
        self.server.pactl("set-sink-input-volume", str(echo.sink_input), f"{gain_db:g}dB")
        return echo

    def close(self) -> None:
        """Stop every player, recorder (writing its WAV), noise and echo path started here."""
        for playing in self._players:
            playing.stop()
        for other in reversed(self._others):
            if isinstance(other, EchoPath):
                other.remove()
            elif other.process.poll() is None:
                other.stop()
        self._players.clear()
        self._others.clear()
