"""Real-time audio devices for tests: a private PulseAudio server behind ALSA's `pulse` plugin.

File-backed ALSA PCMs run as fast as they are read; a daemon reading one is flooded. This kit
gives devices that run at a sound card's pace (docs/environment.md, "Real-time paced devices"),
while the code under test still opens plain ALSA devices through pyaudio:

- `PulseServer`: a pulseaudio process of its own in a temp dir (null sinks `micsink` and
  `spksink` with `norewinds=1`, keep-alive loopbacks, no shm, never exits when idle), and an
  ALSA config (`alsa_config`) with `pcm.mic` (reads `micsink.monitor`), `pcm.spk` (plays into
  `spksink`) and `pcm.!default` = asym of the two. Stopped by its PID.
- `RtAudio`: one test's handle on the server. Everything it starts (players, the noise floor,
  speaker recorders, echo paths) is stopped by `close()`, which the fixture calls even when
  the test fails:
    `utterance(text_or_wav)` -> a `Clip` (espeak-ng speech, or a WAV file, at the sink's
    format, padded with silence); `play(clip)` / `speak(text_or_wav)` -> a `Playing`
    (paplay into the microphone at real-time pace); `noise_floor(dbfs)`; `record_speaker()`
    -> a `SpeakerRecorder` (parecord of `spksink.monitor`, every chunk stamped with the
    wall time it arrived, so a position maps to a time); `echo_path(latency_ms, gain_db)`
    (the speaker leaks into the microphone, delayed and quieter).
- analysis helpers: `dbfs`, `envelope_db`, `onset`, `resample`, `align` (cross-correlation).

Fixtures (in this module; tests/conftest.py re-exports them for every test directory):
`pulse_server` (one server per test session, started on first use) and `rt_audio` (a fresh
`RtAudio` per test, with ALSA_CONFIG_PATH pointing at the server for in-process pyaudio).
When pulseaudio, the pulse ALSA plugin or espeak-ng is missing, tests that use them are
skipped with a reason naming the fix (`make deps`); with EDGEVOICE_E2E_REQUIRED=1 in the
environment (CI) a missing tool fails instead, so the suite never passes without them.

Everything here is synchronous and cheap to call (processes are started, not waited for); the
waits have async forms, so a test running the simulator on its event loop never blocks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

Samples = npt.NDArray[np.float64]

SINK_RATE = 48000  # the null sinks' format; clips are made in it, so nothing is resampled
SINK_CHANNELS = 2
MIC_SINK = "micsink"
SPK_SINK = "spksink"
TOOLS = ("pulseaudio", "pactl", "paplay", "parecord", "pacat", "espeak-ng")
REQUIRED_ENV = "EDGEVOICE_E2E_REQUIRED"
INSTALL_HINT = (
    "run `make deps` (apt-get install pulseaudio pulseaudio-utils libasound2-plugins espeak-ng)"
)
START_TIMEOUT_S = 10.0


# --------------------------------------------------------------------------------------------
# What is installed


def pulse_alsa_plugin() -> str | None:
    """The path of ALSA's pulse PCM plugin (libasound2-plugins), or None."""
    patterns = (
        "/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so",
        "/usr/lib/alsa-lib/libasound_module_pcm_pulse.so",
        "/usr/lib64/alsa-lib/libasound_module_pcm_pulse.so",
    )
    for pattern in patterns:
        found = glob.glob(pattern)
        if found:
            return found[0]
    return None


