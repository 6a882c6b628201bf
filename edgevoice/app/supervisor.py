"""The supervisor: the conversation's connections, for ever (issue #10, DESIGN.md section 4).

The controller (`edgevoice.app.conversation`) decides what to send; the supervisor decides over
which connection, and what happens when one fails or ends. It follows `ConnectionPolicy`
(backoff, the error policy, fallback models, the resumption handle) and acts in the
controller's TaskGroup through `Link`s. The rules:

- **Nothing before a trigger.** A connection is opened for a press, a voice turn or `ctl say`,
  never while nobody speaks. An idle connection the server ends is not replaced: the next turn
  resumes the conversation with the handle.
- **Reconnecting in the background** happens only while the person's input is on its way: a
  turn is open, or a turn has ended and the model has not started on it yet, or the input was
  still waiting in the outbox of a connection that never opened. Then a new connection is
  opened after the backoff delay and sent that input again, so nothing the person said is
  lost: what the failed connection never sent, or the whole open turn (the resumed session
  holds only what came before it: a handle is resumable only between turns, protocol doc 6.3).
  The microphone keeps filling the new connection's outbox meanwhile. An answer that had begun
  is lost (the offline earcon says so); the person asks again.
- **Patience**: a person talking (or pressing) is kept waiting for a connection at most
  `PATIENCE_S`. A backoff longer than that (many failures in a row, or a quota refusal) ends
  the open turn with the offline earcon instead, and a press during it is refused the same way,
  with the time left in the reply and the journal; a shorter one is waited out (the audio is
  held and sent once connected).
- **A refused handle** (1008 "session not found", a 1007 on resume) or a **fallback model**
  retries at once, without the handle; a **fatal** error ends the turn in the needs-attention
  state until a reload (`ConnectionPolicy.refusal`).
- **goAway**: the turn in progress finishes on the old connection; at the next idle moment the
  old connection is closed (1000) and a new one opened, after the old has ended (resuming
  while it is open is refused, protocol doc 6.3), with the old session's newest handle. What
  the person says meanwhile waits in the new connection's outbox. When the deadline comes
  first, the connection's end is routine: the open turn goes on over a new connection at once.
- **Stability**: a connection up for `reconnect.stable_after`, or closed by us, ends the run of
  failures (`ConnectionPolicy.stable`).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from edgevoice.app.backoff import Delays
from edgevoice.app.link import (
    MAX_QUEUED_AUDIO,
    Audio,
    BeginActivity,
    Connector,
    EndActivity,
    Link,
    Op,
    StreamEnd,
    Text,
)
from edgevoice.app.policy import ConnectionPolicy, Verdict, describe
from edgevoice.app.timers import Sleep
from edgevoice.audio.earcons import Earcon
from edgevoice.errors import ErrorClass, SessionClosedError
from edgevoice.live.frames import Setup

if TYPE_CHECKING:
    from edgevoice.app.conversation import Conversation

log = logging.getLogger("edgevoice.supervisor")

# The longest a person who is talking, or presses, is kept waiting for a connection (seconds).
# Longer, and the offline earcon tells them instead: talking into nothing for a minute is
# worse than hearing at once that the device is offline.
PATIENCE_S = 5.0

__all__ = ["PATIENCE_S", "Delays", "Replay", "Supervisor"]


class Replay:
    """The person's input of the latest turn, kept until the model starts on it: what a new
    connection is sent when the connection that carried it ends first. Audio is bounded like
    an outbox (`MAX_QUEUED_AUDIO` frames, the newest kept)."""

    def __init__(self, max_audio: int = MAX_QUEUED_AUDIO) -> None:
        self._head: list[Op] = []
        self._audio: deque[bytes] = deque(maxlen=max_audio)
        self._tail: list[Op] = []
        self.active = False

    def begin(self, manual: bool) -> None:
        """A turn opens (its activityStart first, with manual activity)."""
        self.clear()
        self.active = True
        if manual:
            self._head.append(BeginActivity())

    def audio(self, frame: bytes) -> None:
        if self.active:
            self._audio.append(frame)

    def end(self, op: EndActivity | StreamEnd) -> None:
        if self.active:
            self._tail.append(op)

    def text(self, text: str) -> None:
        """`ctl say` outside a turn: the text is the turn."""
        self.clear()
        self.active = True
        self._tail.append(Text(text))

    def clear(self) -> None:
        self._head.clear()
        self._audio.clear()
        self._tail.clear()
        self.active = False

    def ops(self) -> list[Op]:
        if not self.active:
            return []
        return [*self._head, *(Audio(frame) for frame in self._audio), *self._tail]


class Supervisor:
    """The controller's connections (see the module docstring). Everything runs on the
    controller's task, between two inputs; links run as tasks of its TaskGroup."""

    def __init__(
        self,
        conversation: Conversation,
        *,
        policy: ConnectionPolicy,
        connect: Connector,
        sleep: Sleep,
        clock: Callable[[], float],
        stable_after: float,
    ) -> None:
        self.c = conversation
        self.policy = policy
        self._connect = connect
        self._sleep = sleep
        self._clock = clock
        self.stable_after = stable_after
        self.replay = Replay()
        self.retiring: Link | None = None  # the connection being rotated away (goAway)
        self.note = ""  # what STATUS= says while a new connection waits ("Reconnecting in...")
        self._numbers = 0

    # -- opening -------------------------------------------------------------------------------

    def refusal(self) -> str | None:
        """Why no turn can start now (after the earcon that says so), or None: the device needs
        attention, or the backoff has longer to run than a person should wait."""
        c = self.c
        if c.link is not None:
            return None
        attention = self.policy.refusal()
        if attention is not None:
            c.earcon(Earcon.ERROR)
            return f"needs attention: {attention.headline}; {attention.fix}"
        left = self.policy.wait_left()
        if left > PATIENCE_S:
            c.earcon(Earcon.OFFLINE)
            verdict = self.policy.last_verdict
            why = verdict.reason if verdict is not None else "the last connection failed"
            return f"offline ({why}); the next try is possible in {left:.0f} s"
        return None

    def ensure_link(self) -> Link:
        """The current connection, or a new one (after what is left of the backoff)."""
        link = self.c.link
        if link is not None:
            return link
        delay = self.policy.wait_left()
        note = f"Connecting in {delay:.0f} s (backing off after a failure)" if delay > 0 else ""
        return self._open(delay=delay, note=note)

    def _open(
        self,
        *,
        delay: float = 0.0,
        after: Link | None = None,
        ops: Sequence[Op] = (),
        setup: Callable[[], Setup] | None = None,
        note: str = "",
    ) -> Link:
        c = self.c
        self.note = note  # what STATUS= says until it is up
        self._numbers += 1
        link = Link(
            self._numbers,
            setup or self.policy.setup,
            self._connect,
            c.post,
            c.audio_sent,
            delay=delay,
            after=after,
            sleep=self._sleep,
        )
        for op in ops:
            link.outbox.put(op)
        link.task = c.spawn(link.run())
        c.link = link
        return link

    # -- what the connection did ---------------------------------------------------------------

    def up(self, link: Link) -> None:
        """The connection is open and set up."""
        c = self.c
        link.opened_at = self._clock()
        self.policy.connected()
        self.note = ""
        self.retiring = None  # its events were all handled before this one's LinkUp
        c.counters.connections += 1
        c.offline = False
        c.timers.set("stable", self.stable_after)
        session = link.session
        fields: dict[str, object] = {"CONNECTION_ID": link.number, "MODEL": link.setup.bare_model}
        if session is not None and session.session_id:
            fields["SESSION_ID"] = session.session_id
        log.info(
            "connected to %s (%s)",
            link.setup.bare_model,
            "resumed" if link.resumed else "new conversation",
            extra=fields,
        )
        c.maybe_idle()

    def stable_timer(self) -> None:
        link = self.c.link
        if link is not None and link.up:
            self.policy.stable()

    def ended(self, link: Link, error: BaseException | None) -> None:
        """The current connection failed or ended (see the module docstring for what
        follows)."""
        c = self.c
        was_up = link.conn is not None
        turn_open = c.turn is not None
        busy = c.awaiting or c.answering or bool(c.tools.running)
        expected = was_up and (link.going_away or not (turn_open or busy))
        # What the person said that the server (the resumed session) has not got.
        carried = link.outbox.take() if not was_up else self.replay.ops()
        ends = (EndActivity, StreamEnd, Text)
        awaiting = c.awaiting and any(isinstance(op, ends) for op in carried)
        answer_lost = was_up and busy and not carried
        cut_short = c.answering  # an answer was streaming in: no more of it will come
        c.forget_link()  # and the answer in progress with it
        c.tools.cancel_all()
        c.ending = False
        if cut_short:  # what arrived plays out, then the device is free (not SPEAKING for ever)
            c.speaker.answer_done()
        if error is None:
            error = SessionClosedError(1006, "the connection ended")
        verdict = self.policy.ended(error) if expected else self.policy.failed(error)
        fields = error_fields(error, verdict, link)
        if verdict.disposition.traceback:
            log.error("the connection failed on a bug in edgevoice", exc_info=error)
        if verdict.attention:
            self._attention(verdict, error, fields)
            return
        if carried and verdict.delay <= PATIENCE_S:
            self._go_on(verdict, carried, fields, expected=expected, was_up=was_up)
            c.awaiting = awaiting
            return
        self._give_up(verdict, error, fields, was_up=was_up, answer_lost=answer_lost,
                      expected=expected)  # fmt: skip

    def _go_on(
        self,
        verdict: Verdict,
        carried: list[Op],
        fields: dict[str, object],
        *,
        expected: bool,
        was_up: bool,
    ) -> None:
        """Carry the person's input over to a new connection, after the verdict's delay."""
        c = self.c
        c.counters.reconnects += 1
        delay = verdict.delay
        if verdict.fallback is not None:
            how = f"on the fallback model {verdict.fallback}"
        elif not verdict.disposition.keep_handle:
            how = "at once as a new conversation"
        elif delay > 0:
            how = f"in {delay:.1f} s (attempt {verdict.attempt})"
        else:
            how = "at once"
        what = "the connection ended" if expected else (
            "connection lost" if was_up else "could not connect"
        )  # fmt: skip
        log.log(
            logging.INFO if expected else logging.WARNING,
            "%s: %s; reconnecting %s, sending what was said again",
            what,
            verdict.reason,
            how,
            extra=fields,
        )
        if delay > 0:
            attempt = f"attempt {verdict.attempt}"
            note = f"Reconnecting in {delay:.0f} s ({attempt}): {verdict.reason}"
        else:
            note = "Reconnecting"
        c.turn_log.sending_again()
        self._open(delay=delay, ops=carried, note=note)

    def _attention(self, verdict: Verdict, error: BaseException, fields: dict[str, object]) -> None:
        c = self.c
        if c.turn is not None:
            c.finish_turn()
        self.replay.clear()
        c.turn_log.finish("failed")
        result = verdict.disposition
        log.error(
            "needs attention: %s: %s; %s", result.headline, describe(error), result.fix,
            extra=fields,
        )  # fmt: skip
        c.earcon(Earcon.ERROR)

    def _give_up(
        self,
        verdict: Verdict,
        error: BaseException,
        fields: dict[str, object],
        *,
        was_up: bool,
        answer_lost: bool,
        expected: bool,
    ) -> None:
        """No connection now: the next trigger tries again (after what is left of the
        backoff)."""
        c = self.c
        turn_open = c.turn is not None
        if turn_open:
            c.finish_turn()
        self.replay.clear()
        if turn_open or answer_lost or not was_up:
            c.turn_log.finish("lost")
        left = self.policy.wait_left()
        after = f" in {left:.0f} s" if left > 1 else ""
        if expected and not turn_open:
            log.info(
                "the idle connection ended: %s; the next turn resumes the conversation",
                verdict.reason,
                extra=fields,
            )
            return
        c.offline = True
        if not was_up:
            c.counters.connect_failures += 1
            log.warning(
                "could not connect: %s; the next turn tries again%s", describe(error), after,
                extra=fields,
            )  # fmt: skip
            c.earcon(Earcon.ERROR)
            return
        c.counters.connections_lost += 1
        resume = " and resumes" if self.policy.resumable else ""
        log.warning(
            "connection lost: %s; the next turn reconnects%s%s", describe(error), resume, after,
            extra=fields,
        )  # fmt: skip
        if answer_lost or turn_open:
            c.earcon(Earcon.OFFLINE)

    # -- closing, rotating ---------------------------------------------------------------------

    def close(self, why: str) -> None:
        """Close the connection gracefully (1000); the handle is kept."""
        link = self.c.forget_link()
        if link is None:
            return
        if link.up:
            self.policy.stable()
        log.info("closing the connection: %s", why)
        link.close()

    def drop(self) -> Link | None:
        """End the connection now (1000 on the way out); returns it."""
        link = self.c.forget_link()
        if link is not None:
            if link.up:
                self.policy.stable()
            link.drop()
        return link

    def rotate(self) -> None:
        """goAway at an idle moment: close this connection and open the next one, resuming
        the old session's newest handle once the old one has ended (the follow-up window goes
        on over it)."""
        c = self.c
        old = c.forget_link(keep_follow_up=True)
        if old is None:
            return
        session = old.session
        left = session.time_left(self._clock()) if session is not None else None
        self.policy.stable()
        self.retiring = old
        old.close()
        c.counters.rotations += 1
        when = f" ({left:.0f} s before its end)" if left is not None else ""
        log.info(
            "rotating to a new connection%s: the server announced the end of this one (goAway)",
            when,
            extra={"CONNECTION_ID": old.number},
        )
        self._open(
            after=old,
            setup=self._resume_setup(old),
            note="Reconnecting (the server is ending the connection)",
        )

    def _resume_setup(self, old: Link) -> Callable[[], Setup]:
        """The setup of the connection that replaces `old`: its session's newest handle (read
        when connecting, after the old one ended), or the policy's."""
        policy = self.policy

        def setup() -> Setup:
            session = old.session
            if session is not None and session.resumption_handle is not None:
                resume = session.setup_for_resume()
                if resume.resumption_handle is not None:
                    policy.new_handle(resume.resumption_handle)
                return policy.setup()
            return policy.setup()

        return setup

    def stalled(self, quiet: float) -> None:
        """The response watchdog gave up on an answer: drop the connection (a failure for the
        backoff; the person asks again)."""
        c = self.c
        c.counters.stalls += 1
        timeout = c.config.live.response_timeout
        log.warning(
            "no answer from the Live API for %.0f s after the turn ended (live.response_timeout):"
            " dropping the connection; the next turn resumes the conversation",
            quiet,
            extra={"ERROR_CLASS": ErrorClass.TRANSIENT.value},
        )
        c.speaker.clear()
        c.tools.cancel_all()
        self.replay.clear()
        # The answer in progress goes with the connection (a barge-in's "drop the rest of the
        # old answer" too, or the next answer, on a new connection, would be dropped).
        link = c.forget_link()
        if link is not None:
            link.drop()
        self.policy.failed(TimeoutError(f"no answer within {timeout:g} s (live.response_timeout)"))
        c.offline = True
        c.earcon(Earcon.ERROR)

    # -- what STATUS= says about connecting ----------------------------------------------------

    def offline_text(self) -> str:
        verdict = self.policy.last_verdict
        why = verdict.reason if verdict is not None else "the connection failed"
        left = self.policy.wait_left()
        if left > 1:
            return f"Offline: {why}; the next turn may try again in {left:.0f} s"
        return f"Offline: {why}; the next turn tries again"


def error_fields(error: BaseException, verdict: Verdict, link: Link) -> dict[str, object]:
    """The journal fields of a connection's end."""
    fields: dict[str, object] = {
        "ERROR_CLASS": verdict.disposition.error_class.value,
        "CONNECTION_ID": link.number,
    }
    if isinstance(error, SessionClosedError):
        fields["CLOSE_CODE"] = error.code
        fields["CLOSE_REASON"] = verdict.reason.partition(": ")[2] or verdict.reason
    if verdict.counted and verdict.attempt:
        fields["ATTEMPT"] = verdict.attempt
    if verdict.delay:
        fields["RETRY_IN_S"] = round(verdict.delay, 1)
    return fields
