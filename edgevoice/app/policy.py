"""The connection policy: what the next connection sends, when it may be made, and what each
failure means. No tasks and no sockets here; the supervisor (`edgevoice.app.supervisor`) acts
on its answers.

- **The next setup** (`setup()`): the model in use (live.model, or the fallback it moved to)
  and the newest resumable handle while it is within live.resumption_window (handles are dated
  with wall-clock time, so they survive a restart).
- **Backoff** (`failed()` -> `Verdict.delay`): each failure in a row takes the next delay of an
  exponential backoff with jitter and a cap (`edgevoice.app.backoff`, injected); a THROTTLED
  error (quota) waits `reconnect.throttled_delay` on top; a refused handle retries at once
  without it. `wait_left()` says how long the next attempt must still wait. The run of
  failures resets (`stable()`) once a connection has been up for `reconnect.stable_after`, or
  was closed by edgevoice itself.
- **The error policy** (`edgevoice.errors.disposition`): fatal errors put the device in the
  needs-attention state (`refusal()`), which lasts until a reload or restart, or until
  `retry_after` for a service that keeps failing; bounded failures (1008/1011 closes, bad
  frames) count toward `MAX_CONSECUTIVE_FAILURES`.
- **Fallback models** (`live.fallback_models`): when the model in use is not found, or keeps
  failing, the next one in the list is used (the journal says so once per switch); the handle
  is dropped (it belongs to the model that issued it). The device goes back to live.model at a
  reload, a restart, or the slow retry of a needs-attention state.
- **Expected ends** (`ended()`): a connection the server ends while nothing was in progress,
  or after its goAway, is the routine end of a connection's life (protocol doc 6.2): the
  handle rules apply, but it is no failure and does not back off.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from edgevoice.app.backoff import Delays
from edgevoice.app.session_config import LivePlan
from edgevoice.errors import (
    Action,
    ConnectError,
    Disposition,
    EdgevoiceError,
    ErrorClass,
    SessionClosedError,
    disposition,
    error_class_of,
)
from edgevoice.live.frames import Setup
from edgevoice.ports import ResumptionHandle, StateStore
from edgevoice.redact import printable

log = logging.getLogger("edgevoice.policy")

REASON_LIMIT = 100  # characters of an error in STATUS= and the reconnect line


@dataclass(frozen=True)
class LastError:
    """The most recent connection error, for `edgevoice ctl status`."""

    message: str
    error_class: ErrorClass
    at: float  # wall-clock time (Unix seconds)


@dataclass(frozen=True)
class Verdict:
    """What the policy decided about one failed or ended connection.

    - `disposition`: `errors.disposition()`'s answer (after any fallback switch).
    - `delay`: seconds to wait before the next attempt (0: at once).
    - `attempt`: failures in a row, this one included (0 for an expected end).
    - `reason`: the error in a few printable words, for STATUS= and the journal.
    - `fallback`: the model switched to because of this error, else None.
    - `counted`: the failure counts toward the backoff (False for an expected end).
    """

    disposition: Disposition
    delay: float
    attempt: int
    reason: str
    fallback: str | None = None
    counted: bool = True

    @property
    def attention(self) -> bool:
        return self.disposition.action is Action.ATTENTION


def describe(error: BaseException) -> str:
    """One printable line for any error (ours carry their own words)."""
    if isinstance(error, EdgevoiceError):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return printable(text, 300)


def short_reason(error: BaseException) -> str:
    """The error in a few words: "close 1011: Internal error encountered.", "HTTP 503", or
    the first clause of its message."""
    if isinstance(error, SessionClosedError):
        reason = error.reason or "no reason given"
        return printable(f"close {error.code}: {reason}", REASON_LIMIT)
    if isinstance(error, ConnectError) and error.http_status is not None:
        return f"HTTP {error.http_status}"
    head = describe(error).split("; ")[0]
    return printable(head, REASON_LIMIT)


class ConnectionPolicy:
    """See the module docstring.

    `handle`: the saved resumption handle (from the state store), reused while younger than
    `window_s` (live.resumption_window) and resumption is on. `delays`: the backoff generators
    (`edgevoice.app.backoff.delays_from`); `throttled_s`: reconnect.throttled_delay. `wall` is
    wall-clock time (handles are dated with it); `clock` is monotonic.
    """

    def __init__(
        self,
        plan: LivePlan,
        store: StateStore,
        handle: ResumptionHandle | None,
        *,
        resumption: bool,
        window_s: float,
        delays: Delays,
        throttled_s: float,
        wall: Callable[[], float],
        clock: Callable[[], float],
    ) -> None:
        self.plan = plan
        self._store = store
        self._resumption = resumption
        self._window_s = window_s
        self._delays_factory = delays
        self._delays: Iterator[float] = delays()
        self._throttled_s = throttled_s
        self._wall = wall
        self._clock = clock
        self.handle = handle if resumption else None
        self.model_index = 0
        self.attempt = 0  # failures in a row (the backoff's position)
        self.consecutive = 0  # bounded failures in a row (errors.MAX_CONSECUTIVE_FAILURES)
        self.retry_at: float | None = None  # monotonic: no attempt before this
        self.last_verdict: Verdict | None = None
        self.attention: Disposition | None = None
        self.attention_detail = ""
        self._attention_retry_at: float | None = None
        self.last_error: LastError | None = None
        self.connections = 0

    # -- the next connection -----------------------------------------------------------------

    @property
    def model(self) -> str:
        """The model the next connection asks for (bare id)."""
        return self.plan.setups[self.model_index].bare_model

    @property
    def on_fallback(self) -> bool:
        return self.model_index > 0

    @property
    def resumable(self) -> bool:
        """A handle is kept that the next connection would resume."""
        return self._usable_handle() is not None

    def setup(self) -> Setup:
        """The setup of the next connection: the model in use, resuming the saved handle when
        it is still within the conversation window."""
        handle = self._usable_handle()
        return self.plan.setup(self.model_index, handle.value if handle is not None else None)

    def _usable_handle(self) -> ResumptionHandle | None:
        handle = self.handle
        if handle is None:
            return None
        age = handle.age(self._wall())
        if not math.isfinite(age) or not 0 <= age <= self._window_s:
            log.info("the saved conversation is too old to resume; starting a new one")
            self.forget_handle()
            return None
        if handle.model is not None and handle.model != self.model:
            # E.g. saved on a fallback model before a restart (which goes back to live.model):
            # another model's handle would only be refused (section 6.3).
            log.info(
                "the saved conversation was with %s, not %s; starting a new one",
                printable(handle.model),
                self.model,
            )
            self.forget_handle()
            return None
        return handle

    def wait_left(self) -> float:
        """Seconds the next attempt must still wait (the backoff of the last failure)."""
        if self.retry_at is None:
            return 0.0
        return max(0.0, self.retry_at - self._clock())

    def refusal(self) -> Disposition | None:
        """The needs-attention disposition while connecting is refused, else None. Past a
        `retry_after`, one more attempt is allowed (on live.model again)."""
        if self.attention is None:
            return None
        retry_at = self._attention_retry_at
        if retry_at is not None and self._clock() >= retry_at:
            log.info("trying again after: %s", self.attention.headline)
            self.attention = None
            self._attention_retry_at = None
            self.retry_at = None
            if self.model_index:
                self.model_index = 0
                self.forget_handle()
                log.info("trying live.model %s again", self.model)
            return None
        return self.attention

    # -- what happened -----------------------------------------------------------------------

    def new_handle(self, value: str) -> None:
        """The server sent a resumable handle: keep it (and save it)."""
        if not self._resumption:
            return
        self.handle = ResumptionHandle(value, self._wall(), self.model)
        self._store.save_resumption(self.handle)

    def forget_handle(self) -> None:
        """The conversation is over (or its handle unusable): the next connection starts
        afresh."""
        if self.handle is not None:
            self.handle = None
            self._store.save_resumption(None)

    def connected(self) -> None:
        """A connection is up: no backoff is pending, no attention is needed."""
        self.connections += 1
        self.attention = None
        self._attention_retry_at = None
        self.retry_at = None

    def stable(self) -> None:
        """A connection was stable (up for reconnect.stable_after, or closed by us): the run
        of failures before it is over."""
        if self.attempt or self.consecutive:
            log.debug("the connection is stable: the backoff starts over")
        self._delays = self._delays_factory()
        self.attempt = 0
        self.consecutive = 0

    def ended(self, error: BaseException) -> Verdict:
        """A connection ended as connections do (idle, or after its goAway): the handle rules
        and the needs-attention state apply, the backoff does not."""
        result = disposition(error)
        if result.action is Action.ATTENTION:
            return self.failed(error)
        if not result.keep_handle:
            self.forget_handle()
        self.last_error = LastError(describe(error), error_class_of(error), self._wall())
        verdict = Verdict(result, 0.0, 0, short_reason(error), counted=False)
        self.last_verdict = verdict
        return verdict

    def failed(self, error: BaseException) -> Verdict:
        """What `error` (a failed or lost connection) means, applied: the delay before the
        next attempt, the handle dropped when it cannot be reused, a fallback model taken,
        or the needs-attention state entered."""
        reason = short_reason(error)
        result = disposition(error)
        if result.bounded:
            self.consecutive += 1
            result = disposition(error, consecutive=self.consecutive)
        if not result.keep_handle:
            self.forget_handle()
        self.last_error = LastError(describe(error), error_class_of(error), self._wall())
        if result.action is Action.ATTENTION and result.try_fallback:
            switched = self._next_model(reason)
            if switched is not None:
                # Retried at once, on the next model, without the handle (it was the old one's).
                at_once = Disposition(Action.RETRY, ErrorClass.TRANSIENT, keep_handle=False,
                                      backoff=False)  # fmt: skip
                verdict = Verdict(at_once, 0.0, self.attempt, reason, switched)
                self.last_verdict = verdict
                return verdict
        if result.action is Action.ATTENTION:
            self.attention = result
            self.attention_detail = describe(error)
            after = result.retry_after
            self._attention_retry_at = self._clock() + after if after is not None else None
            self.retry_at = self._attention_retry_at
            verdict = Verdict(result, after or 0.0, self.attempt, reason)
            self.last_verdict = verdict
            return verdict
        delay = 0.0
        if result.backoff:
            self.attempt += 1
            delay = next(self._delays)
            if result.error_class is ErrorClass.THROTTLED:
                delay += self._throttled_s
        self.retry_at = self._clock() + delay
        verdict = Verdict(result, delay, self.attempt, reason)
        self.last_verdict = verdict
        return verdict

    def _next_model(self, reason: str) -> str | None:
        """Move to the next fallback model, if there is one; its bare id."""
        if self.model_index + 1 >= len(self.plan.setups):
            return None
        old = self.model
        self.model_index += 1
        self.forget_handle()  # a handle belongs to the model that issued it (section 6.3)
        self._delays = self._delays_factory()
        self.attempt = 0
        self.consecutive = 0
        self.retry_at = None
        which = "live.model" if self.model_index == 1 else "the fallback model"
        log.warning(
            "%s %s failed (%s): switching to live.fallback_models[%d] %s until a reload or restart",
            which,
            old,
            reason,
            self.model_index - 1,
            self.model,
            extra={"ERROR_CLASS": ErrorClass.FATAL.value, "MODEL": self.model},
        )
        return self.model
