"""A private PulseAudio server with two null sinks: devices that run at a sound card's pace.

File-backed ALSA PCMs run as fast as they are read; a daemon reading one is flooded. This
server's null sinks are paced by its clock, and ALSA's `pulse` plugin puts them behind plain
ALSA device names, so the code under test opens them through pyaudio like any sound card
(docs/environment.md, "Real-time paced devices"):

- `pcm.mic` reads `micsink.monitor`: whatever is played into `micsink` is what the microphone
  hears (zeros when nothing plays);
- `pcm.spk` plays into `spksink`; its monitor is what the speaker played;
- `pcm.!default` is the two as one asym device.

`PulseServer(directory).start()` writes the server's script and the ALSA config
(`alsa_config`, for ALSA_CONFIG_PATH) into `directory` and returns once both sinks deliver
audio; `stop()` ends it. The server never exits when idle and uses no shared memory, so it
works as root and in containers; its log is `pulseaudio.log` in the directory.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

from edgevoice.rig.host import RigError, require_tools
from edgevoice.rig.processes import spawn, stop_process

SINK_RATE = 48000  # the null sinks' format; clips are made in it, so nothing is resampled
SINK_CHANNELS = 2
MIC_SINK = "micsink"
SPK_SINK = "spksink"
START_TIMEOUT_S = 10.0
POLL_S = 0.02  # between two "is it up yet?" questions while the server starts


class PulseServer:
    """A private pulseaudio server in `directory`, with the two null sinks and an ALSA config.

    `env` is what a client process needs to reach it (paplay, parecord, pactl); `alsa_env` what
    a process opening the ALSA devices needs.
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

    @property
    def alsa_env(self) -> dict[str, str]:
        return {"ALSA_CONFIG_PATH": str(self.alsa_config)}

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start the server; return once both sinks exist and deliver audio.

        Raises ToolsMissing when pulseaudio or its tools are not installed, RigError (with the
        server's last log lines) when it exits or does not answer within `timeout_s`; nothing
        is left running then. Call from the main thread (see processes.spawn).
        """
        require_tools()
        self.directory.mkdir(parents=True, exist_ok=True)
        script = self.directory / "rt.pa"
        script.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            # norewinds=1: without it the first 3-10 ms of each stream into a sink are lost.
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
            self.process = spawn(
                [
                    "pulseaudio", "-n", "-F", str(script), "--daemonize=no",
                    "--exit-idle-time=-1", "--use-pid-file=no", "--disable-shm=yes",
                    "--realtime=no", "--high-priority=no", "--log-target=stderr",
                ],
                env=self.env,
                stdout=log,
                stderr=log,
            )  # fmt: skip
        try:
            self._wait_up(time.monotonic() + timeout_s, timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_up(self, deadline: float, timeout_s: float) -> None:
        assert self.process is not None
        while True:
            if self.process.poll() is not None:
                raise RigError(
                    f"pulseaudio exited with {self.process.returncode}: {self.log_tail()}"
                )
            if self._answers():
                self._wait_flowing(deadline)
                return
            if time.monotonic() > deadline:
                raise RigError(f"pulseaudio did not answer in {timeout_s:g} s: {self.log_tail()}")
            time.sleep(POLL_S)

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        done = subprocess.run(
            ["pactl", "list", "short", "sinks"], env=self.env, capture_output=True, timeout=10
        )
        names = {line.split("\t")[1] for line in done.stdout.decode().splitlines() if "\t" in line}
        return done.returncode == 0 and {MIC_SINK, SPK_SINK} <= names

    def _wait_flowing(self, deadline: float) -> None:
        """Read a little from each monitor, so the first streams do not meet a server that is
        still starting its sinks (a cold first stream can stall 0.5-2 s)."""
        for sink in (MIC_SINK, SPK_SINK):
            reader = spawn(
                ["parecord", "-d", f"{sink}.monitor", "--raw", "--format=s16le",
                 f"--rate={SINK_RATE}", "--channels=1", "--latency-msec=20"],
                env=self.env,
                stdout=subprocess.PIPE,
            )  # fmt: skip
            try:
                assert reader.stdout is not None
                os.set_blocking(reader.stdout.fileno(), False)
                got = 0
                while got < SINK_RATE // 10 * 2:  # 100 ms
                    if time.monotonic() > deadline:
                        raise RigError(f"{sink}.monitor delivers no audio: {self.log_tail()}")
                    try:
                        chunk = os.read(reader.stdout.fileno(), 65536)
                    except BlockingIOError:
                        time.sleep(POLL_S)
                        continue
                    if not chunk:
                        raise RigError(f"cannot record {sink}.monitor: {self.log_tail()}")
                    got += len(chunk)
            finally:
                stop_process(reader)
                if reader.stdout is not None:
                    reader.stdout.close()

    def pactl(self, *args: str) -> str:
        """Run pactl against this server; its stdout. Raises RigError naming the failure."""
        done = subprocess.run(["pactl", *args], env=self.env, capture_output=True, timeout=10)
        if done.returncode != 0:
            raise RigError(f"pactl {' '.join(args)}: {done.stderr.decode().strip()}")
        return done.stdout.decode()

    def log_tail(self, lines: int = 20) -> str:
        """The server's last log lines, as one line."""
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """End the server (SIGTERM, then SIGKILL); a no-op when it is not running."""
        if self.process is not None:
            with contextlib.suppress(OSError):
                stop_process(self.process)
            self.process = None
