"""Function calls the parrot makes, and what the client's toolResponses do to them.

A call is BLOCKING or NON_BLOCKING by its declaration (or the family's default, models.py):

- blocking: the answer waits for the response; while it is pending, realtime input is refused
  (2.5, 3.1: 1008) or cancels the call (3.8). Barge-in cancels it (toolCallCancellation).
- non-blocking: the answer goes on; the call stays outstanding until its response arrives, and
  the response's `scheduling` (FunctionResponse.scheduling, or `response.scheduling` where the
  tools guide shows it, section 3.4) decides what the model does with the result: SILENT adds it
  to the context only, WHEN_IDLE (the SDK's documented default) speaks about it once the model is
  not talking, INTERRUPT cuts the current answer and speaks about it now. A response with
  `willContinue: true` keeps the call outstanding (more responses follow). Barge-in does not
  cancel a non-blocking call: it runs in the background by definition (unverified choice).

A response to an id never issued closes 1008 "Requested entity was not found." (section 6.4); a
late response to a call that was cancelled or already answered is ignored. The memory of old
ids is bounded (the newest `MAX_FINISHED` are kept).
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from edgevoice.sim import reasons
from edgevoice.sim.outcome import SimClose
from edgevoice.sim.reasons import CloseSpec

MAX_FINISHED = 1024
SCHEDULINGS = ("SILENT", "WHEN_IDLE", "INTERRUPT")
DEFAULT_SCHEDULING = "WHEN_IDLE"  # FunctionResponseScheduling docstring in the SDK


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    blocking: bool


@dataclass(frozen=True)
class Result:
    """A non-blocking call's answer, and how the model is to use it."""

    name: str
    response: Any
    scheduling: str  # SILENT | WHEN_IDLE | INTERRUPT


def scheduling_of(response: dict[str, Any]) -> str:
    """The response's scheduling: the top-level field, else `response.scheduling`, else default."""
    value = response.get("scheduling")
    if value in SCHEDULINGS:
        return str(value)
    inner = response.get("response")
    if isinstance(inner, dict) and inner.get("scheduling") in SCHEDULINGS:
        return str(inner["scheduling"])
    return DEFAULT_SCHEDULING


class Calls:
    """The calls of one connection: pending ones, and ids already done with."""

    def __init__(self) -> None:
        self.pending: dict[str, Call] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._blocking_results: list[dict[str, Any]] = []
        self._blocking_done: asyncio.Future[None] | None = None

    @property
    def blocking_pending(self) -> bool:
        return any(call.blocking for call in self.pending.values())

    @property
    def outstanding(self) -> bool:
        """A non-blocking call is still running (3.8 reports IN_PROGRESS meanwhile)."""
        return any(not call.blocking for call in self.pending.values())

    def issue(self, name: str, *, blocking: bool) -> Call:
        call = Call(f"function-call-{secrets.token_hex(6)}", name, blocking)
        self.pending[call.id] = call
        if blocking:
            self._blocking_results = []
            self._blocking_done = asyncio.get_running_loop().create_future()
        return call

    async def blocking_results(self) -> list[dict[str, Any]]:
        """Wait until every pending blocking call is answered; their responses."""
        if self._blocking_done is not None:
            await self._blocking_done
        return list(self._blocking_results)

    def cancel_blocking(self) -> list[str]:
        """Cancel the pending blocking calls (barge-in, new input on 3.8); their ids."""
        ids = [call.id for call in self.pending.values() if call.blocking]
        for call_id in ids:
            self._finish(call_id)
        return ids

    def answer(self, responses: list[dict[str, Any]]) -> list[Result]:
        """Apply a toolResponse; the non-blocking results the model must now act on."""
        results: list[Result] = []
        for response in responses:
            call_id = response["id"]
            call = self.pending.get(call_id)
            if call is None:
                if call_id in self._finished:
                    continue  # raced a cancellation, or a second answer: ignored
                raise SimClose(
                    CloseSpec(
                        reasons.NOT_FOUND,
                        reasons.REQUESTED_ENTITY_NOT_FOUND,
                        f"toolResponse for unknown function call id {call_id!r}",
                    )
                )
            if call.blocking:
                self._finish(call_id)
                self._blocking_results.append(response)
                continue
            if not response.get("willContinue", False):
                self._finish(call_id)
            results.append(Result(call.name, response.get("response"), scheduling_of(response)))
        if (
            not self.blocking_pending
            and self._blocking_done is not None
            and not self._blocking_done.done()
        ):
            self._blocking_done.set_result(None)
        return results

    def _finish(self, call_id: str) -> None:
        self.pending.pop(call_id, None)
        self._finished[call_id] = None
        while len(self._finished) > MAX_FINISHED:
            self._finished.popitem(last=False)
