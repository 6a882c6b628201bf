"""Frame accounting: every microphone frame the daemon put into a turn reached the simulator
exactly once, across every connection it rotated through. No I/O.

The two sides, counted independently:

- the daemon: `turn_frames` in its status (frames the microphone delivered that became part of
  a turn, pre-roll included), read before and after each turn: `DaemonTurn`s;
- the simulator: the audio inside each activityStart ... activityEnd it received, per
  connection, in order (`rig.wire.turns_of`), in 20 ms frames of 16 kHz PCM.

A turn whose connection ends before the model is on it is sent again, whole, on the next
connection (the supervisor's replay). So the simulator may hold a turn twice: a first copy,
cut short or complete, as the last turn of a connection, and the whole turn as the first of the
next connection, starting with the same bytes. `delivered` keeps the last copy of each turn;
the first copies are `resent`, and must be byte-for-byte the start of the copy that replaced
them (or the audio would differ: something lost or doubled in the switch). Then the final
copies, in order, must carry exactly the frames the daemon counted for its turns, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from edgevoice.rig.wire import MIC_MIME, WireError, audio_outside_turns, turns_of, wire
from edgevoice.sim import ConnectionRecord

FRAME_BYTES = 640  # 20 ms of 16 kHz 16-bit mono: one microphone frame as the daemon sends it


@dataclass(frozen=True)
class WireTurn:
    """One turn as the simulator received it on one connection."""

    connection: int
    pcm: bytes = field(repr=False)
    ended: bool

    @property
    def frames(self) -> float:
        return len(self.pcm) / FRAME_BYTES


@dataclass(frozen=True)
class DaemonTurn:
    """What the daemon counted for one turn (or a few, when one step began more than one)."""

    turns: tuple[int, ...]  # the daemon's turn numbers
    frames: int
    outcome: str = ""  # the summary line's outcome (answered, interrupted, lost, ...)


@dataclass
class WireRead:
    """The simulator's side: its turns in order, and what broke the rules on the way."""

    turns: list[WireTurn] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    frames_dropped_from_record: int = 0  # the record's budget dropped frames: can't count


def read_wire(records: Iterable[ConnectionRecord]) -> WireRead:
    """Every connection's turns, in connection order (they follow one another in time)."""
    out = WireRead()
    for record in sorted(records, key=lambda r: r.id):
        out.frames_dropped_from_record += record.received.dropped
        items = wire(record)
        outside = audio_outside_turns(items)
        if outside:
            out.problems.append(f"connection {record.id}: {outside} bytes of audio outside a turn")
        mimes = {item.mime for item in items if item.kind == "audio"} - {MIC_MIME}
        if mimes:
            out.problems.append(f"connection {record.id}: audio as {sorted(map(str, mimes))}")
        try:
            turns = turns_of(items)
        except WireError as error:
            out.problems.append(f"connection {record.id}: {error}")
            continue
        out.turns += [WireTurn(record.id, turn.pcm, turn.ended) for turn in turns]
    return out


def delivered(turns: Sequence[WireTurn]) -> tuple[list[WireTurn], list[WireTurn]]:
    """(the final copy of each turn, the first copies a later connection replaced)."""
    final: list[WireTurn] = []
    resent: list[WireTurn] = []
    for index, turn in enumerate(turns):
        after = turns[index + 1] if index + 1 < len(turns) else None
        replaced = (
            after is not None
            and after.connection != turn.connection  # the last turn of its connection
            and after.pcm.startswith(turn.pcm)  # and the next one starts with all of it
        )
        (resent if replaced else final).append(turn)
    return final, resent


@dataclass
class FrameCheck:
    """The verdict on the frames (see the module docstring)."""

    daemon_turns: int = 0
    daemon_frames: int = 0
    wire_turns: int = 0  # final copies
    wire_frames: float = 0.0
    resent_turns: int = 0
    resent_frames: float = 0.0
    mismatches: list[str] = field(default_factory=list)  # one line each, the first few

    @property
    def lost(self) -> float:
        return max(0.0, self.daemon_frames - self.wire_frames)

    @property
    def duplicated(self) -> float:
        return max(0.0, self.wire_frames - self.daemon_frames)

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.daemon_frames == self.wire_frames


MAX_MISMATCHES = 10


def check_frames(daemon: Sequence[DaemonTurn], wire_read: WireRead) -> FrameCheck:
    """Pair the daemon's turns with the final copies on the wire, in order, and compare."""
    final, resent = delivered(wire_read.turns)
    check = FrameCheck(
        daemon_turns=sum(len(d.turns) for d in daemon),
        daemon_frames=sum(d.frames for d in daemon),
        wire_turns=len(final),
        wire_frames=sum(t.frames for t in final),
        resent_turns=len(resent),
        resent_frames=sum(t.frames for t in resent),
    )
    problems = check.mismatches
    problems += wire_read.problems
    if wire_read.frames_dropped_from_record:
        problems.append(
            f"the simulator's record dropped {wire_read.frames_dropped_from_record} frames "
            "(its budget): the wire cannot be counted; raise record_bytes_*"
        )
    if check.daemon_turns != check.wire_turns:
        problems.append(
            f"the daemon began {check.daemon_turns} turns; the simulator received "
            f"{check.wire_turns}"
        )
    at = 0
    for group in daemon:
        copies = final[at : at + len(group.turns)]
        at += len(group.turns)
        got = sum(t.frames for t in copies)
        numbers = ",".join(map(str, group.turns))
        if len(copies) < len(group.turns):
            problems.append(f"turn {numbers} ({group.frames} frames): not on the wire")
        elif got != group.frames:
            where = ",".join(str(t.connection) for t in copies)
            problems.append(
                f"turn {numbers}: the daemon put {group.frames} frames in it; the simulator "
                f"received {got:g} (connection {where})"
            )
        elif not all(t.ended for t in copies) and group.outcome in ("answered", "interrupted"):
            problems.append(f"turn {numbers}: answered but its activityEnd never arrived")
    if len(final) > at:
        problems.append(f"{len(final) - at} turns on the wire the daemon did not count")
    del problems[MAX_MISMATCHES:]
    return check
