"""The soak's report: what happened, the verdict, as text for a person and JSON for a machine.

The verdict fails on: a frame lost or doubled (accounting.py), an injected fault no answered
turn followed, an fd, asyncio task or thread more at the end than at the start (both taken
idle), RSS grown past the limit, frames dropped by the capture queue or the uplink, a turn the
daemon reported failed, an answer the simulator spoke and the device did not play, a daemon
still busy long after a turn, a daemon that died, printed a traceback or did not stop
cleanly, a simulator bug.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from edgevoice.soak.accounting import FrameCheck
from edgevoice.soak.inject import Injected
from edgevoice.soak.probe import Sample

COMPLETED = ("answered", "interrupted")
SILENT_ANSWER = "answered, nothing played"  # the simulator spoke; the device played nothing


@dataclass
class TurnOutcome:
    number: int  # the daemon's turn number (0: it never began)
    kind: str  # button, voice, barge-in
    outcome: str  # the summary line's outcome; "not begun" when the daemon refused it
    step: int


@dataclass
class SoakReport:
    seed: int
    duration_s: float
    elapsed_s: float = 0.0
    turns: list[TurnOutcome] = field(default_factory=list)
    faults: list[Injected] = field(default_factory=list)
    frames: FrameCheck | None = None
    before: Sample | None = None
    after: Sample | None = None
    rss_max_kb: int = 0
    rss_growth_limit_mb: float = 10.0
    counters: dict[str, Any] = field(default_factory=dict)  # the daemon's, at the end
    connections: int = 0  # the simulator's
    problems: list[str] = field(default_factory=list)  # anything else that fails the run
    fd_detail: list[str] = field(default_factory=list)

    # -- the verdict ---------------------------------------------------------------------------

    def failures(self) -> list[str]:
        out = list(self.problems)
        if self.frames is None:
            out.append("the frames were not counted")
        else:
            out += [f"frames: {m}" for m in self.frames.mismatches]
            if not self.frames.mismatches and not self.frames.ok:
                out.append("frames: the totals differ")
        for fault in self.faults:
            if fault.fired_at is not None and fault.recovered_at is None:
                out.append(f"fault not recovered from: {fault.line()}")
        # "lost" is the daemon's word for an answer a fault cut short (the frames are counted
        # above); "failed" is a fault it did not get over, and a silent answer one it dropped.
        lost = [t for t in self.turns if t.outcome in ("failed", SILENT_ANSWER)]
        if lost:
            out.append(
                f"{len(lost)} turns failed: "
                + ", ".join(f"turn {t.number} ({t.outcome})" for t in lost)
            )
        for name in ("capture_dropped_frames", "uplink_dropped_frames"):
            if self.counters.get(name):
                out.append(f"{name}: {self.counters[name]}")
        if self.before is not None and self.after is not None:
            b, a = self.before, self.after
            for what, x, y in (("fds", b.fds, a.fds), ("threads", b.threads, a.threads),
                               ("asyncio tasks", b.tasks, a.tasks)):  # fmt: skip
                if y > x:
                    out.append(f"leak: {y - x} {what} more at the end ({x} -> {y})")
            growth = (a.rss_kb - b.rss_kb) / 1024
            if growth > self.rss_growth_limit_mb:
                out.append(f"RSS grew {growth:.1f} MB (limit {self.rss_growth_limit_mb:g} MB)")
        else:
            out.append("the daemon's resources were not sampled at both ends")
        return out

    @property
    def passed(self) -> bool:
        return not self.failures()

    # -- words ---------------------------------------------------------------------------------

    def text(self) -> str:
        lines = [
            f"edgevoice soak: seed {self.seed}, {self.elapsed_s:.0f} s "
            f"(asked {self.duration_s:g} s), the real daemon against the local simulator",
            f"  replay: edgevoice soak --seed {self.seed} --duration {self.duration_s:g}",
        ]
        outcomes = Counter(t.outcome for t in self.turns)
        kinds = Counter(t.kind for t in self.turns)
        done = sum(outcomes[o] for o in COMPLETED)
        lines.append(
            f"turns: {len(self.turns)} attempted ({_counts(kinds)}), {done} completed; "
            f"outcomes: {_counts(outcomes)}"
        )
        fired = [f for f in self.faults if f.fired_at is not None]
        recovered = [f for f in fired if f.recovered_at is not None]
        by_kind = _counts(Counter(f.kind.value for f in self.faults))
        lines.append(
            f"faults: {len(self.faults)} injected ({by_kind}), "
            f"{len(fired)} took effect, {len(recovered)} recovered from (an answered turn after it)"
        )
        for fault in self.faults:
            if fault.fired_at is None:
                lines.append(f"  never took effect (no connection came after it): {fault.line()}")
        if recovered:
            waits = sorted(
                f.recovered_at - f.fired_at
                for f in recovered
                if f.fired_at is not None and f.recovered_at is not None
            )
            lines.append(
                f"  fault -> next answered turn: median {waits[len(waits) // 2]:.1f} s, "
                f"max {waits[-1]:.1f} s"
            )
        if self.frames is not None:
            f = self.frames
            lines.append(
                f"frames: the daemon put {f.daemon_frames} microphone frames in "
                f"{f.daemon_turns} turns; the simulator received {f.wire_frames:g} in "
                f"{f.wire_turns} (plus {f.resent_frames:g} in {f.resent_turns} first copies "
                f"a reconnect sent again whole): {f.lost:g} lost, {f.duplicated:g} duplicated"
            )
        c = self.counters
        lines.append(
            f"daemon counters: connections {c.get('connections')}, reconnects "
            f"{c.get('reconnects')}, rotations {c.get('rotations')}, stalls {c.get('stalls')}, "
            f"connect failures {c.get('connect_failures')}, capture dropped "
            f"{c.get('capture_dropped_frames')}, uplink dropped {c.get('uplink_dropped_frames')}"
            f"; simulator connections {self.connections}"
        )
        if self.before is not None and self.after is not None:
            b, a = self.before, self.after
            lines.append(
                f"resources (idle, start -> end): RSS {b.rss_kb / 1024:.1f} -> "
                f"{a.rss_kb / 1024:.1f} MB ({(a.rss_kb - b.rss_kb) / 1024:+.1f}, limit "
                f"+{self.rss_growth_limit_mb:g}; peak {self.rss_max_kb / 1024:.1f}), fds "
                f"{b.fds} -> {a.fds}, asyncio tasks {b.tasks} -> {a.tasks}, threads "
                f"{b.threads} -> {a.threads}"
            )
        failures = self.failures()
        lines.append("verdict: " + ("PASS" if not failures else "FAIL"))
        lines += [f"  FAIL: {line}" for line in failures]
        if self.fd_detail:
            lines.append("  the daemon's fds at the end:")
            lines += [f"    {line}" for line in self.fd_detail]
        return "\n".join(lines)

    def as_json(self) -> str:
        f = self.frames
        data: dict[str, Any] = {
            "seed": self.seed,
            "duration_s": self.duration_s,
            "elapsed_s": round(self.elapsed_s, 1),
            "passed": self.passed,
            "failures": self.failures(),
            "turns": {
                "attempted": len(self.turns),
                "completed": sum(t.outcome in COMPLETED for t in self.turns),
                "outcomes": dict(Counter(t.outcome for t in self.turns)),
            },
            "faults": {
                "injected": len(self.faults),
                "fired": sum(x.fired_at is not None for x in self.faults),
                "recovered": sum(x.recovered_at is not None for x in self.faults),
                "by_kind": dict(Counter(x.kind.value for x in self.faults)),
            },
            "frames": None
            if f is None
            else {
                "daemon": f.daemon_frames,
                "simulator": f.wire_frames,
                "resent": f.resent_frames,
                "lost": f.lost,
                "duplicated": f.duplicated,
            },
            "before": None if self.before is None else vars(self.before),
            "after": None if self.after is None else vars(self.after),
            "rss_max_kb": self.rss_max_kb,
            "counters": self.counters,
        }
        return json.dumps(data, indent=2)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "none"
