"""What `edgevoice demo` prints, as it happens: one labelled line per event.

    +12.34s  state    Listening
    +12.40s  you      $ edgevoice ctl press

`Screen` writes the lines (the time is since the demo started). Three readers turn what the
demo watches into lines:

- `SimWatcher`: the simulator's record, read incrementally: each connection's setup, each user
  turn it received (its audio between activityStart and activityEnd, its transcript), the
  reply going out (first audio, complete or interrupted);
- `daemon_line(...)`: the daemon's own log lines worth showing (the per-turn summary with the
  latency, transcripts from a real service, warnings and errors);
- STATUS= datagrams (and, from a daemon that sends none, the state `ctl status` reports).

Everything that came from outside (log lines, transcripts, status texts) goes through
`printable()` before it reaches the terminal.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from edgevoice.redact import printable
from edgevoice.rig.wire import MIC_RATE, REPLY_RATE
from edgevoice.sim import ConnectionRecord, Simulator

LABEL_WIDTH = 8
TEXT_LIMIT = 300  # characters of outside text in one line


class Screen:
    """Labelled, timestamped lines on `out`. `detail` lines are left out in CI mode."""

    def __init__(self, out: TextIO, *, ci: bool, started: float | None = None) -> None:
        self.out = out
        self.ci = ci
        self.started = time.monotonic() if started is None else started
        self.lines: list[str] = []

    def show(self, label: str, text: str, *, detail: bool = False, at: float | None = None) -> None:
        if detail and self.ci:
            return
        when = (time.monotonic() if at is None else at) - self.started
        line = f"{when:+7.2f}s  {label:<{LABEL_WIDTH}} {text}"
        self.lines.append(line)
        print(line, file=self.out, flush=True)

    def plain(self, text: str = "", *, detail: bool = False) -> None:
        """A line without time or label (headings, the closing summary)."""
        if detail and self.ci:
            return
        self.lines.append(text)
        print(text, file=self.out, flush=True)


# --------------------------------------------------------------------------------------------
# The simulator's side


@dataclass
class HeardTurn:
    """A user turn as the simulator received it."""

    number: int  # 1-based, in the order the turns ended, across connections
    connection: int
    audio_s: float = 0.0
    transcript: str = ""
    reply_s: float = 0.0
    first_audio_at: float | None = None
    outcome: str = ""  # "complete" | "interrupted" | "" (still going)


@dataclass
class _Cursor:
    received: int = 0  # frames of this connection already read (absolute count)
    sent: int = 0
    open_turn: float | None = None  # seconds of audio in the open activity, None when closed
    setup_shown: bool = False
    answering: HeardTurn | None = None


@dataclass
class SimWatcher:
    """Reads the simulator's record as it grows and prints what it received and sent.

    Call `poll()` often (the demo does every 50 ms); `turns` holds every user turn seen.
    `tag` ends each line that states a time or a latency ("[local simulator]").
    """

    sim: Simulator
    screen: Screen
    tag: str
    turns: list[HeardTurn] = field(default_factory=list)
    _cursors: dict[int, _Cursor] = field(default_factory=dict)
    _waiting: list[HeardTurn] = field(default_factory=list)  # ended, no answer yet

    def poll(self) -> None:
        for record in self.sim.connections:
            cursor = self._cursors.setdefault(record.id, _Cursor())
            self._read_received(record, cursor)
            self._read_sent(record, cursor)

    def _read_received(self, record: ConnectionRecord, cursor: _Cursor) -> None:
        log = record.received
        first = log.total - len(log)  # absolute index of log[0] (older frames were dropped)
        for frame in log[max(0, cursor.received - first) :]:
            body = frame.body or {}
            if frame.kind == "setup" and not cursor.setup_shown:
                cursor.setup_shown = True
                model = printable(str(body.get("model", "?")), 80)
                self.screen.show(
                    "sim",
                    f"connection {record.id}: setup for {model} "
                    f"({'resumed' if record.resumed else 'new'} session)",
                )
            elif frame.kind == "realtimeInput":
                self._realtime(record, cursor, _json(frame.raw))
        cursor.received = log.total

    def _realtime(self, record: ConnectionRecord, cursor: _Cursor, obj: Any) -> None:
        body = obj.get("realtimeInput") if isinstance(obj, dict) else None
        if not isinstance(body, dict):
            return
        if "activityStart" in body:
            cursor.open_turn = 0.0
        audio = body.get("audio")
        if isinstance(audio, dict) and cursor.open_turn is not None:
            cursor.open_turn += _pcm_seconds(audio.get("data"), MIC_RATE)
        if "activityEnd" in body and cursor.open_turn is not None:
            turn = HeardTurn(len(self.turns) + 1, record.id, audio_s=cursor.open_turn)
            self.turns.append(turn)
            self._waiting.append(turn)
            cursor.open_turn = None

    def _read_sent(self, record: ConnectionRecord, cursor: _Cursor) -> None:
        log = record.sent
        first = log.total - len(log)
        for frame in log[max(0, cursor.sent - first) :]:
            content = (frame.message or {}).get("serverContent")
            if isinstance(content, dict):
                self._content(record, cursor, content)
        cursor.sent = log.total

    def _content(self, record: ConnectionRecord, cursor: _Cursor, content: dict[str, Any]) -> None:
        text = content.get("inputTranscription", {}).get("text")
        if isinstance(text, str):
            turn = self._answering(cursor)
            if turn is not None and not turn.transcript:
                turn.transcript = text
                self._show_heard(turn)
        audio_s = 0.0
        for part in content.get("modelTurn", {}).get("parts", []):
            data = part.get("inlineData", {}).get("data") if isinstance(part, dict) else None
            audio_s += _pcm_seconds(data, REPLY_RATE)
        if audio_s:
            turn = self._answering(cursor)
            if turn is None:
                return
            if turn.first_audio_at is None:
                if not turn.transcript:  # no input transcription asked for
                    self._show_heard(turn)
                turn.first_audio_at = time.monotonic()
                self.screen.show(
                    "reply", f"turn {turn.number}: the first reply audio goes out {self.tag}"
                )
            turn.reply_s += audio_s
        turn = cursor.answering
        if turn is None:
            return
        if content.get("interrupted"):
            turn.outcome = "interrupted"
            self.screen.show(
                "reply",
                f"turn {turn.number}: interrupted after {turn.reply_s:.1f} s of reply audio "
                f"(the server stops answering) {self.tag}",
            )
            cursor.answering = None
        elif content.get("turnComplete"):
            turn.outcome = "complete"
            self.screen.show(
                "reply", f"turn {turn.number}: complete, {turn.reply_s:.1f} s of reply audio sent"
            )
            cursor.answering = None

    def _answering(self, cursor: _Cursor) -> HeardTurn | None:
        """The turn being answered on this connection: the oldest ended turn not answered."""
        if cursor.answering is None and self._waiting:
            cursor.answering = self._waiting.pop(0)
        return cursor.answering

    def _show_heard(self, turn: HeardTurn) -> None:
        said = f'; its transcript: "{printable(turn.transcript, TEXT_LIMIT)}"'
        self.screen.show(
            "heard",
            f"turn {turn.number}: {turn.audio_s:.1f} s of your audio between activityStart and "
            f"activityEnd{said if turn.transcript else ''}",
        )


def _json(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _pcm_seconds(data: object, rate: int) -> float:
    if not isinstance(data, str):
        return 0.0
    try:
        return len(base64.b64decode(data, validate=True)) / 2 / rate
    except (binascii.Error, ValueError):
        return 0.0


# --------------------------------------------------------------------------------------------
# The daemon's side

# `HH:MM:SS.mmm LEVEL logger: message  field=value ...` (app/log_setup.HumanFormatter)
_LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (?P<level>[A-Z]+) (?P<logger>[\w.]+): (?P<msg>.*)$")
_SUMMARY = re.compile(r"^turn (?P<turn>\d+): ")
_TRANSCRIPT = re.compile(r"^turn (?P<turn>\d+) (?P<what>heard|said): (?P<text>.*)$")


@dataclass(frozen=True)
class DaemonLine:
    level: str
    logger: str
    message: str  # without the structured fields appended on stderr


def parse_daemon_line(line: str) -> DaemonLine | None:
    """A stderr line of the daemon split into level, logger and message, or None when it is
    not a log line (a library's own output)."""
    match = _LOG_LINE.match(line)
    if match is None:
        return None
    message = match["msg"]
    # Structured fields follow two spaces: `message  turn_id=3 ...`.
    message = re.split(r"  (?=[a-z_]+=)", message, maxsplit=1)[0]
    return DaemonLine(match["level"], match["logger"], message)


@dataclass
class DaemonLines:
    """Shows the daemon's log lines a person watching the demo wants, as they arrive.

    - the per-turn summary (`turn 3: button, 2.4 s of speech, reply after 640 ms, ...`, the
      daemon's own latency measurement) as `latency`, tagged with what it was measured against;
    - with `transcripts` (a real service), the heard/said transcript lines;
    - every WARNING and ERROR line (kept in `problems` too), and, as detail, the INFO lines
      about turns, barge-ins and connections.
    """

    screen: Screen
    tag: str
    transcripts: bool
    summaries: dict[int, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    on_summary: Callable[[int, str], None] | None = None

    def __call__(self, raw: str) -> None:
        line = parse_daemon_line(raw)
        if line is None:
            if "Traceback" in raw:
                self.problems.append(printable(raw, TEXT_LIMIT))
            return
        message = printable(line.message, TEXT_LIMIT)
        if line.logger == "edgevoice.turns":
            if (m := _SUMMARY.match(line.message)) is not None and line.level == "INFO":
                self.summaries[int(m["turn"])] = message
                self.screen.show("latency", f"{message} {self.tag}")
                if self.on_summary is not None:
                    self.on_summary(int(m["turn"]), message)
                return
            if (m := _TRANSCRIPT.match(line.message)) is not None:
                if self.transcripts:
                    what = "heard" if m["what"] == "heard" else "said"
                    text = printable(m["text"], TEXT_LIMIT)
                    self.screen.show(what, f'turn {m["turn"]}: "{text}"')
                return
        if line.level in ("WARNING", "ERROR", "CRITICAL"):
            self.problems.append(f"{line.level} {message}")
            self.screen.show("daemon", f"{line.level.lower()}: {message}")
        elif line.level == "INFO" and _interesting(line.message):
            self.screen.show("daemon", message, detail=True)


_INTERESTING = re.compile(
    r"^(turn \d+ (started|ended)|barge-in|connected to|connecting|the answer was interrupted|"
    r"edgevoice is running|stopping|stopped)"
)


def _interesting(message: str) -> bool:
    return _INTERESTING.match(message) is not None