def missing_tools() -> list[str]:
    """What the harness needs and cannot find (programs, the ALSA plugin)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if pulse_alsa_plugin() is None:
        missing.append("ALSA pulse plugin (libasound2-plugins)")
    return missing


def require_tools() -> None:
    """Skip the calling test (or fail it under EDGEVOICE_E2E_REQUIRED=1) when tools are missing."""
    missing = missing_tools()
    if not missing:
        return
    reason = f"real-time audio harness needs {', '.join(missing)}: {INSTALL_HINT}"
    if os.environ.get(REQUIRED_ENV):
        pytest.fail(f"{reason} ({REQUIRED_ENV} is set)")
    pytest.skip(reason)


# --------------------------------------------------------------------------------------------
# The server


class PulseServer:
    """A private pulseaudio server in `directory`, with the two null sinks and an ALSA config.

    `start()` returns once the server answers `pactl info` and both sinks exist; `stop()` ends
    it by its PID (SIGTERM, then SIGKILL). `env` is what a client process needs to reach it
    (paplay, parecord, pactl); `alsa_config` is the file for ALSA_CONFIG_PATH.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "native"
        self.server = f"unix:{self.socket}"
        self.alsa_config = directory / "asound.conf"
        self.log_path = directory / "pulseaudio.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment for pulse client tools: this server, no autospawn, a private HOME."""
        env = dict(os.environ)
        env.update(
            PULSE_SERVER=self.server,
            PULSE_RUNTIME_PATH=str(self.directory),
            PULSE_STATE_PATH=str(self.directory),
            HOME=str(self.directory),
        )
        return env

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        d = self.directory
        script = d / "rt.pa"
        script.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            f"load-module module-null-sink sink_name={MIC_SINK} rate={SINK_RATE} "
            f"channels={SINK_CHANNELS} norewinds=1\n"
            f"load-module module-null-sink sink_name={SPK_SINK} rate={SINK_RATE} "
            f"channels={SINK_CHANNELS} norewinds=1\n"
            # Without these loopbacks a new stream's first read or write stalls 0.5-2 s
            # (docs/environment.md, gotchas).
            "load-module module-null-sink sink_name=keepalive\n"
            f"load-module module-loopback source={MIC_SINK}.monitor sink=keepalive "
            "latency_msec=30\n"
            f"load-module module-loopback source={SPK_SINK}.monitor sink=keepalive "
            "latency_msec=30\n"
        )
        self.alsa_config.write_text(
            f'pcm.mic {{ type pulse server "{self.server}" device "{MIC_SINK}.monitor" }}\n'
            f'pcm.spk {{ type pulse server "{self.server}" device "{SPK_SINK}" }}\n'
            'pcm.!default { type asym capture.pcm "mic" playback.pcm "spk" }\n'
        )
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    "pulseaudio", "-n", "-F", str(script), "--daemonize=no",
                    "--exit-idle-time=-1", "--use-pid-file=no", "--disable-shm=yes",
                    "--realtime=no", "--high-priority=no", "--log-target=stderr",
                ],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"pulseaudio exited with {self.process.returncode}: {self.log_tail()}"
                )
            if self._answers():
                self._wait_flowing(deadline)
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"pulseaudio did not answer in {timeout_s:g} s: {self.log_tail()}"
                )
            time.sleep(0.02)

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        done = subprocess.run(
            ["pactl", "list", "short", "sinks"], env=self.env, capture_output=True, timeout=10
        )
        names = {line.split("\t")[1] for line in done.stdout.decode().splitlines() if "\t" in line}
        return done.returncode == 0 and {MIC_SINK, SPK_SINK} <= names

    def _wait_flowing(self, deadline: float) -> None:
        """Read a little from each monitor, so the first test's streams do not meet a server
        that is still starting its sinks (a cold first stream can stall 0.5-2 s)."""
        for sink in (MIC_SINK, SPK_SINK):
            reader = subprocess.Popen(
                ["parecord", "-d", f"{sink}.monitor", "--raw", "--format=s16le",
                 f"--rate={SINK_RATE}", "--channels=1", "--latency-msec=20"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                assert reader.stdout is not None
                os.set_blocking(reader.stdout.fileno(), False)
                got = 0
                while got < SINK_RATE // 10 * 2 and time.monotonic() < deadline:  # 100 ms
                    try:
                        chunk = os.read(reader.stdout.fileno(), 65536)
                    except BlockingIOError:
                        time.sleep(0.01)
                        continue
                    if not chunk:
                        raise RuntimeError(f"cannot record {sink}.monitor: {self.log_tail()}")
                    got += len(chunk)
            finally:
                stop_process(reader)

    def pactl(self, *args: str) -> str:
        """Run pactl against this server; its stdout. Raises RuntimeError naming the failure."""
        done = subprocess.run(["pactl", *args], env=self.env, capture_output=True, timeout=10)
        if done.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)}: {done.stderr.decode().strip()}")
        return done.stdout.decode()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 5.0) -> None:
    """SIGTERM by PID, then SIGKILL after `timeout_s`; always reaps it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------------------------
# Clips into the microphone


@dataclass(frozen=True)
class Clip:
    """Audio ready to play into the microphone: a WAV at the sink's format (48 kHz stereo).

    `samples` is the mono content at SINK_RATE with its padding: `lead_s` of silence, the
    sound (`sound_s`), `tail_s` of silence. `reference(rate)` is the sound alone (no padding)
    resampled to `rate` (16000: what the daemon should send).
    """

    path: Path
    samples: Samples
    lead_s: float
    sound_s: float
    tail_s: float
    text: str = ""

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SINK_RATE

    def sound(self) -> Samples:
        start = round(self.lead_s * SINK_RATE)
        return self.samples[start : start + round(self.sound_s * SINK_RATE)]

    def reference(self, rate: int = 16000) -> Samples:
        return resample(self.sound(), SINK_RATE, rate)

    def at(self, rate: int) -> Samples:
        """The whole clip, padding included, resampled to `rate`."""
        return resample(self.samples, SINK_RATE, rate)


@dataclass
class Playing:
    """A clip being played into the microphone by a paplay process."""

    clip: Clip
    process: subprocess.Popen[bytes]
    started: float  # time.monotonic() right after the process started

    @property
    def sound_starts(self) -> float:
        """Wall time (monotonic) the sound itself starts, about (paplay adds a few ms)."""
        return self.started + self.clip.lead_s

    @property
    def sound_ends(self) -> float:
        return self.sound_starts + self.clip.sound_s

    def done(self) -> bool:
        return self.process.poll() is not None

    def wait(self, timeout_s: float | None = None) -> None:
        """Block until played (a hang guard: `timeout_s` defaults to the clip's length + 10 s)."""
        self.process.wait(timeout_s or self.clip.duration_s + 10)
        self._check()

    async def finished(self, timeout_s: float | None = None) -> None:
        """Wait on the event loop until played."""
        deadline = time.monotonic() + (timeout_s or self.clip.duration_s + 10)
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"paplay still playing {self.clip.duration_s:.1f} s clip")
            await asyncio.sleep(0.02)
        self._check()

    def _check(self) -> None:
        if self.process.returncode not in (0, -signal.SIGTERM):
            err = self.process.stderr.read().decode() if self.process.stderr else ""
            raise RuntimeError(f"paplay failed ({self.process.returncode}): {err.strip()}")

    def stop(self) -> None:
        stop_process(self.process)


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
        self.process = subprocess.Popen(
            [
                "pacat", "-p", "-d", MIC_SINK, "--raw", "--format=s16le",
                f"--rate={SINK_RATE}", f"--channels={SINK_CHANNELS}", "--latency-msec=50",
            ],
            env=server.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, daemon=True)
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


