"""One journal line per turn: what the person did and what the model answered, as fields.

`TurnLog.begin(number, trigger, now)` opens the record of a user turn; the controller feeds it
(speech sent, the reply's first audio and length, tokens, transcripts) and `finish(outcome)`
writes the summary at INFO with structured fields, so a week of turns can be read back with
`journalctl -u edgevoice TURN_OUTCOME=answered -o json`:

    turn 3: button, 2.4 s of speech, reply after 640 ms, 3.1 s long, 1234 tokens, answered

Fields: TURN_ID, TURN_TRIGGER (button, voice, control), SPEECH_S (seconds of microphone audio
sent for the turn; audio sent again over a new connection counts once), LATENCY_MS (end of
speech on the wire -> first reply audio; absent without a reply), REPLY_S (seconds of reply
audio received), INTERRUPTED (yes/no), TOKENS (total tokens the server reported), TURN_OUTCOME
(answered, silent, interrupted, lost, stalled, ended, failed).

Transcripts are logged at DEBUG only (what people say at home does not belong in a journal that
persists and that the adm group reads; `log.level = "debug"` shows them), escaped and cut, one
line each for what was heard and what was said, with the turn's TURN_ID.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from edgevoice.redact import printable

log = logging.getLogger("edgevoice.turns")

TRANSCRIPT_LIMIT = 500  # characters of a transcript in one journal line


@dataclass
class TurnRecord:
    """What one turn did so far (see the module docstring for the fields)."""

    number: int
    trigger: str
    started_at: float
    speech_s: float = 0.0
    latency_s: float | None = None
    reply_s: float = 0.0
    interrupted: bool = False
    tokens: int = 0
    heard: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)

    def fields(self, outcome: str) -> dict[str, object]:
        out: dict[str, object] = {
            "TURN_ID": self.number,
            "TURN_TRIGGER": self.trigger,
            "SPEECH_S": f"{self.speech_s:.2f}",
            "REPLY_S": f"{self.reply_s:.2f}",
            "INTERRUPTED": "yes" if self.interrupted else "no",
            "TOKENS": self.tokens,
            "TURN_OUTCOME": outcome,
        }
        if self.latency_s is not None:
            out["LATENCY_MS"] = round(self.latency_s * 1000)
        return out

    def text(self, outcome: str) -> str:
        parts = [f"turn {self.number}: {self.trigger}", f"{self.speech_s:.1f} s of speech"]
        if self.latency_s is not None:
            parts.append(f"reply after {self.latency_s * 1000:.0f} ms, {self.reply_s:.1f} s long")
        else:
            parts.append("no reply audio")
        if self.tokens:
            parts.append(f"{self.tokens} tokens")
        if self.interrupted and outcome != "interrupted":
            parts.append("interrupted")
        parts.append(outcome)
        return ", ".join(parts)


class TurnLog:
    """The current turn's record and its summary line (see the module docstring)."""

    def __init__(self) -> None:
        self.current: TurnRecord | None = None
        self.summaries = 0  # lines written (for status and tests)

    def begin(self, number: int, trigger: str, now: float) -> TurnRecord:
        """A new turn: a turn still open is summed up first (interrupted by this one)."""
        if self.current is not None:
            self.current.interrupted = True
            self.finish("interrupted")
        self.current = TurnRecord(number, trigger, now)
        return self.current

    def speech_sent(self, seconds: float) -> None:
        if self.current is not None:
            self.current.speech_s += seconds

    def sending_again(self) -> None:
        """The turn's input goes out again over a new connection: count it once."""
        if self.current is not None:
            self.current.speech_s = 0.0

    def first_audio(self, latency_s: float | None) -> None:
        if self.current is not None and self.current.latency_s is None:
            self.current.latency_s = latency_s

    def reply_audio(self, seconds: float) -> None:
        if self.current is not None:
            self.current.reply_s += seconds

    def tokens(self, count: int) -> None:
        if self.current is not None:
            self.current.tokens += max(0, count)

    def interrupted(self) -> None:
        """The server's `interrupted`: it cuts the answer that is playing. When a barge-in
        already began a new turn (the press, or the voice trigger, comes before the server's
        `interrupted`), the cut answer was the previous turn's, summed up as interrupted then;
        the new turn has no answer yet and is not marked."""
        if self.current is not None and self.current.reply_s > 0:
            self.current.interrupted = True

    def heard(self, text: str) -> None:
        if self.current is not None and text:
            self.current.heard.append(text)

    def said(self, text: str) -> None:
        if self.current is not None and text:
            self.current.said.append(text)

    def finish(self, outcome: str) -> None:
        """Write the summary of the current turn (if any) and forget it."""
        record, self.current = self.current, None
        if record is None:
            return
        fields = record.fields(outcome)
        log.info("%s", record.text(outcome), extra=fields)
        self.summaries += 1
        turn = {"TURN_ID": record.number}
        if record.heard:
            heard = printable("".join(record.heard).strip(), TRANSCRIPT_LIMIT)
            log.debug("turn %d heard: %s", record.number, heard, extra=turn)
        if record.said:
            said = printable("".join(record.said).strip(), TRANSCRIPT_LIMIT)
            log.debug("turn %d said: %s", record.number, said, extra=turn)
