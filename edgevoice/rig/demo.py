"""`edgevoice demo`: the real daemon, spoken to, on devices the demo sets up itself.

On a machine with no sound card, no GPIO and no key, `run_demo(DemoOptions())`:

1. starts a private PulseAudio server (`pcm.mic`, `pcm.spk`: real-time paced devices) and the
   built-in Live simulator on loopback (a parrot: it answers with your own words, faster);
2. starts the real daemon, `edgevoice run`, as systemd would (a config in a temp dir, the key as
   a credential file, a NOTIFY_SOCKET the demo reads), and records its speaker;
3. talks to it with espeak-ng: a button turn through the control socket (`edgevoice ctl press`
   / `release`, what the GPIO button does), a voice-trigger turn (no button), and a barge-in
   (the button pressed while the device is still answering);
4. prints, as it happens, the daemon's state (STATUS=), what the simulator heard per turn, the
   reply going out and playing, and the daemon's per-turn latency line, each timing labelled
   with what it was measured against;
5. stops the daemon with SIGTERM, writes what the speaker played to a WAV file, checks that the
   replies are in it, says how to listen to it, and tears everything down.

With `endpoint` (wss://...) and a key it talks to that service instead; everything else is the
same (no simulator, so what was heard comes from the daemon's transcripts). `ci` is the test's
mode: no detail lines, and strict (warnings in the daemon's log, a reply missing from the WAV,
a simulator bug: exit 1).

The turns themselves are in `demo_talk`, the lines it prints in `demo_screen`.

Exit status: 0 when every turn was answered and played and the daemon stopped cleanly; 1 when
something did not happen (each problem one line); 69 when the tools are missing (the line says
`make deps`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from edgevoice.redact import Secret, printable
from edgevoice.rig.daemon import EARCONS_OFF, DaemonError, DaemonProcess, DaemonSetup
from edgevoice.rig.demo_screen import DaemonLines, Screen, SimWatcher
from edgevoice.rig.demo_talk import Talk
from edgevoice.rig.devices import RtAudio
from edgevoice.rig.host import RigError, ToolsMissing, require_tools
from edgevoice.rig.notify import Notification
from edgevoice.rig.pulse import SINK_RATE, PulseServer
from edgevoice.rig.recorder import SpeakerRecorder, SpeakerRecording
from edgevoice.rig.signals import align, product_resample, to_pcm, write_wav
from edgevoice.rig.wire import REPLY_RATE, audio_outside_turns, reply_audio, wire
from edgevoice.sim import SimOptions, Simulator, run_simulator

EX_OK = 0
EX_FAILED = 1
EX_UNAVAILABLE = 69  # sysexits.h: a tool the demo needs is not installed

BUTTON_QUESTION = "What is the weather like in Lisbon today?"
VOICE_QUESTION = "Tell me a short story about a lighthouse keeper and his old grey cat."
BARGE_IN = "Stop, stop. Tell me a joke instead."

# The demo's config on top of the rig's (endpoint, pcm.mic / pcm.spk, temp paths, debug log):
# the voice trigger on (button turns come through the control socket, as the GPIO button's
# would), earcons off so the speaker recording holds the answers alone.
DEMO_SETTINGS: dict[str, dict[str, Any]] = {
    "trigger": {"mode": "voice"},
    "earcons": dict(EARCONS_OFF),
}

READY_TIMEOUT_S = 30.0
READY_AFTER_SOCKET_S = 10.0  # hang guard: READY=1 once the control socket answers
DEMO_TIMEOUT_S = 150.0  # hang guard for the whole run (it takes about 30 s)
POLL_S = 0.05
NOISE_FLOOR_DBFS = -65.0  # the room's noise in the microphone
MATCH_CORRELATION = 0.9  # a reply found in the speaker recording
CUT_REPLY_S = 0.5  # of an interrupted reply, this much is compared


@dataclass(frozen=True)
class DemoOptions:
    """What `edgevoice demo` was asked for (see the module docstring)."""

    endpoint: str | None = None  # None: the built-in simulator on loopback
    key: Secret | None = None  # the real service's key (never printed)
    wav_path: Path = Path("demo-speaker.wav")
    replies_dir: Path | None = None  # write the simulator's replies here (reply-N.wav)
    ci: bool = False
    keep: bool = False  # keep the work dir (config, logs)
    overrides: tuple[str, ...] = ()  # `--set` for the daemon


@dataclass
class Outcome:
    problems: list[str] = field(default_factory=list)  # the demo failed
    strict: list[str] = field(default_factory=list)  # fails in CI mode only


class Demo:
    """One run of the demo (see the module docstring); `await Demo(options, out).run()`."""

    def __init__(self, options: DemoOptions, out: TextIO) -> None:
        self.options = options
        self.screen = Screen(out, ci=options.ci)
        self.outcome = Outcome()
        self.simulated = options.endpoint is None
        self.tag = (
            "[measured against the local simulator]"
            if self.simulated
            else f"[measured against {printable(options.endpoint or '', 80)}]"
        )
        self.workdir: Path | None = None
        self.server: PulseServer | None = None
        self.rt: RtAudio | None = None
        self.sim: Simulator | None = None
        self.watcher: SimWatcher | None = None
        self.daemon: DaemonProcess | None = None
        self.lines = DaemonLines(self.screen, self.tag, transcripts=not self.simulated)
        self.talk: Talk | None = None
        self._sim_key = ""
        self.speaker: SpeakerRecorder | None = None
        self.recording: SpeakerRecording | None = None
        self._last_status: str | None = None

    # ------------------------------------------------------------------------------------------
    # The run

    async def run(self) -> int:
        try:
            require_tools()
        except ToolsMissing as exc:
            print(f"edgevoice demo: {exc}", file=sys.stderr)
            return EX_UNAVAILABLE
        self.workdir = make_workdir()
        cancelled = False
        try:
            async with asyncio.timeout(DEMO_TIMEOUT_S):
                await self._run()
        except TimeoutError:
            self.outcome.problems.append(f"the demo did not finish in {DEMO_TIMEOUT_S:g} s")
        except DaemonError as exc:
            self.outcome.problems.append(printable(exc.summary, 300))
            self._show_log_tail()
        except (RigError, OSError) as exc:
            self.outcome.problems.append(printable(str(exc).splitlines()[0], 300))
        except asyncio.CancelledError:  # SIGINT / SIGTERM (commands/demo.py)
            cancelled = True
            raise
        finally:
            await self._tear_down()
            if cancelled and not self.options.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)
        return self._verdict()

    async def _run(self) -> None:
        self._header()
        assert self.workdir is not None
        self.server = PulseServer(self.workdir / "pulse")
        self.server.start()
        self.rt = RtAudio(self.server, self.workdir / "audio")
        self.screen.show(
            "setup",
            f"real-time audio devices: a private PulseAudio server, pcm.mic / pcm.spk "
            f"({self.server.directory})",
            detail=True,
        )
        clips = [self.rt.utterance(text) for text in (BUTTON_QUESTION, VOICE_QUESTION, BARGE_IN)]
        # A quiet room, not a dead microphone (the daemon warns about one delivering only zeros).
        self.rt.noise_floor(NOISE_FLOOR_DBFS)
        async with self._service() as endpoint:
            await self._start_daemon(endpoint)
            tasks = [asyncio.create_task(self._watch(), name="demo-watch")]
            assert self.rt is not None and self.daemon is not None and self.speaker is not None
            self.talk = Talk(
                self.screen,
                self.rt,
                self.daemon,
                self.speaker,
                self.lines,
                self.simulated,
                self.outcome.problems,
                self.outcome.strict,
            )
            self.lines.on_summary = self.talk.summary_arrived
            try:
                await self.talk.run(*clips)
                await self._stop_daemon()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            if self.watcher is not None:
                self.watcher.poll()
            self._finish_recording()
            self._check_wire()
            self._check_summaries()

    @contextlib.asynccontextmanager
    async def _service(self) -> AsyncIterator[str]:
        """The endpoint the daemon talks to: the built-in simulator for the run, or the one
        given."""
        if not self.simulated:
            assert self.options.endpoint is not None
            self.screen.show("setup", f"Live endpoint: {printable(self.options.endpoint, 120)}")
            yield self.options.endpoint
            return
        key = self._local_key()
        # Real-time pacing like the service; a frame record big enough for the whole run.
        options = SimOptions(
            api_keys=frozenset({key}), pace=1.0, record_bytes_per_connection=64 << 20
        )
        async with run_simulator(options) as sim:
            self.sim = sim
            self.watcher = SimWatcher(sim, self.screen, self.tag)
            self.screen.show(
                "setup",
                f"Live simulator on {sim.url} (local; its parrot model answers with your own "
                "words, 1.15x faster)",
            )
            try:
                yield sim.url
            finally:
                if sim.internal_errors:
                    self.outcome.strict.extend(
                        f"simulator bug: {printable(e, 200)}" for e in sim.internal_errors
                    )

    def _local_key(self) -> str:
        """A throwaway key for a local simulator (it wants one, any will do)."""
        if not self._sim_key:
            self._sim_key = "demo-" + secrets.token_urlsafe(18)
            Secret(self._sim_key)  # registered: scrubbed from every log line
        return self._sim_key

    async def _start_daemon(self, endpoint: str) -> None:
        assert self.workdir is not None and self.rt is not None
        key = self.options.key.reveal() if self.options.key else self._local_key()
        setup = DaemonSetup.make(
            self.workdir / "daemon",
            endpoint=endpoint,
            alsa_config=self.rt.alsa_config,
            key=key,
            settings=DEMO_SETTINGS,
        )
        self.speaker = self.rt.record_speaker(path=self.options.wav_path.absolute())
        await self.speaker.wait_samples(0.1)
        extra: list[str] = []
        for override in self.options.overrides:
            extra += ["--set", override]
        self.daemon = DaemonProcess(
            setup, tuple(extra), on_line=self.lines, on_notification=self._notified
        )
        await self.daemon.start()
        self.screen.show(
            "setup",
            f"the daemon: edgevoice run --config {setup.config_path} (pid {self.daemon.pid}; "
            "the environment systemd gives it, the key as a credential file)",
            detail=True,
        )
        await self.daemon.wait_ready(READY_TIMEOUT_S)  # its control socket answers
        ready = await self._wait_ready_notification()
        started = self.daemon.started_at or ready.at
        self.screen.show(
            "daemon",
            f"ready: READY=1 {ready.at - started:.2f} s after it started (what systemd waits "
            "for); its control socket answers",
            at=ready.at,
        )

    async def _wait_ready_notification(self) -> Notification:
        """READY=1 on the notify socket (it follows the control socket closely)."""
        assert self.daemon is not None and self.daemon.notify is not None
        try:
            return await self.daemon.notify.wait_for(
                lambda n: n.fields.get("READY") == "1", READY_AFTER_SOCKET_S
            )
        except TimeoutError:
            raise DaemonError(
                f"the daemon answers on its control socket but sent no READY=1 within "
                f"{READY_AFTER_SOCKET_S:g} s",
                self.daemon.log(),
            ) from None

    def _notified(self, notification: Notification) -> None:
        """STATUS= changes as `state` lines, as they arrive."""
        status = notification.status
        if status is not None and status != self._last_status:
            self._last_status = status
            self.screen.show("state", printable(status, 200), at=notification.at)

    async def _watch(self) -> None:
        while True:
            if self.watcher is not None:
                self.watcher.poll()
            await asyncio.sleep(POLL_S)

    # ------------------------------------------------------------------------------------------
    # The end

    async def _stop_daemon(self) -> None:
        assert self.daemon is not None
        self.screen.plain("--- the end: SIGTERM to the daemon (what `systemctl stop` sends)")
        code = await self.daemon.terminate()
        if code != 0:
            self.outcome.problems.append(f"the daemon exited {code} on SIGTERM")
        elif self.daemon.tracebacks():
            self.outcome.problems.append("the daemon printed a traceback")
        else:
            self.screen.show("daemon", "stopped cleanly (exit 0)")

    def _finish_recording(self) -> None:
        if self.speaker is None:
            return
        self.recording = self.speaker.stop()
        self.speaker = None
        if self.sim is None:
            return
        replies = [r for record in self.sim.connections for r in reply_audio(record)]
        if self.options.replies_dir is not None:
            self.options.replies_dir.mkdir(parents=True, exist_ok=True)
            for number, reply in enumerate(replies, 1):
                path = self.options.replies_dir / f"reply-{number}.wav"
                write_wav(path, to_pcm(reply), REPLY_RATE, 1)
        self._find_replies(replies)

    def _find_replies(self, replies: list[Any]) -> None:
        """Each reply the simulator sent, looked for in the speaker recording."""
        assert self.recording is not None and self.watcher is not None
        turns = self.watcher.turns
        if len(replies) < len(self._kinds):
            self.outcome.problems.append(
                f"{len(replies)} replies came from the simulator for {len(self._kinds)} turns"
            )
        for number, reply in enumerate(replies, 1):
            interrupted = number <= len(turns) and turns[number - 1].outcome == "interrupted"
            if interrupted:
                reply = reply[: round(CUT_REPLY_S * REPLY_RATE)]
            reference = product_resample(reply, REPLY_RATE, SINK_RATE)
            if len(reference) == 0:
                continue
            found = align(self.recording.samples, reference)
            where = found.lag / SINK_RATE
            what = f"its first {CUT_REPLY_S:g} s " if interrupted else ""
            line = (
                f"reply {number}: {what}found in the recording at {where:.2f} s "
                f"(correlation {found.correlation:.2f}, {found.gain_db:+.1f} dB: the volume)"
            )
            self.screen.show("speaker", line)
            if found.correlation < MATCH_CORRELATION:
                self.outcome.strict.append(f"reply {number} is not in the speaker recording")

    def _check_summaries(self) -> None:
        """The daemon writes one summary line per turn (with its latency)."""
        for number in range(1, len(self._kinds) + 1):
            if number not in self.lines.summaries:
                self.outcome.strict.append(f"the daemon wrote no summary line for turn {number}")

    def _check_wire(self) -> None:
        if self.sim is None:
            return
        items = [item for record in self.sim.connections for item in wire(record)]
        outside = audio_outside_turns(items)
        if outside:
            self.outcome.strict.append(f"{outside} bytes of audio were sent outside a turn")
        heard = self.watcher.turns if self.watcher else []
        if len(heard) != len(self._kinds):
            self.outcome.problems.append(
                f"the simulator heard {len(heard)} turns; the demo spoke {len(self._kinds)}"
            )

    async def _tear_down(self) -> None:
        if self.daemon is not None and self.daemon.running:
            self.daemon.kill()
            with contextlib.suppress(Exception):
                await self.daemon.terminate(timeout_s=5)
        if self.speaker is not None:
            with contextlib.suppress(Exception):
                self.recording = self.speaker.stop()
            self.speaker = None
        if self.rt is not None:
            self.rt.close()
        if self.server is not None:
            self.server.stop()
        if self.daemon is not None and self.workdir is not None:
            with contextlib.suppress(OSError):
                log = self.workdir / "daemon.log"
                log.write_text("\n".join(self.daemon.lines) + "\n")
        if self.daemon is not None:
            with contextlib.suppress(OSError):  # never leave the key behind
                credential = self.daemon.setup.credentials_dir / "gemini-api-key"
                credential.chmod(0o600)
                credential.unlink()

    # ------------------------------------------------------------------------------------------
    # Words

    @property
    def _kinds(self) -> list[str]:
        """The turns the demo began, by kind (button, voice, barge-in)."""
        return self.talk.kinds if self.talk is not None else []

    def _header(self) -> None:
        against = (
            "the local Live simulator (no key, no network)"
            if self.simulated
            else "the Live service at " + printable(self.options.endpoint or "", 120)
        )
        self.screen.plain(
            "edgevoice demo: the real daemon (`edgevoice run`) on real-time virtual audio "
            f"devices, against {against}, spoken to with espeak-ng."
        )
        if self.simulated:
            self.screen.plain(
                "Every timing below is measured against the local simulator on loopback: the "
                "real service adds its network and model time."
            )
        self.screen.plain()

    def _show_log_tail(self) -> None:
        if self.daemon is None:
            return
        for line in self.daemon.lines[-15:]:
            self.screen.plain(f"    {printable(line, 300)}")

    def _verdict(self) -> int:
        problems = list(self.outcome.problems)
        if self.options.ci:
            problems += self.outcome.strict
            problems += [f"the daemon logged: {p}" for p in self.lines.problems]
        else:
            for note in self.outcome.strict:
                self.screen.plain(f"note: {note}")
        kept = self.options.keep or bool(problems)
        self._summary(problems, kept)
        if self.workdir is not None and not kept:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return EX_FAILED if problems else EX_OK

    def _summary(self, problems: list[str], kept: bool) -> None:
        screen = self.screen
        screen.plain()
        if self.recording is not None and self._kinds:
            seconds = len(self.recording.samples) / SINK_RATE
            path = self.options.wav_path
            screen.plain(
                f"What the device's speaker played: {path.absolute()} ({seconds:.1f} s, "
                f"{SINK_RATE // 1000} kHz mono)."
            )
            screen.plain(f"Listen to it: aplay {_shell_word(str(path))}")
        if kept and self.workdir is not None:
            screen.plain(
                f"The daemon's config and logs are in {self.workdir} (daemon.log, "
                "pulse/pulseaudio.log, daemon/edgevoice.toml)."
            )
        if problems:
            for problem in problems:
                print(f"edgevoice demo: FAILED: {problem}", file=sys.stderr, flush=True)
            return
        kinds = ", ".join(self._kinds)
        screen.plain(
            f"edgevoice demo: done: {len(self._kinds)} turns ({kinds}), each answered; "
            "the daemon stopped cleanly; everything the demo started is stopped."
        )


# The longest socket path under the work dir is daemon/runtime/control.sock; a Unix socket
# address holds 107 bytes.
SOCKET_SUFFIX = "daemon/runtime/control.sock"
SOCKET_PATH_LIMIT = 107


def make_workdir() -> Path:
    """A fresh private directory for the run: in $TMPDIR, or in /tmp when $TMPDIR is so deep
    that the sockets in it would not fit a Unix socket address."""
    workdir = Path(tempfile.mkdtemp(prefix="edgevoice-demo-"))
    if len(str(workdir / SOCKET_SUFFIX).encode()) <= SOCKET_PATH_LIMIT:
        return workdir
    workdir.rmdir()
    return Path(tempfile.mkdtemp(prefix="edgevoice-demo-", dir="/tmp"))


def _shell_word(text: str) -> str:
    if text and all(c.isalnum() or c in "-_./+:@%" for c in text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


async def run_demo(options: DemoOptions, out: TextIO | None = None) -> int:
    """Run the demo; its exit status (see the module docstring)."""
    return await Demo(options, out or sys.stdout).run()


def default_wav_path() -> Path:
    """`demo-speaker.wav` in the current directory."""
    return Path(os.getcwd()) / "demo-speaker.wav"
