"""The conversation controller: one queue of inputs, dispatched one at a time with `match`.

Everything that happens reaches the controller as an input (`edgevoice.app.inputs`): a
microphone frame, a press, a server event, a timer, a control request. `dispatch` handles each
to the end without awaiting anything, so the controller's view never changes under its feet:
sending goes through the connection's outbox (`edgevoice.app.link`), playing through the
speaker (`edgevoice.app.speaker`), tools and timers run as tasks that report back as inputs.
What the server says is handled in `edgevoice.app.answers`, what the LED and STATUS= show is
derived in `edgevoice.app.presence`, control requests are answered in `edgevoice.app.control`.

The rules it keeps (issue #9, DESIGN.md sections 3 and 4):

- **Nothing before a trigger.** A connection is opened on a press, a voice trigger (after the
  minimum utterance) or `ctl say`, never while nobody speaks. The pre-roll and what is said
  while connecting wait in the outbox and go out right after setupComplete and activityStart.
- **Turns**: hold-to-talk (press, release), click-to-toggle, voice (the gate's end of speech;
  activityEnd, or audioStreamEnd under server VAD), text. A very short press still sends a
  well-formed activityStart/activityEnd pair. A press while the device speaks barges in:
  playback is cleared at once and what is left of the old answer is dropped.
- **After the answer**: the connection stays open for `live.follow_up_window`, then closes
  (1000). The **response watchdog** drops a connection that says nothing for
  `live.response_timeout` after the user's turn ended (a silent turn is an answer, not a stall;
  a tool of ours that runs pauses it). A long press, `ctl cancel` or the model's
  end_conversation end the conversation: close 1000, the resumption handle dropped.
- **Limits**: `limits.max_turn_s` and `limits.daily_audio_s` end the turn with the LIMIT earcon
  and one journal line; usage is kept per day (state store) with the tokens the server reports.
- **Mute**: nothing leaves the device (the microphone path drops every frame), the MUTED LED,
  kept across restarts.
- **The LED** shows LISTENING exactly while audio is leaving the device: the sender reports
  when the turn's audio starts and stops going out.
- **Connections** are the supervisor's (`edgevoice.app.supervisor`): it opens them, carries a
  turn over to a new one when one fails (nothing the person said is lost), backs off, moves to
  a fallback model, rotates on goAway and leaves the device in ERROR for a fatal error, saying
  what needs attention.
- **The journal and STATUS=**: every line carries the state, the connection and the turn
  (`edgevoice.app.log_setup.LOG_CONTEXT`); each turn ends with one summary line
  (`edgevoice.app.turn_log`); `status_line()` is what systemd shows, sent on every change
  through `on_status`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from edgevoice import control_protocol as cp
from edgevoice.app import answers, presence
from edgevoice.app.control import answer_request
from edgevoice.app.inputs import (
    Click,
    ControlInput,
    DeviceProblem,
    EndConversation,
    Input,
    LinkEnded,
    LinkEvent,
    LinkUp,
    MicFrame,
    PlaybackDone,
    Press,
    Release,
    Sent,
    Source,
    TimerFired,
    ToolDone,
)
from edgevoice.app.link import (
    Audio,
    BeginActivity,
    Connector,
    EndActivity,
    Link,
    StreamEnd,
    Text,
    ToolAnswer,
)
from edgevoice.app.log_setup import LOG_CONTEXT
from edgevoice.app.mic import MicPath
from edgevoice.app.policy import ConnectionPolicy
from edgevoice.app.speaker import Player, Speaker
from edgevoice.app.status import Counters, Latency
from edgevoice.app.supervisor import Supervisor
from edgevoice.app.tools import CANCELLED_BY_PERSON, ToolCalls
from edgevoice.app.turn_log import TurnLog
from edgevoice.audio.earcons import Earcon
from edgevoice.audio.vad_gate import Ended, Rejected, Speech, Triggered
from edgevoice.config import Config
from edgevoice.limits import UsageLedger
from edgevoice.live.json_view import JsonValue
from edgevoice.live.models import Family, family_of
from edgevoice.live.tools import ToolContext
from edgevoice.ports import DeviceState, Indicator, StateStore

log = logging.getLogger("edgevoice.conversation")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Turn:
    """The open user turn."""

    number: int
    source: Source
    held: bool  # hold-to-talk: the release ends it
    voice: bool  # opened by the voice gate, which ends it
    started_at: float


class Conversation:
    """The controller (see the module docstring). Build it, `await run()` in the daemon's
    TaskGroup, feed it with `post()` from any task on the loop."""

    def __init__(
        self,
        config: Config,
        *,
        policy: ConnectionPolicy,
        connect: Connector,
        player: Player,
        mic: MicPath,
        store: StateStore,
        ledger: UsageLedger,
        indicator: Indicator | None = None,
        muted: bool = False,
        clock: Clock,
        sleep: Sleep,
        today: Callable[[], dt.date],
        local_now: Callable[[], dt.datetime],
        time_zone: str = "",
        device_counters: Callable[[], dict[str, JsonValue]] = dict,
    ) -> None:
        from edgevoice.app.timers import Timers

        self.config = config
        self.policy = policy
        self.mic = mic
        self._store = store
        self.ledger = ledger
        self._indicator = indicator
        self._clock = clock
        self.clock = clock
        self._today = today
        self.today = today
        self._local_now = local_now
        self._time_zone = time_zone
        self.device_counters = device_counters
        self._queue: asyncio.Queue[Input] = asyncio.Queue()
        self._group: asyncio.TaskGroup | None = None
        self.timers = Timers(self.spawn, self.post, sleep)
        self.speaker = Speaker(
            player, config.earcons, spawn=self.spawn, post=self.post, sleep=sleep
        )
        self.tools = ToolCalls(
            builtins=config.live.tools,
            commands=config.tools.command,
            context=self._tool_context,
            spawn=self.spawn,
            post=self.post,
        )
        self.counters = Counters()
        self.latency = Latency()
        self.supervisor = Supervisor(
            self,
            policy=policy,
            connect=connect,
            sleep=sleep,
            clock=clock,
            stable_after=config.reconnect.stable_after,
        )
        self.turn_log = TurnLog()
        self.on_status: Callable[[str], None] = _ignore  # STATUS= (the daemon's notifier)
        self.status_text = ""
        self.device_problem = ""  # a microphone or speaker that is being reopened
        self.link: Link | None = None
        self.turn: Turn | None = None
        self.state = DeviceState.STARTING
        self.listening = False  # audio of the open turn is leaving the device (the sender says)
        self.awaiting = False  # a user turn (or a blocking tool's answer) went out: answer due
        self.answering = False  # the answer's audio is arriving
        self.discard_answer = False  # barged in: drop the rest of the old answer
        self.interrupted = False  # `interrupted` came: the next turnComplete ends the old answer
        self.ending = False  # the model called end_conversation: end after its reply
        self.offline = False  # the last connection failed or was lost
        self._turns = 0
        self._last_message = float("-inf")
        self._awaiting_since = float("-inf")
        self.turn_end_at: float | None = None  # when the turn's end went out (latency)
        self._held_back = 0  # microphone frames held back during blocking calls, ended links
        self._uplink_dropped = 0  # frames dropped on a slow uplink, ended links
        if muted:
            mic.set_muted(True)

    # ----------------------------------------------------------------------------------------
    # Running

    def post(self, item: Input) -> None:
        """Hand `item` to the controller (from any task on the loop's thread)."""
        self._queue.put_nowait(item)

    async def run(self) -> None:
        """Dispatch inputs until cancelled; on the way out every task it started (the
        connection, timers, tools, playback watchers) is cancelled: the connection closes with
        1000, running tools' process groups are killed."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            self._refresh()
            try:
                while True:
                    self.dispatch(await self._queue.get())
            finally:
                self._group = None
                self.timers.cancel_all()
                self.tools.cancel_all()
                if self.link is not None:
                    self.link.drop()

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        group = self._group
        if group is None:
            work.close()
            raise RuntimeError("the conversation is not running")
        return group.create_task(work)

    def dispatch(self, item: Input) -> None:
        """Handle one input to the end (never awaits). A bug while handling it is logged with
        its traceback and the conversation goes on: the device never goes down over it."""
        try:
            self._dispatch(item)
        except Exception:
            log.exception("handling %s failed (a bug in edgevoice)", type(item).__name__)
            if isinstance(item, ControlInput) and not item.reply.done():
                item.reply.set_exception(cp.ControlError("internal error; see the journal"))
        self._refresh()
        self._store.write_if_due()

    def _dispatch(self, item: Input) -> None:
        match item:
            case MicFrame(frame=frame):
                self._frame(frame)
            case Press(source=source):
                self.press(source)
            case Release():
                self.release()
            case Click(source=source):
                self.click(source)
            case EndConversation(source=source):
                self.end_conversation(source)
            case LinkUp(link=link):
                if link is self.link:
                    self.supervisor.up(link)
            case LinkEvent(link=link, event=event):
                if link is self.link:
                    self._last_message = self._clock()
                    answers.server_event(self, link, event)
                elif link is self.supervisor.retiring:
                    answers.retiring_event(self, event)
            case LinkEnded(link=link, error=error):
                if link is self.link:
                    self.supervisor.ended(link, error)
            case Sent(link=link):
                if link is self.link:
                    self._sent(item)
            case TimerFired(name=name):
                if self.timers.is_current(item):
                    self._timer(name)
            case PlaybackDone():
                if self.speaker.finished(item):
                    self.mic.speaking_ended(self._clock())
                    self.maybe_idle()
            case ToolDone():
                answers.tool_done(self, item)
            case ControlInput(request=request, reply=reply):
                self._control(request, reply)
            case DeviceProblem(text=text):
                self.device_problem = text

    # ----------------------------------------------------------------------------------------
    # The microphone and the turns

    def _frame(self, frame: bytes) -> None:
        for event in self.mic.feed(frame, self._clock(), speaking=self.speaker.playing):
            match event:
                case Speech(frame=audio):
                    if self.turn is not None and self.link is not None:
                        self.counters.turn_frames += 1
                        self.link.outbox.put(Audio(audio))
                        self.supervisor.replay.audio(audio)
                case Triggered(preroll=preroll):
                    if self._may_start() is None:
                        self._open_turn("voice", held=False, voice=True, preroll=preroll)
                    else:
                        self.mic.end_turn()
                case Ended(reason=reason):
                    if self.turn is not None and self.turn.voice:
                        if reason == "max_length":
                            self._limit_reached("limits.max_turn_s")
                        else:
                            self._close_turn("end of speech")
                case Rejected():
                    log.debug("voice: too short for a turn; nothing was sent")
        if self.turn is not None and self.ledger.daily_limit_reached(self._today()):
            self._limit_reached("limits.daily_audio_s (today's cap)")

    def _may_start(self) -> str | None:
        """Why a turn cannot start now (after the earcon that says so), or None."""
        if self.mic.muted:
            return "the microphone is muted; `edgevoice ctl unmute` turns it on"
        if self.ledger.daily_limit_reached(self._today()):
            self.earcon(Earcon.LIMIT)
            return "today's audio cap (limits.daily_audio_s) is reached; turns resume tomorrow"
        return self.supervisor.refusal()

    def press(self, source: Source) -> str | None:
        turn = self.turn
        if turn is not None:
            if turn.voice:  # the button takes over the voice turn; its release ends it
                turn.voice, turn.held, turn.source = False, True, source
                self.mic.take_over()
                left = self.ledger.turn_time_left(self._clock())
                self.timers.set(
                    "turn_limit", self.config.limits.max_turn_s if left is None else left
                )
            return None
        refusal = self._may_start()
        if refusal is not None:
            log.info("%s press ignored: %s", source, refusal)
            return refusal
        self._open_turn(source, held=True, voice=False, preroll=self.mic.start_button_turn())
        return None

    def release(self) -> bool:
        if self.turn is not None and self.turn.held:
            self._close_turn("released")
            return True
        return False

    def click(self, source: Source) -> str | None:
        if self.turn is not None:
            self._close_turn("clicked")
            return None
        refusal = self._may_start()
        if refusal is not None:
            log.info("%s click ignored: %s", source, refusal)
            return refusal
        self._open_turn(source, held=False, voice=False, preroll=self.mic.start_button_turn())
        return None

    def _open_turn(
        self, source: Source, *, held: bool, voice: bool, preroll: tuple[bytes, ...]
    ) -> None:
        now = self._clock()
        self._barge_in()
        self._interrupt_tools()
        self._turns += 1
        self.turn = Turn(self._turns, source, held, voice, now)
        self.counters.turns += 1
        self.ledger.begin_turn(now, self._today())
        self.timers.cancel("follow_up")
        self.timers.cancel("watchdog")
        self.awaiting = False
        link = self.supervisor.ensure_link()
        manual = link.setup.manual_activity
        replay = self.supervisor.replay
        replay.begin(manual)
        if manual:
            link.outbox.put(BeginActivity())
        self.counters.turn_frames += len(preroll)
        for frame in preroll:
            link.outbox.put(Audio(frame))
            replay.audio(frame)
        self.turn_log.begin(self._turns, source, now)
        if not voice:  # the voice gate ends its own turns at the same length
            self.timers.set("turn_limit", self.config.limits.max_turn_s)
        log.info(
            "turn %d started (%s); %d ms of pre-roll",
            self._turns,
            source,
            len(preroll) * 20,
            extra={"TURN_ID": self._turns},
        )
        if not voice:  # the person talking to the gate is not interrupted by a beep
            self.earcon(Earcon.LISTEN_START)

    def _close_turn(
        self, why: str, earcon: Earcon | None = Earcon.LISTEN_END, level: int = logging.INFO
    ) -> None:
        """End the open turn normally: its end goes out, and an answer is due. One journal
        line says why."""
        turn = self.turn
        if turn is None:
            return
        self.finish_turn()
        link = self.link
        if link is not None:
            end = EndActivity() if link.setup.manual_activity else StreamEnd()
            link.outbox.put(end)
            self.supervisor.replay.end(end)
            self.awaiting = True
        usage = self.ledger.turn
        sent = usage.audio_seconds if usage is not None else 0.0
        log.log(
            level,
            "turn %d ended (%s)%s",
            turn.number,
            why,
            f" after {sent:.1f} s of audio sent" if sent else "",
            extra={"TURN_ID": turn.number},
        )
        if earcon is not None:
            self.earcon(earcon)

    def finish_turn(self) -> None:
        """Forget the open turn (its end is the caller's business)."""
        self.turn = None
        self.mic.end_turn()
        self.timers.cancel("turn_limit")
        self.ledger.end_turn(self._clock())
        self._store.save_usage(self.ledger.snapshot())

    def _limit_reached(self, which: str) -> None:
        turn = self.turn
        if turn is None:
            return
        self.counters.limits_reached += 1
        self._close_turn(f"{which} reached", Earcon.LIMIT, logging.WARNING)

    def _barge_in(self) -> None:
        """A new turn while the device speaks: silence it now and drop the rest."""
        if self.speaker.playing or self.answering:
            self.speaker.clear()
            self.discard_answer = self.answering
            self.counters.interruptions += 1
            log.info("barge-in: playback cleared")
        self.ending = False  # the person goes on talking: the conversation goes on

    def _interrupt_tools(self) -> None:
        """A new turn while a blocking command of ours runs: the command is cancelled (its
        process group killed) and the call answered as cancelled, so the new turn's input is
        not held back until the command ends."""
        link = self.link
        if link is None or not link.up:
            return
        for call_id, name in self.tools.interrupt_blocking():
            self.counters.tool_cancellations += 1
            link.outbox.put(ToolAnswer(call_id, name, dict(CANCELLED_BY_PERSON), None, True))

    def say(self, text: str) -> str | None:
        refusal = self.supervisor.refusal()
        if refusal is not None:
            return refusal
        if not _new_input_cancels(self.link):  # on 3.8 the text itself cancels the call
            self._interrupt_tools()
        if self.turn is None:
            self._barge_in()
        link = self.supervisor.ensure_link()
        self.timers.cancel("follow_up")
        link.outbox.put(Text(text))
        if self.turn is None:
            self.awaiting = True
            self._turns += 1
            self.supervisor.replay.text(text)
            self.turn_log.begin(self._turns, "control", self._clock())
        log.info("say: %d characters sent as the user's turn", len(text))
        return None

    # ----------------------------------------------------------------------------------------
    # The connection (edgevoice.app.supervisor opens, replaces and rotates it)

    def audio_sent(self, seconds: float) -> None:
        self.ledger.add_audio(seconds, self._today())
        self.turn_log.speech_sent(seconds)

    def forget_link(self, *, keep_follow_up: bool = False) -> Link | None:
        """Let go of the current connection (its later inputs are stale); returns it. The
        answer it was giving goes with it: nothing more of it will come, so no answer is due,
        arriving, to be dropped after a barge-in or ended by a late turnComplete."""
        link, self.link = self.link, None
        self.listening = False
        self.awaiting = self.answering = self.discard_answer = self.interrupted = False
        for name in ("follow_up", "watchdog", "stable"):
            if name != "follow_up" or not keep_follow_up:
                self.timers.cancel(name)
        if link is not None:
            self._uplink_dropped += link.outbox.dropped
            if link.conn is not None:
                self._held_back += link.conn.audio_held_back.frames
                self._uplink_dropped += link.conn.audio_dropped
        return link

    def maybe_idle(self) -> None:
        """Nothing in progress: end the conversation the model ended, rotate away from a
        connection the server is ending, or start the follow-up window."""
        link = self.link
        if link is None or not link.up:
            return
        session = link.session
        busy = self.turn is not None or self.awaiting or self.answering or self.speaker.playing
        if busy or self.tools.running or session is None or not session.interaction_idle:
            return
        if self.ending:
            self.end_conversation("model")
            return
        window = self.config.live.follow_up_window
        if link.going_away and window <= 0:
            self.supervisor.close("the server is ending it (goAway); the next turn resumes")
            return
        if not self.timers.running("follow_up"):
            self.timers.set("follow_up", window)
        if link.going_away:  # the follow-up window goes on over the next connection
            self.supervisor.rotate()

    def end_conversation(self, source: Source) -> None:
        if self.turn is not None:
            self.finish_turn()
        self.tools.cancel_all()
        self.speaker.clear()
        self.ending = False
        self.supervisor.drop()  # forgets the answer in progress with the connection
        self.supervisor.replay.clear()
        self.turn_log.finish("ended")
        self.policy.forget_handle()
        log.info("conversation ended (%s); the next turn starts a new one", source)
        self.earcon(Earcon.LISTEN_END)

    def _tool_context(self) -> ToolContext:
        return ToolContext(self._local_now(), self._time_zone, self.speaker.volume)

    # ----------------------------------------------------------------------------------------
    # What the sender did, timers

    def _sent(self, item: Sent) -> None:
        match item.kind:
            case "flowing":
                self.listening = True
            case "stopped":
                self.listening = False
            case "turn_end":
                self.turn_end_at = self._clock()
                if self.awaiting and self.turn is None:
                    self._arm_watchdog()
            case "tool_response":
                if item.blocking:  # the model goes on with the result: its answer is due
                    self.awaiting = True
                    self._arm_watchdog()
                self.maybe_idle()

    def _arm_watchdog(self) -> None:
        self._awaiting_since = self._clock()
        self.timers.set("watchdog", self.config.live.response_timeout)

    def _timer(self, name: str) -> None:
        match name:
            case "turn_limit":
                if self.turn is not None and not self.turn.voice:
                    self._limit_reached("limits.max_turn_s")
            case "follow_up":
                link = self.link
                if link is not None and self.turn is None and not self.speaker.playing:
                    window = self.config.live.follow_up_window
                    self.supervisor.close(f"no follow-up within {window:g} s")
            case "watchdog":
                self._watchdog()
            case "stable":
                self.supervisor.stable_timer()

    def _watchdog(self) -> None:
        if not self.awaiting or self.link is None:
            return
        timeout = self.config.live.response_timeout
        if self.tools.running:  # a tool of ours runs: the server waits for us, not we for it
            self.timers.set("watchdog", timeout)
            return
        quiet = self._clock() - max(self._last_message, self._awaiting_since)
        if quiet < timeout:
            self.timers.set("watchdog", timeout - quiet)
            return
        self.turn_log.finish("stalled")
        self.supervisor.stalled(quiet)

    # ----------------------------------------------------------------------------------------
    # Mute, volume, earcons, the LED

    def set_muted(self, muted: bool, who: str) -> None:
        if muted == self.mic.muted:
            return
        if muted and self.turn is not None:
            self._close_turn("muted", earcon=None)
        self.mic.set_muted(muted)
        self._store.save_muted(muted)
        log.info("microphone %s by %s", "muted" if muted else "unmuted", who)

    def set_volume(self, percent: int) -> int:
        percent = max(0, min(100, int(percent)))
        self.speaker.set_volume(percent)
        self._store.save_volume(percent)
        log.info("volume set to %d %%", percent)
        return percent

    def earcon(self, kind: Earcon) -> None:
        seconds = self.speaker.earcon(kind)
        if seconds:  # the voice trigger must not take the device's own tone for speech
            self.mic.hold_gate(self._clock() + seconds + self.mic.echo_tail_s)

    def device_state(self) -> DeviceState:
        """What the LED shows now (`edgevoice.app.presence.device_state`)."""
        return presence.device_state(self)

    def status_line(self) -> str:
        """What STATUS= says now (`edgevoice.app.presence.status_line`)."""
        return presence.status_line(self)

    def _refresh(self) -> None:
        state = self.device_state()
        link = self.link
        session = link.session if link is not None else None
        record = self.turn_log.current
        LOG_CONTEXT.update(
            state=state.value,
            connection=link.number if link is not None else None,
            session=session.session_id if session is not None else None,
            turn=record.number if record is not None else None,
        )
        if state is not self.state:
            self.state = state
            log.debug("state: %s", state.value)
            if self._indicator is not None:
                self._indicator.show(state)
        text = self.status_line()
        if text != self.status_text:
            self.status_text = text
            self.on_status(text)

    # ----------------------------------------------------------------------------------------
    # The control socket (edgevoice.app.control answers each request)

    def _control(self, request: cp.Request, reply: asyncio.Future[dict[str, JsonValue]]) -> None:
        if reply.done():  # the client gave up (the server's handler timeout)
            return
        try:
            data = answer_request(self, request)
        except cp.ControlError as refused:
            reply.set_exception(refused)
        else:
            reply.set_result(data)

    def usage_totals(self) -> tuple[int, int]:
        """(microphone frames held back during blocking calls, frames dropped on a slow
        uplink), over every connection so far."""
        link = self.link
        held, dropped = self._held_back, self._uplink_dropped
        if link is not None:
            dropped += link.outbox.dropped
            if link.conn is not None:
                held += link.conn.audio_held_back.frames
                dropped += link.conn.audio_dropped
        return held, dropped


def _ignore(_text: str) -> None:
    pass


def _new_input_cancels(link: Link | None) -> bool:
    """On gemini-3.8 new input (the text of `ctl say`) cancels a pending blocking call: the
    server sends toolCallCancellation (protocol doc section 3.2); elsewhere it would close the
    connection 1008, so our own command is cancelled and answered first."""
    return link is not None and family_of(link.setup.model) is Family.LIVE_38