# --------------------------------------------------------------------------------------------
# The speaker, recorded


@dataclass
class SpeakerRecording:
    """What reached the speaker: mono samples at SINK_RATE, and when each chunk arrived."""

    samples: Samples
    stamps: list[tuple[int, float]]  # (samples received so far, time.monotonic() on arrival)
    rate: int = SINK_RATE

    def time_at(self, index: int) -> float:
        """Wall time (monotonic) a sample was played, from the chunk arrival times.

        A sample arrives at most one recorder latency (20 ms) after it was played, so this is
        good to a few tens of ms; the recording itself is continuous (silence included).
        """
        counts = np.array([c for c, _ in self.stamps], dtype=np.float64)
        times = np.array([t for _, t in self.stamps], dtype=np.float64)
        if len(counts) < 2:
            raise ValueError("recording too short to map positions to times")
        # Fit count -> time with rate fixed: the offset is the smallest arrival - count / rate
        # (the chunk that was read with the least delay).
        offset = float(np.min(times - counts / self.rate))
        return offset + index / self.rate

    def index_at(self, when: float) -> int:
        """The sample position played at wall time `when` (see time_at)."""
        return round((when - self.time_at(0)) * self.rate)

    def between(self, start: float, end: float) -> Samples:
        """The samples played between two wall times."""
        a, b = max(0, self.index_at(start)), max(0, self.index_at(end))
        return self.samples[a:b]


