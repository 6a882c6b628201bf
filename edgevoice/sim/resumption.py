"""Session resumption: conversations that outlive connections, and the handles that name them.

Rules (protocol doc section 6.3): a handle the simulator issued resumes its conversation (the
turn counter continues from where the handle was taken); it stays valid for `ttl_s` (2 h) after
the conversation's last connection ended; an unknown or expired handle closes 1008
"BidiGenerateContent session not found"; resuming while the conversation's previous socket is
still open closes 1011. The model must stay the same (section 6.3); a different one is refused
with 1007 (the real service's reaction is not known, so the generic text is used).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from edgevoice.sim import reasons
from edgevoice.sim.proto import FrameRejected
from edgevoice.sim.reasons import CloseSpec


@dataclass
class Conversation:
    id: int
    model: str
    turns: int = 0  # answers the model has started
    attached: int | None = None  # the connection serving it now
    ended_at: float | None = None  # clock() when its last connection ended


@dataclass(frozen=True)
class HandleInfo:
    conversation: Conversation
    turns: int  # the turn counter when the handle was issued


class ResumptionStore:
    def __init__(self, ttl_s: float, clock: Callable[[], float]) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._handles: dict[str, HandleInfo] = {}
        self._next_id = 1

    def new_conversation(self, model: str, connection: int) -> Conversation:
        conversation = Conversation(self._next_id, model, attached=connection)
        self._next_id += 1
        return conversation

    def issue(self, conversation: Conversation) -> str:
        """A fresh handle for the conversation as it is now (at a turn boundary)."""
        handle = secrets.token_urlsafe(48)
        self._handles[handle] = HandleInfo(conversation, conversation.turns)
        return handle

    def resume(self, handle: str, model: str, connection: int) -> Conversation:
        """Attach the handle's conversation to a new connection, or raise FrameRejected."""
        info = self._handles.get(handle)
        conversation = info.conversation if info else None
        if info is None or conversation is None:
            raise FrameRejected(
                CloseSpec(reasons.NOT_FOUND, reasons.SESSION_NOT_FOUND, "unknown handle")
            )
        if conversation.attached is not None:
            raise FrameRejected(
                CloseSpec(
                    reasons.RESUME_WHILE_OPEN_CODE,
                    reasons.RESUME_WHILE_OPEN_REASON,
                    f"connection {conversation.attached} still serves this session",
                )
            )
        ended = conversation.ended_at if conversation.ended_at is not None else self.clock()
        if self.clock() - ended > self.ttl_s:
            raise FrameRejected(
                CloseSpec(reasons.NOT_FOUND, reasons.SESSION_NOT_FOUND, "expired handle")
            )
        if model != conversation.model:
            raise FrameRejected(
                CloseSpec(
                    reasons.INVALID_ARGUMENT,
                    reasons.GENERIC_INVALID,
                    f"resuming a {conversation.model} session with {model}",
                )
            )
        conversation.turns = info.turns
        conversation.attached = connection
        conversation.ended_at = None
        return conversation

    def detach(self, conversation: Conversation) -> None:
        """The conversation's connection ended; its handles start to age."""
        conversation.attached = None
        conversation.ended_at = self.clock()
