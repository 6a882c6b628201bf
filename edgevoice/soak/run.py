"""One soak run: the real daemon against the simulator, turns every few seconds, faults at
random moments from a seeded RNG, then the accounting and the report.

    report = await Soak(SoakOptions(duration_s=600, seed=7), sys.stdout).run()

The set-up is the demo's (the rig): a private PulseAudio server with real-time paced devices,
a quiet noise floor in the microphone, the built-in simulator on loopback (its parrot answers
in real time), and `edgevoice run` as a process, as systemd starts it. The soak's config on
top of the rig's: the voice trigger on, earcons off, INFO logs, short backoffs and windows so
that a fault is recovered from within a turn or two (`SETTINGS`; the values are in the report's
source, not guessed by the reader).

The run:

1. a warm-up turn, then the daemon idle (no connection): the first resource sample;
2. steps until the duration is up (plan.py): a pause, a turn (button, voice, or barge-in), and
   with some steps a fault at a random moment from just before the turn to well into its
   answer. `turn_frames` is read from the status before and after each turn;
3. turns without faults until one is answered after the last fault, then idle again: the last
   sample; SIGTERM, which must end the daemon cleanly;
4. the accounting (accounting.py) and the report (report.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from edgevoice.redact import Secret, printable
from edgevoice.rig.clips import Clip, Playing
from edgevoice.rig.daemon import EARCONS_OFF, DaemonError, DaemonProcess, DaemonSetup
from edgevoice.rig.demo_screen import parse_daemon_line
from edgevoice.rig.devices import RtAudio
from edgevoice.rig.host import RigError
from edgevoice.rig.pulse import PulseServer
from edgevoice.sim import SimOptions, Simulator, run_simulator
from edgevoice.soak.accounting import DaemonTurn, check_frames, read_wire
from edgevoice.soak.inject import Injector, Microphone
from edgevoice.soak.plan import FAULT_WEIGHTS, FaultKind, Plan, Step, TurnKind
from edgevoice.soak.probe import Sample, fd_count, fd_targets, rss_kb, sample
from edgevoice.soak.report import COMPLETED, SILENT_ANSWER, SoakReport, TurnOutcome

log = logging.getLogger("edgevoice.soak")

PHRASES = (
    "What is the weather like today?",
    "Set a timer for ten minutes, please.",
    "Tell me something about the moon.",
    "How far away is the nearest star?",
    "What time is it in Tokyo right now?",
    "Turn the music down a little.",
)
NOISE_FLOOR_DBFS = -65.0  # a quiet room, not a dead microphone
MIB = 1 << 20

# The soak's config on top of the rig's (see the module docstring).
SETTINGS: dict[str, dict[str, Any]] = {
    "trigger": {"mode": "voice"},
    "earcons": dict(EARCONS_OFF),
    "log": {"level": "info"},
    # A stall costs this long before the daemon drops the connection.
    # 1 MiB, the official SDK's frame limit, which the simulator's oversized fault is made to
    # trip (1009): with the daemon's default 4 MiB, that frame is a 17 s answer of zeros with
    # no turnComplete, a thing the service never sends.
    "live": {"response_timeout": 6.0, "follow_up_window": 3.0, "max_message_size": 1 << 20},
    # Backoffs a turn can wait out (supervisor PATIENCE_S is 5 s): every fault is recoverable
    # from by the next turn; the real defaults are longer.
    "reconnect": {
        "initial_delay": 0.2,
        "max_delay": 2.0,
        "throttled_delay": 1.0,
        "stable_after": 5.0,
    },
}

TURN_START_S = 10.0  # hang guard: speech played -> the daemon's turn has begun
TURN_END_S = 15.0  # hang guard: the speech (or the release) -> "turn N ended"
SUMMARY_S = 30.0  # hang guard: the turn's end -> its summary line (stall: response_timeout)
SPEAKING_S = 15.0  # hang guard: the end of a turn -> its answer plays (for a barge-in)
IDLE_S = 30.0  # hang guard: the daemon idle and unconnected
POLL_S = 0.1
FD_READS = 5
CLOSING_TURNS = 4  # at most this many turns at the end, for one answered after the last fault


@dataclass(frozen=True)
class SoakOptions:
    duration_s: float = 600.0
    seed: int | None = None  # None: a fresh one (printed)
    fault_rate: float = 0.5  # the chance a step has a fault
    faults: tuple[FaultKind, ...] | None = None  # None: every kind
    rss_growth_limit_mb: float = 10.0
    workdir: Path | None = None  # None: a temp dir, removed unless the run fails or `keep`
    keep: bool = False
    # Test hooks: a run that must fail.
    drop_frame: bool = False  # one audio frame taken out of the simulator's record
    hold_fd: bool = False  # a control-socket client that stays connected from start to end


class Soak:
    def __init__(self, options: SoakOptions, out: TextIO) -> None:
        self.options = options
        self.out = out
        seed = options.seed if options.seed is not None else secrets.randbelow(1 << 31)
        weights = None
        if options.faults is not None:
            weights = {k: FAULT_WEIGHTS[k] for k in options.faults}
        self.plan = Plan(seed, fault_rate=options.fault_rate, phrases=len(PHRASES), faults=weights)
        self.report = SoakReport(
            seed, options.duration_s, rss_growth_limit_mb=options.rss_growth_limit_mb
        )
        self.daemon: DaemonProcess | None = None
        self.sim: Simulator | None = None
        self.injector: Injector | None = None
        self.clips: list[Clip] = []
        self.summaries: dict[int, str] = {}  # turn -> outcome
        self.began: set[int] = set()
        self.ended: set[int] = set()
        self.daemon_turns: list[DaemonTurn] = []
        self._line = asyncio.Event()
        self._fault_tasks: set[asyncio.Task[None]] = set()
        self._held: Any = None
        self._state = "starting"
        self._last: dict[str, Any] = {}
        self.summary_at: dict[int, float] = {}  # turn -> when its summary line arrived

    # -- the run -------------------------------------------------------------------------------

    async def run(self) -> SoakReport:
        workdir = self.options.workdir or make_workdir()
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        server = PulseServer(workdir / "pulse")
        rt: RtAudio | None = None
        try:
            server.start()
            rt = RtAudio(server, workdir / "audio")
            self.clips = [rt.utterance(text) for text in PHRASES]
            mic = Microphone(server, rt, NOISE_FLOOR_DBFS)
            key = "soak-" + secrets.token_urlsafe(18)
            Secret(key)  # scrubbed from every log line
            options = SimOptions(
                api_keys=frozenset({key}),
                pace=1.0,
                record_bytes_per_connection=256 * MIB,
                record_bytes_total=1024 * MIB,
            )
            async with run_simulator(options) as sim:
                self.sim = sim
                self.injector = Injector(sim, mic)
                await self._with_daemon(workdir, rt, key)
                self.report.connections = len(sim.connections)
                self._account()
                if sim.internal_errors:
                    self.report.problems += [
                        f"simulator bug: {printable(e, 200)}" for e in sim.internal_errors
                    ]
        except (RigError, DaemonError, OSError, TimeoutError) as error:
            self.report.problems.append(printable(str(error).splitlines()[0], 300))
        finally:
            for task in self._fault_tasks:
                task.cancel()
            await asyncio.gather(*self._fault_tasks, return_exceptions=True)
            if self.injector is not None:
                await self.injector.close()
            if self.daemon is not None and self.daemon.running:
                self.daemon.kill()
                with contextlib.suppress(Exception):
                    await self.daemon.terminate(timeout_s=5)
            if rt is not None:
                rt.close()
            server.stop()
            if self.daemon is not None:
                with contextlib.suppress(OSError):
                    (workdir / "daemon.log").write_text("\n".join(self.daemon.lines) + "\n")
                with contextlib.suppress(OSError):  # a kept work dir keeps no key
                    credential = self.daemon.setup.credentials_dir / "gemini-api-key"
                    credential.chmod(0o600)
                    credential.unlink()
            self.report.elapsed_s = time.monotonic() - started
            if self.options.workdir is None and not self.options.keep and self.report.passed:
                shutil.rmtree(workdir, ignore_errors=True)
            elif self.report.problems or not self.report.passed:
                self.say(f"the daemon's log and the sound server's are in {workdir}")
        return self.report

    async def _with_daemon(self, workdir: Path, rt: RtAudio, key: str) -> None:
        assert self.sim is not None
        setup = DaemonSetup.make(
            workdir / "daemon",
            endpoint=self.sim.url,
            alsa_config=rt.alsa_config,
            key=key,
            settings=SETTINGS,
        )
        self.daemon = DaemonProcess(setup, on_line=self._on_line)
        await self.daemon.start()
        await self.daemon.wait_ready()
        self.say(
            f"seed {self.plan.seed}; the daemon is up (pid {self.daemon.pid}); "
            f"{self.options.duration_s:g} s of turns and faults"
        )
        # 1. warm-up, then the first sample.
        await self._turn(Step(0, TurnKind.BUTTON, 0.0, 0))
        self.report.before = await self._idle_sample()
        self.say(f"start (idle): {self.report.before.line()}")
        if self.options.hold_fd:
            self._held = await asyncio.open_unix_connection(str(setup.socket_path))
        # 2. the steps.
        deadline = time.monotonic() + self.options.duration_s
        sampler = asyncio.create_task(self._sample_rss(), name="soak-rss")
        try:
            while time.monotonic() < deadline:
                step = self.plan.step()
                await asyncio.sleep(step.pause_s)
                await self._step(step)
                self._progress(step)
            # 3. one answered turn after the last fault, then idle.
            await self._closing_turns()
            self.report.after = await self._idle_sample()
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        self.say(f"end (idle): {self.report.after.line()}")
        if self.report.after.fds > self.report.before.fds:
            self.report.fd_detail = fd_targets(self.daemon.pid)
        status = await self._status()
        self.report.counters = dict(status.get("counters", {}))
        if self._held is not None:
            self._held[1].close()
        code = await self.daemon.terminate()
        if code != 0:
            self.report.problems.append(f"the daemon exited {code} on SIGTERM")
        if self.daemon.tracebacks():
            self.report.problems.append("the daemon printed a traceback")

    # -- one step ------------------------------------------------------------------------------

    async def _step(self, step: Step) -> None:
        if step.fault is not None:
            task = asyncio.create_task(self._fault_later(step), name="soak-fault")
            self._fault_tasks.add(task)
            task.add_done_callback(self._fault_tasks.discard)
        await self._turn(step)

    async def _fault_later(self, step: Step) -> None:
        await asyncio.sleep(max(0.0, step.fault_at_s))
        assert self.injector is not None
        self.injector.fire(step)

    async def _turn(self, step: Step) -> None:
        """A turn of `step.kind` (a barge-in is two), to its summary line."""
        if not await self._until(lambda: not self._busy(), IDLE_S, quietly=True):
            self.report.problems.append(
                f"step {step.number}: the daemon was still {self._state} {IDLE_S:g} s after "
                "the previous turn"
            )
        number = await self._one_turn(step, step.kind is TurnKind.BUTTON, self.clips[step.phrase])
        if step.kind is not TurnKind.BARGE_IN or number is None:
            if number is not None:
                await self._summary(number)
            return
        # The answer plays for a moment, then the button cuts in with a new question.
        speaking = await self._until(lambda: self._state == "speaking", SPEAKING_S)
        if speaking:
            await asyncio.sleep(step.barge_after_s)
        barge = Step(step.number, TurnKind.BARGE_IN, 0.0, (step.phrase + 1) % len(self.clips))
        second = await self._one_turn(barge, True, self.clips[barge.phrase])
        await self._summary(number)
        if second is not None:
            await self._summary(second)

    async def _one_turn(self, step: Step, button: bool, clip: Clip) -> int | None:
        """Begin and end one turn; its daemon turn number, or None when it never began."""
        assert self.daemon is not None
        before = await self._status()
        counters = before.get("counters", {})
        number = int(counters.get("turns", 0)) + 1
        if step.kind is TurnKind.BARGE_IN:
            kind = "barge-in" if button else "voice"
        else:
            kind = step.kind.value
        if button:
            reply = await self.daemon.request({"cmd": "press"})
            if not (isinstance(reply, dict) and reply.get("ok")):
                error = reply.get("error") if isinstance(reply, dict) else reply
                self.report.turns.append(TurnOutcome(0, kind, "not begun", step.number))
                log.info("press refused: %s", printable(str(error), 200))
                return None
        playing = self.rt_play(clip)
        with contextlib.suppress(RigError, TimeoutError):  # a mic fault cuts the clip short
            await playing.finished()
        if button:
            await self.daemon.request({"cmd": "release"})
        else:
            begun = await self._until(lambda: number in self.began, TURN_START_S)
            if not begun:
                self.report.turns.append(TurnOutcome(0, kind, "not begun", step.number))
                await self._count_turn(before, number)
                return None
        if not await self._until(
            lambda: number in self.ended or number in self.summaries, TURN_END_S
        ):
            self.report.problems.append(f"turn {number} ({kind}) did not end")
        await self._count_turn(before, number)
        self.report.turns.append(TurnOutcome(number, kind, "", step.number))
        return number

    def rt_play(self, clip: Clip) -> Playing:
        assert self.injector is not None
        return self.injector.mic.rt.play(clip)

    async def _count_turn(self, before: dict[str, Any], number: int) -> None:
        """The frames the daemon put into the turn(s) begun since `before`."""
        after = await self._status()
        b, a = before.get("counters", {}), after.get("counters", {})
        began = int(a.get("turns", 0)) - int(b.get("turns", 0))
        frames = int(a.get("turn_frames", 0)) - int(b.get("turn_frames", 0))
        if began:
            first = int(b.get("turns", 0)) + 1
            self.daemon_turns.append(DaemonTurn(tuple(range(first, first + began)), frames))
        elif frames:
            self.report.problems.append(f"{frames} turn frames counted with no turn begun")

    async def _summary(self, number: int) -> None:
        got = await self._until(lambda: number in self.summaries, SUMMARY_S)
        outcome = self.summaries.get(number, "no summary line") if got else "no summary line"
        for turn in self.report.turns:
            if turn.number == number:
                turn.outcome = outcome
        if outcome in COMPLETED:
            self._recovered(self.summary_at.get(number, time.monotonic()))
        elif outcome == "no summary line":
            self.report.problems.append(f"turn {number}: no summary line in {SUMMARY_S:g} s")

    def _recovered(self, answered_at: float) -> None:
        """A turn answered (its summary line at `answered_at`): every fault that took effect
        before that is recovered from (one that struck during the turn too: the turn was
        answered after it)."""
        assert self.injector is not None
        self.injector.settle()
        for fault in self.injector.injected:
            if (
                fault.recovered_at is None
                and fault.fired_at is not None
                and fault.fired_at < answered_at
            ):
                fault.recovered_at = answered_at

    async def _closing_turns(self) -> None:
        assert self.injector is not None
        for task in list(self._fault_tasks):
            await asyncio.gather(task, return_exceptions=True)
        await self.injector.close()
        for attempt in range(CLOSING_TURNS):
            self.injector.settle()
            pending = [
                f for f in self.injector.injected if f.fired_at is None or f.recovered_at is None
            ]
            if not pending and attempt:
                return
            await asyncio.sleep(1.0)
            await self._turn(Step(0, TurnKind.BUTTON, 0.0, attempt % len(self.clips)))

    # -- the daemon's side ---------------------------------------------------------------------

    def _on_line(self, raw: str) -> None:
        line = parse_daemon_line(raw)
        if line is not None:
            if line.logger == "edgevoice.turns" and line.level == "INFO":
                if m := re.match(r"^turn (\d+): .*, (\w[\w ]*)$", line.message):
                    outcome = m[2]
                    # The simulator speaks every answer: one the device did not play is lost.
                    # (reply_s, not the text: audio that came before the turn's end has no
                    # latency, and the text then says "no reply audio" too.)
                    if outcome == "answered" and re.search(r"\breply_s=0\.00\b", raw):
                        outcome = SILENT_ANSWER
                    self.summaries[int(m[1])] = outcome
                    self.summary_at[int(m[1])] = time.monotonic()
            elif m := re.match(r"^turn (\d+) (started|ended)", line.message):
                (self.began if m[2] == "started" else self.ended).add(int(m[1]))
        self._line.set()

    def _busy(self) -> bool:
        return self._state in ("listening", "thinking", "speaking", "connecting")

    async def _status(self) -> dict[str, Any]:
        assert self.daemon is not None
        if not self.daemon.running:
            raise DaemonError("the daemon died", self.daemon.log())
        reply = await self.daemon.request({"cmd": "status"})
        if not isinstance(reply, dict) or not reply.get("ok"):
            raise DaemonError(f"status refused: {printable(str(reply), 200)}")
        self._state = str(reply.get("state"))
        self._last = reply
        return reply

    async def _until(self, condition: Callable[[], bool], timeout_s: float, *,
                     quietly: bool = False) -> bool:  # fmt: skip
        """Poll the daemon's status (its state) until `condition` holds; False past the guard."""
        deadline = time.monotonic() + timeout_s
        while True:
            await self._status()
            if condition():
                return True
            if time.monotonic() > deadline:
                if not quietly:
                    log.info("gave up waiting after %g s", timeout_s)
                return False
            self._line.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._line.wait(), POLL_S)

    async def _idle_sample(self) -> Sample:
        """The daemon idle with no connection, then its resources."""
        assert self.daemon is not None
        idle = await self._until(lambda: self._state == "idle" and not self._connected, IDLE_S + 10)
        if not idle:
            self.report.problems.append(f"the daemon was not idle within {IDLE_S + 10:g} s")
        await asyncio.sleep(0.5)  # whatever closed the connection has finished
        status = await self._status()
        # The least of a few reads, after the status request's own socket is gone: a leak
        # stays, a socket being closed does not.
        fds = []
        for _ in range(FD_READS):
            await asyncio.sleep(0.2)
            fds.append(fd_count(self.daemon.pid))
        return sample(self.daemon.pid, status, min(fds))

    @property
    def _connected(self) -> bool:
        return bool(self._last.get("connected")) if self._last else False

    async def _sample_rss(self) -> None:
        assert self.daemon is not None
        while True:
            with contextlib.suppress(OSError):
                self.report.rss_max_kb = max(self.report.rss_max_kb, rss_kb(self.daemon.pid))
            await asyncio.sleep(1.0)

    # -- the end -------------------------------------------------------------------------------

    def _account(self) -> None:
        assert self.sim is not None
        records = list(self.sim.connections)
        if self.options.drop_frame:
            _drop_one_audio_frame(records)
        outcomes = {t.number: t.outcome for t in self.report.turns}
        daemon = [
            DaemonTurn(d.turns, d.frames, outcomes.get(d.turns[-1], "")) for d in self.daemon_turns
        ]
        self.report.frames = check_frames(daemon, read_wire(records))
        if self.injector is not None:
            self.injector.settle()
            self.report.faults = list(self.injector.injected)

    def _progress(self, step: Step) -> None:
        turns = self.report.turns
        done = sum(t.outcome in COMPLETED for t in turns)
        fault = f", fault {step.fault.value}" if step.fault is not None else ""
        self.say(
            f"step {step.number}: {step.kind.value}{fault}; {done}/{len(turns)} turns answered"
        )

    def say(self, text: str) -> None:
        print(f"soak: {text}", file=self.out, flush=True)


def _drop_one_audio_frame(records: list[Any]) -> None:
    """The test hook: the first audio frame inside a turn taken out of the record."""
    for record in records:
        inside = False
        for index, frame in enumerate(record.received):
            text = frame.raw if isinstance(frame.raw, str) else frame.raw.decode(errors="replace")
            if '"activityStart"' in text:
                inside = True
            elif inside and '"audio"' in text:
                del record.received[index]
                return


# The longest socket path under the work dir is daemon/runtime/control.sock; a Unix socket
# address holds 107 bytes.
SOCKET_SUFFIX = "daemon/runtime/control.sock"
SOCKET_PATH_LIMIT = 107


def make_workdir() -> Path:
    """A fresh private directory: in $TMPDIR, or in /tmp when $TMPDIR is too deep for the
    sockets in it."""
    workdir = Path(tempfile.mkdtemp(prefix="edgevoice-soak-"))
    if len(str(workdir / SOCKET_SUFFIX).encode()) <= SOCKET_PATH_LIMIT:
        return workdir
    workdir.rmdir()
    return Path(tempfile.mkdtemp(prefix="edgevoice-soak-", dir="/tmp"))
