"""Session resumption: sessions that outlive connections, and the handles that name them.

Rules (protocol doc section 6.3): a handle the simulator issued resumes its session (the turn
counter continues from where the handle was taken); it stays valid for `ttl_s` (2 h) after the
session's last connection ended; an unknown or expired handle closes 1008 "BidiGenerateContent
session not found"; resuming while the session's previous socket is still open closes 1011. The
model must stay the same (section 6.3); a different one is refused with 1007 (the real service's
reaction is not known, so the generic text is used).

Memory is bounded: a session keeps its newest `MAX_HANDLES_PER_SESSION` handles (older ones of
the same session are forgotten: "not found"), the store keeps at most `MAX_HANDLES` in all (the
oldest go first), and handles of sessions past their TTL are dropped as new ones are issued.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from edgevoice.sim import reasons
from edgevoice.sim.proto import FrameRejected
from edgevoice.sim.reasons import CloseSpec

MAX_HANDLES_PER_SESSION = 16
MAX_HANDLES = 10_000


@dataclass(eq=False)
class ResumableSession:
    id: int
    model: str
    turns: int = 0  # answers the model has started
    attached: int | None = None  # the connection serving it now
    ended_at: float | None = None  # now() when its last connection ended
    handles: list[str] = field(default_factory=list)  # newest last


@dataclass(frozen=True)
class HandleInfo:
    session: ResumableSession
    turns: int  # the turn counter when the handle was issued


class ResumptionStore:
    def __init__(self, ttl_s: float, now: Callable[[], float]) -> None:
        self.ttl_s = ttl_s
        self.now = now
        self._handles: OrderedDict[str, HandleInfo] = OrderedDict()
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._handles)

    def new_session(self, model: str, connection: int) -> ResumableSession:
        session = ResumableSession(self._next_id, model, attached=connection)
        self._next_id += 1
        return session

    def issue(self, session: ResumableSession) -> str:
        """A fresh handle for the session as it is now (at a turn boundary)."""
        handle = secrets.token_urlsafe(48)
        self._handles[handle] = HandleInfo(session, session.turns)
        session.handles.append(handle)
        while len(session.handles) > MAX_HANDLES_PER_SESSION:
            self._handles.pop(session.handles.pop(0), None)
        self._prune()
        return handle

    def _prune(self) -> None:
        while len(self._handles) > MAX_HANDLES:
            self._handles.popitem(last=False)
        # The oldest handles first: drop them while their session has expired.
        now = self.now()
        while self._handles:
            oldest = next(iter(self._handles.values())).session
            if oldest.ended_at is None or now - oldest.ended_at <= self.ttl_s:
                break
            for handle in oldest.handles:
                self._handles.pop(handle, None)
            oldest.handles.clear()

    def resume(self, handle: str, model: str, connection: int) -> ResumableSession:
        """Attach the handle's session to a new connection, or raise FrameRejected."""
        info = self._handles.get(handle)
        if info is None:
            raise FrameRejected(
                CloseSpec(reasons.NOT_FOUND, reasons.SESSION_NOT_FOUND, "unknown handle")
            )
        session = info.session
        if session.attached is not None:
            raise FrameRejected(
                CloseSpec(
                    reasons.RESUME_WHILE_OPEN_CODE,
                    reasons.RESUME_WHILE_OPEN_REASON,
                    f"connection {session.attached} still serves this session",
                )
            )
        ended = session.ended_at if session.ended_at is not None else self.now()
        if self.now() - ended > self.ttl_s:
            raise FrameRejected(
                CloseSpec(reasons.NOT_FOUND, reasons.SESSION_NOT_FOUND, "expired handle")
            )
        if model != session.model:
            raise FrameRejected(
                CloseSpec(
                    reasons.INVALID_ARGUMENT,
                    reasons.GENERIC_INVALID,
                    f"resuming a {session.model} session with {model}",
                )
            )
        session.turns = info.turns
        session.attached = connection
        session.ended_at = None
        return session

    def detach(self, session: ResumableSession) -> None:
        """The session's connection ended; its handles start to age."""
        session.attached = None
        session.ended_at = self.now()