class SpeakerRecorder:
    """Records a sink's monitor continuously (parecord, raw mono 48 kHz) from a thread.

    By default the speaker (`spksink.monitor`); `RtAudio.record_mic()` records what is played
    into the microphone the same way. `snapshot()` gives what arrived so far; `stop()` ends the
    recording, writes `wav_path` (for a person to listen to after a failure) and returns the
    SpeakerRecording.
    """

    def __init__(self, server: PulseServer, wav_path: Path, source: str = f"{SPK_SINK}.monitor"):
        self.wav_path = wav_path
        self.process = subprocess.Popen(
            [
                "parecord", "-d", source, "--raw", "--format=s16le",
                f"--rate={SINK_RATE}", "--channels=1", "--latency-msec=20",
            ],
            env=server.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.started = time.monotonic()
        self._data = bytearray()
        self._stamps: list[tuple[int, float]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            now = time.monotonic()
            with self._lock:
                self._data += chunk
                self._stamps.append((len(self._data) // 2, now))

    def snapshot(self) -> SpeakerRecording:
        with self._lock:
            data = bytes(self._data[: len(self._data) // 2 * 2])
            stamps = list(self._stamps)
        return SpeakerRecording(from_pcm(data), stamps)

    async def wait_samples(self, seconds: float, timeout_s: float = 10.0) -> None:
        """Wait on the event loop until `seconds` of audio have been recorded."""
        deadline = time.monotonic() + timeout_s
        while len(self._data) < seconds * SINK_RATE * 2:
            if time.monotonic() > deadline:
                raise TimeoutError(f"recorder got under {seconds:g} s in {timeout_s:g} s")
            await asyncio.sleep(0.02)

    async def wait_level(
        self,
        *,
        loud: bool,
        after: float,
        threshold_dbfs: float = -50.0,
        hold_s: float = 0.02,
        timeout_s: float = 20.0,
    ) -> float:
        """Wait until the level has been above (`loud`) or below `threshold_dbfs` for `hold_s`
        (in 10 ms windows), in audio played after wall time `after`. Returns the wall time
        (monotonic) that stretch began."""
        deadline = time.monotonic() + timeout_s
        window = SINK_RATE // 100
        need = max(1, round(hold_s * 100))
        while True:
            recording = self.snapshot()
            if len(recording.stamps) >= 2:
                start = max(0, recording.index_at(after))
                env = envelope_db(recording.samples[start:], SINK_RATE, 10.0)
                hits = env > threshold_dbfs if loud else env <= threshold_dbfs
                run = 0
                for i, hit in enumerate(hits):
                    run = run + 1 if hit else 0
                    if run >= need:
                        return recording.time_at(start + (i - need + 1) * window)
            if time.monotonic() > deadline:
                what = "sound" if loud else "quiet"
                raise TimeoutError(f"no {what} ({threshold_dbfs:g} dBFS) for {hold_s:g} s")
            await asyncio.sleep(0.05)

    def stop(self) -> SpeakerRecording:
        stop_process(self.process)
        self._thread.join(5)
        recording = self.snapshot()
        write_wav(self.wav_path, to_pcm(recording.samples), SINK_RATE, 1)
        return recording


# --------------------------------------------------------------------------------------------
# The echo path


@dataclass
class EchoPath:
    """The speaker leaking into the microphone: a loopback module, delayed and attenuated."""

    server: PulseServer
    module: int
    sink_input: int
    latency_ms: int
    gain_db: float

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.server.pactl("unload-module", str(self.module))


def _sink_input_of(server: PulseServer, module: int) -> int:
    current: int | None = None
    for line in server.pactl("list", "sink-inputs").splitlines():
        if m := re.match(r"Sink Input #(\d+)", line.strip()):
            current = int(m.group(1))
        elif (m := re.match(r"Owner Module: (\d+)", line.strip())) and int(m.group(1)) == module:
            assert current is not None
            return current
    raise RuntimeError(f"no sink input owned by module {module}")


# --------------------------------------------------------------------------------------------
# One test's handle


@dataclass
class RtAudio:
    """A test's use of the server: clips, players, recorders, echo paths; all stopped by close().

    `alsa_config` is the file to put in ALSA_CONFIG_PATH (the `rt_audio` fixture does that for
    the test's own process; pass `alsa_env` to a child process). `pcm.mic` is the microphone,
    `pcm.spk` the speaker, `default` both.
    """

    server: PulseServer
    directory: Path
    _players: list[Playing] = field(default_factory=list)
    _others: list[NoiseFloor | SpeakerRecorder | EchoPath] = field(default_factory=list)
    _clips: dict[tuple[str, float, float, float, str, int], Clip] = field(default_factory=dict)

    @property
    def alsa_config(self) -> Path:
        return self.server.alsa_config

    @property
    def alsa_env(self) -> dict[str, str]:
        return {"ALSA_CONFIG_PATH": str(self.server.alsa_config)}

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
        Made once per argument set and cached for the test.
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
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(raw), text],
                check=True,
                capture_output=True,
                timeout=30,
            )
            sound, rate = read_wav_mono(raw)
            sound = trim_silence(sound)
        sound = resample(sound, rate, SINK_RATE)
        peak = float(np.max(np.abs(sound))) or 1.0
        sound = sound * (10 ** (peak_dbfs / 20) / peak)
        clip = self.clip(sound, lead_ms=lead_ms, tail_ms=tail_ms, text=text)
        self._clips[key] = clip
        return clip

    def clip(
        self, sound: Samples, *, lead_ms: int = 300, tail_ms: int = 500, text: str = ""
    ) -> Clip:
        """A Clip of `sound` (mono floats at SINK_RATE) with silence around it."""
        lead = np.zeros(round(lead_ms * SINK_RATE / 1000))
        tail = np.zeros(round(tail_ms * SINK_RATE / 1000))
        samples = np.concatenate([lead, sound, tail])
        path = self.directory / f"clip-{len(list(self.directory.glob('clip-*.wav')))}.wav"
        write_wav(path, to_pcm(np.repeat(samples[:, None], SINK_CHANNELS, axis=1)), SINK_RATE, 2)
        return Clip(path, samples, lead_ms / 1000, len(sound) / SINK_RATE, tail_ms / 1000, text)

    def play(self, clip: Clip) -> Playing:
        """Start playing `clip` into the microphone (paplay, real-time pace); returns at once."""
        process = subprocess.Popen(
            ["paplay", "-d", MIC_SINK, "--latency-msec=20", str(clip.path)],
            env=self.server.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
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

    def record_speaker(self, name: str = "speaker") -> SpeakerRecorder:
        """Start recording what reaches the speaker; the WAV lands in the test's directory."""
        recorder = SpeakerRecorder(self.server, self.directory / f"{name}.wav")
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
        for playing in self._players:
            playing.stop()
        for other in reversed(self._others):
            if isinstance(other, EchoPath):
                other.remove()
            elif other.process.poll() is None:
                other.stop()
        self._players.clear()
        self._others.clear()


# --------------------------------------------------------------------------------------------
# Fixtures (re-exported by tests/conftest.py)


@pytest.fixture(scope="session")
def pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    """One private PulseAudio server for the session, started when a test first needs it."""
    require_tools()
    server = PulseServer(tmp_path_factory.mktemp("pulse"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rt_audio(
    pulse_server: PulseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RtAudio]:
    """Real-time devices for one test; ALSA_CONFIG_PATH set for in-process pyaudio."""
    if pulse_server.process is None or pulse_server.process.poll() is not None:
        pytest.fail(f"the session's pulseaudio died: {pulse_server.log_tail()}")
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(pulse_server.alsa_config))
    directory = tmp_path / "rtaudio"
    directory.mkdir()
    rt = RtAudio(pulse_server, directory)
    try:
        yield rt
    finally:
        rt.close()


# --------------------------------------------------------------------------------------------
# Audio helpers


def to_pcm(x: Samples) -> bytes:
    """Floats in [-1, 1] (mono, or frames x channels) to interleaved int16 little-endian."""
    return np.clip(np.round(x * 32768), -32768, 32767).astype("<i2").tobytes()


def from_pcm(pcm: bytes, channels: int = 1) -> Samples:
    """int16 little-endian to floats; stereo is averaged to mono."""
    x = np.frombuffer(pcm, "<i2").astype(np.float64) / 32768
    return x.reshape(-1, channels).mean(axis=1) if channels > 1 else x


def write_wav(path: Path, pcm: bytes, rate: int, channels: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)


def read_wav_mono(path: Path) -> tuple[Samples, int]:
    """A 16-bit PCM WAV as mono floats (channels averaged) and its rate."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV files are supported")
        return from_pcm(w.readframes(w.getnframes()), w.getnchannels()), w.getframerate()


def resample(x: Samples, rate_in: int, rate_out: int) -> Samples:
    """High-quality resampling (soxr, a test-only dependency) for references and clips."""
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float64)
    import soxr

    return np.asarray(soxr.resample(x, rate_in, rate_out, quality="HQ"), dtype=np.float64)


def dbfs(x: Samples) -> float:
    """RMS level in dB relative to a full-scale square wave (-inf floor clipped at -150)."""
    if len(x) == 0:
        return -150.0
    return max(-150.0, 10 * np.log10(float(np.mean(np.square(x))) + 1e-15))


def peak_dbfs(x: Samples) -> float:
    return max(-150.0, 20 * np.log10(float(np.max(np.abs(x), initial=0.0)) + 1e-15))


def envelope_db(x: Samples, rate: int, window_ms: float = 20.0) -> Samples:
    """RMS level (dBFS) of consecutive windows."""
    n = max(1, round(rate * window_ms / 1000))
    usable = len(x) // n * n
    power = np.mean(np.square(x[:usable]).reshape(-1, n), axis=1)
    return np.asarray(10 * np.log10(power + 1e-15), dtype=np.float64)


def onset(
    x: Samples, rate: int, threshold_dbfs: float = -45.0, window_ms: float = 5.0
) -> int | None:
    """The sample index where the level first rises above `threshold_dbfs`, or None."""
    env = envelope_db(x, rate, window_ms)
    above = np.flatnonzero(env > threshold_dbfs)
    return None if len(above) == 0 else int(above[0]) * max(1, round(rate * window_ms / 1000))


def offset(
    x: Samples, rate: int, threshold_dbfs: float = -45.0, window_ms: float = 5.0
) -> int | None:
    """The sample index just after the level last falls below `threshold_dbfs`, or None."""
    env = envelope_db(x, rate, window_ms)
    above = np.flatnonzero(env > threshold_dbfs)
    n = max(1, round(rate * window_ms / 1000))
    return None if len(above) == 0 else (int(above[-1]) + 1) * n


def trim_silence(x: Samples, threshold: float = 1e-3) -> Samples:
    """Drop the leading and trailing near-silence espeak-ng puts around its speech."""
    loud = np.flatnonzero(np.abs(x) > threshold)
    return x if len(loud) == 0 else x[loud[0] : loud[-1] + 1]


@dataclass(frozen=True)
class Alignment:
    lag: int  # got[lag + i] lines up with ref[i]
    correlation: float  # normalised cross-correlation at that lag (1.0: identical shape)
    gain_db: float  # level of the aligned part of got relative to ref


def align(got: Samples, ref: Samples) -> Alignment:
    """Where `ref` sits inside `got` (FFT cross-correlation), and how alike and loud it is."""
    if len(got) < len(ref):
        got = np.concatenate([got, np.zeros(len(ref) - len(got))])
    n = 1 << int(np.ceil(np.log2(len(got) + len(ref))))
    spectrum = np.fft.rfft(got, n) * np.conj(np.fft.rfft(ref, n))
    corr = np.fft.irfft(spectrum, n)[: len(got) - len(ref) + 1]
    # Normalise by the energy of each window of `got` so a loud stretch does not win.
    energy = np.concatenate([[0.0], np.cumsum(np.square(got))])
    window = energy[len(ref) :] - energy[: len(got) - len(ref) + 1]
    ref_norm = float(np.sqrt(np.sum(np.square(ref)))) or 1.0
    score = corr / (np.sqrt(np.maximum(window, 1e-12)) * ref_norm)
    lag = int(np.argmax(score))
    segment = got[lag : lag + len(ref)]
    return Alignment(lag, float(score[lag]), dbfs(segment) - dbfs(ref))


@dataclass(frozen=True)
class Piece:
    start: int  # where the piece starts in `got`
    shift: int  # where it sits in `ref`, minus `start`: equal for every piece of an unbroken copy
    correlation: float


def lowpass(x: Samples, rate: int, cutoff_hz: float) -> Samples:
    """`x` with everything above `cutoff_hz` removed (FFT brick wall, whole signal)."""
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(len(x), 1 / rate) > cutoff_hz] = 0
    return np.asarray(np.fft.irfft(spectrum, len(x)), dtype=np.float64)


def pieces(
    got: Samples, ref: Samples, rate: int, piece_ms: float = 100.0, band_hz: float = 5000.0
) -> list[Piece]:
    """Where each `piece_ms` piece of `got` sits in `ref` (`align` piece by piece), for the
    pieces loud enough to place (within 30 dB of the loudest). An unbroken copy has one
    `shift` throughout; a dropped, repeated or reordered stretch changes it from there on.

    Both are compared below `band_hz`: the daemon's resampler and the reference's (soxr)
    differ near Nyquist, which alone takes a fricative's piece down to a correlation of 0.85.
    """
    got, ref = lowpass(got, rate, band_hz), lowpass(ref, rate, band_hz)
    n = round(rate * piece_ms / 1000)
    levels = [dbfs(got[i : i + n]) for i in range(0, len(got) - n + 1, n)]
    loudest = max(levels, default=-150.0)
    found = []
    for k, level in enumerate(levels):
        if level > max(loudest - 30.0, -60.0):
            a = align(ref, got[k * n : k * n + n])
            found.append(Piece(k * n, a.lag - k * n, a.correlation))
    return found


def breaks(found: list[Piece], tolerance: int = 8) -> list[Piece]:
    """The pieces whose shift differs from the first one's (by more than `tolerance` samples)
    or that match poorly: where an unbroken copy is broken."""
    if not found:
        return []
    first = found[0].shift
    return [p for p in found if abs(p.shift - first) > tolerance or p.correlation < 0.9]
