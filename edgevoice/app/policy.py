"""Connection policy, in one place: which setup the next connection sends (with which
resumption handle), what an error means for the device, and when connecting is refused.

For issue #9 the policy is simple: connections are opened on demand (a press, speech, `ctl
say`), never in the background. A failed or lost connection is reported once; the next trigger
tries again, resuming with the handle when the error allows (`edgevoice.errors.disposition`).
A fatal error (bad key, unknown model, an endpoint that cannot work) puts the device in the
needs-attention state: triggers are refused with the error earcon until `retry_after` (when the
policy gives one) or a restart. The supervisor of issue #10 (backoff, fallback models, rotation
on goAway, reload) grows from this class; the controller only asks it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from edgevoice.app.session_config import LivePlan
from edgevoice.errors import (
    Action,
    Disposition,
    EdgevoiceError,
    ErrorClass,
    disposition,
    error_class_of,
)
from edgevoice.live.frames import Setup
from edgevoice.ports import ResumptionHandle, StateStore
from edgevoice.redact import printable

log = logging.getLogger("edgevoice.policy")


@dataclass(frozen=True)
class LastError:
    """The most recent connection error, for `edgevoice ctl status`."""

    message: str
    error_class: ErrorClass
    at: float  # wall-clock time (Unix seconds)


def describe(error: BaseException) -> str:
    """One printable line for any error (ours carry their own words)."""
    if isinstance(error, EdgevoiceError):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return printable(text, 300)


class ConnectionPolicy:
    """See the module docstring.

    `handle`: the saved resumption handle (from the state store), reused while younger than
    `window_s` (live.resumption_window) and resumption is on. `wall` is wall-clock time
    (handles are dated with it, so they survive a restart); `clock` is monotonic.
    """

    def __init__(
        self,
        plan: LivePlan,
        store: StateStore,
        handle: ResumptionHandle | None,
        *,
        resumption: bool,
        window_s: float,
        wall: Callable[[], float],
        clock: Callable[[], float],
    ) -> None:
        self.plan = plan
        self._store = store
        self._resumption = resumption
        self._window_s = window_s
        self._wall = wall
        self._clock = clock
        self.handle = handle if resumption else None
        self.consecutive = 0  # bounded failures in a row (errors.MAX_CONSECUTIVE_FAILURES)
        self.attention: Disposition | None = None
        self.attention_detail = ""
        self._retry_at: float | None = None
        self.last_error: LastError | None = None
        self.connections = 0

    # -- the next connection -----------------------------------------------------------------

    @property
    def resumable(self) -> bool:
        """A handle is kept that the next connection would resume."""
        return self._usable_handle() is not None

    def setup(self) -> Setup:
        """The setup of the next connection: live.model, resuming the saved handle when it is
        still within the conversation window."""
        handle = self._usable_handle()
        return self.plan.setup(0, handle.value if handle is not None else None)

    def _usable_handle(self) -> ResumptionHandle | None:
        handle = self.handle
        if handle is None:
            return None
        age = handle.age(self._wall())
        if not math.isfinite(age) or not 0 <= age <= self._window_s:
            log.info("the saved conversation is too old to resume; starting a new one")
            self.forget_handle()
            return None
        return handle

    def refusal(self) -> Disposition | None:
        """The needs-attention disposition while connecting is refused, else None."""
        if self.attention is None:
            return None
        if self._retry_at is not None and self._clock() >= self._retry_at:
            log.info("trying again after: %s", self.attention.headline)
            self.attention = None
            self._retry_at = None
            return None
        return self.attention

    # -- what happened -----------------------------------------------------------------------

    def new_handle(self, value: str) -> None:
        """The server sent a resumable handle: keep it (and save it)."""
        if not self._resumption:
            return
        self.handle = ResumptionHandle(value, self._wall())
        self._store.save_resumption(self.handle)

    def forget_handle(self) -> None:
        """The conversation is over (or its handle unusable): the next connection starts
        afresh."""
        if self.handle is not None:
            self.handle = None
            self._store.save_resumption(None)

    def connected(self) -> None:
        self.connections += 1
        self.attention = None
        self._retry_at = None

    def stable(self) -> None:
        """A connection completed a turn: bounded failures before it no longer count."""
        self.consecutive = 0

    def failed(self, error: BaseException) -> Disposition:
        """What `error` (a failed or lost connection) means, applied: the handle dropped when
        it cannot be reused, the needs-attention state entered for a fatal error."""
        result = disposition(error)
        if result.bounded:
            self.consecutive += 1
            result = disposition(error, consecutive=self.consecutive)
        if not result.keep_handle:
            self.forget_handle()
        self.last_error = LastError(describe(error), error_class_of(error), self._wall())
        if result.action is Action.ATTENTION:
            self.attention = result
            self.attention_detail = describe(error)
            retry = result.retry_after
            self._retry_at = self._clock() + retry if retry is not None else None
        return result
