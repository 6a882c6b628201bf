"""The demo's side of the conversation: what it says and presses, and how it waits for the
device to answer (by listening to the speaker, as a person would).

Three turns (`Talk.run`):

1. a button turn through the control socket: `edgevoice ctl press`, speak, `ctl release`
   (the requests the GPIO button makes);
2. a voice turn: speech alone; the daemon's voice trigger opens and ends the turn;
3. a barge-in: `ctl press` while the device is still speaking turn 2's answer, then a new
   question.

Every wait is on a condition (the speech played, sound or silence on the speaker, the daemon's
summary line) with a hang guard; the one deliberate pause is the second of turn 2's answer the
demo lets play before it barges in.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from edgevoice.redact import printable
from edgevoice.rig.clips import Clip, Playing
from edgevoice.rig.daemon import DaemonError, DaemonProcess
from edgevoice.rig.demo_screen import DaemonLines, Screen
from edgevoice.rig.devices import RtAudio
from edgevoice.rig.recorder import SpeakerRecorder

REPLY_TIMEOUT_S = 20.0  # hang guard: end of speech -> the reply on the speaker
SUMMARY_WAIT_S = 5.0  # the daemon's turn line comes when the turn is over
BARGE_IN_AFTER_S = 1.0  # how long the answer plays before the button interrupts it
QUIET_HOLD_S = 1.0  # silence that means a reply has finished playing
CUT_QUIET_S = 0.2  # silence that means a barge-in has cut the reply
LOUD_DBFS = -50.0  # the speaker is playing something


@dataclass
class Talk:
    """Talks to the running daemon (see the module docstring).

    `problems` get what means the demo failed; `strict` what fails it in CI mode only (a real
    service may choose not to answer a turn). `kinds` names the turns as they begin.
    """

    screen: Screen
    rt: RtAudio
    daemon: DaemonProcess
    speaker: SpeakerRecorder
    lines: DaemonLines
    simulated: bool
    problems: list[str]
    strict: list[str]
    kinds: list[str] = field(default_factory=list)
    _summary_seen: asyncio.Event = field(default_factory=asyncio.Event)

    def summary_arrived(self, turn: int, text: str) -> None:
        """DaemonLines' callback: a turn's summary line came."""
        self._summary_seen.set()

    async def run(self, button: Clip, voice: Clip, barge_in: Clip) -> None:
        self._heading(
            "button",
            "a button turn through the control socket: press, speak, release "
            "(what the GPIO button does)",
        )
        await self._ctl("press")
        playing = self._say(button)
        await playing.finished()
        await self._ctl("release")
        await self._reply(1, after=playing.sound_ends)

        self._heading(
            "voice", "a voice turn: no button; the voice trigger hears you and ends the turn"
        )
        playing = self._say(voice)
        await playing.finished()
        started = await self._reply_starts(2, after=playing.sound_ends)

        if started is not None:  # let the answer play a moment, then interrupt it
            await asyncio.sleep(max(0.0, started + BARGE_IN_AFTER_S - time.monotonic()))
        self._heading(
            "barge-in", "a barge-in: the button pressed while the device is still answering"
        )
        await self._ctl("press")
        pressed = time.monotonic()
        if started is not None:
            quiet = await self.speaker.wait_level(
                loud=False, after=pressed, threshold_dbfs=LOUD_DBFS, hold_s=CUT_QUIET_S
            )
            self.screen.show(
                "speaker", "turn 2: its reply is cut off: the speaker is silent", at=quiet
            )
        playing = self._say(barge_in)
        await playing.finished()
        await self._ctl("release")
        await self._reply(3, after=playing.sound_ends)
        self.screen.plain()

    def _heading(self, kind: str, text: str) -> None:
        self.kinds.append(kind)
        self.screen.plain()
        self.screen.plain(f"--- turn {len(self.kinds)}: {text}")

    async def _ctl(self, command: str) -> None:
        self.screen.show("you", f"$ edgevoice ctl {command}")
        result = await self.daemon.ctl(command)
        if result.returncode != 0:
            raise DaemonError(
                f"edgevoice ctl {command} failed ({result.returncode}): "
                f"{printable(result.stderr.strip(), 200)}"
            )

    def _say(self, clip: Clip) -> Playing:
        playing = self.rt.play(clip)
        self.screen.show(
            "you", f'say "{clip.text}" (espeak-ng into the microphone, {clip.sound_s:.1f} s)'
        )
        return playing

    async def _reply_starts(self, turn: int, *, after: float) -> float | None:
        """When the reply to `turn` started playing on the speaker; None when none came."""
        try:
            started = await self.speaker.wait_level(
                loud=True, after=after, threshold_dbfs=LOUD_DBFS, timeout_s=REPLY_TIMEOUT_S
            )
        except TimeoutError:
            missing = f"turn {turn}: no reply on the speaker within {REPLY_TIMEOUT_S:g} s"
            # The real service may choose not to answer (proactive audio): strict (--ci) only.
            (self.problems if self.simulated else self.strict).append(missing)
            self.screen.show("speaker", missing + ("" if self.simulated else " (a silent turn?)"))
            return None
        self.screen.show("speaker", f"turn {turn}: the reply plays", at=started)
        return started

    async def _reply(self, turn: int, *, after: float) -> None:
        """Wait for the reply to `turn` to play to its end, then for the daemon's turn line."""
        started = await self._reply_starts(turn, after=after)
        if started is None:
            return
        ended = await self.speaker.wait_level(
            loud=False,
            after=started,
            threshold_dbfs=LOUD_DBFS,
            hold_s=QUIET_HOLD_S,
            timeout_s=REPLY_TIMEOUT_S + 30,
        )
        self.screen.show(
            "speaker", f"turn {turn}: the reply has played ({ended - started:.1f} s)", at=ended
        )
        await self._wait_summary(turn)

    async def _wait_summary(self, turn: int) -> None:
        """Wait (a little) for the daemon's summary line of `turn`: it comes once the turn is
        over, which may be a moment after the reply has played."""
        deadline = time.monotonic() + SUMMARY_WAIT_S
        while turn not in self.lines.summaries:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return  # the end of the run says which summary is missing
            self._summary_seen.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._summary_seen.wait(), remaining)
