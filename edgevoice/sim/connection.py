"""One simulated Live connection's life: setup, reading frames, faults, time limits, the end.

The first frame must be a valid `setup` (protocol doc sections 2, 10); it is answered with
`setupComplete`, and every later frame goes to the conversation (conversation.py), whose answers
go out through `send`. The connection is closed by the first of:

- a rule the client broke (a `SimClose` from the parser, the rules or the conversation);
- a fault knob (faults.py) at its moment;
- the setup timeout (`SimOptions.setup_timeout_s`: no setup frame in time);
- the end of the connection's life (`SimOptions.lifetime_s` after setupComplete, with a goAway
  `go_away_notice_s` before): 1011 "Deadline expired ..." or 1008 "The operation was aborted."
  as `SimOptions.lifetime_close` says (section 6.2);
- the client closing or going away.

Tasks: the reader handles client frames in order (yielding to the event loop after each, so a
client that floods the simulator cannot starve the others); one answer task at a time; timers.
All time is `SimOptions.now` / `SimOptions.sleep`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from edgevoice.redact import printable
from edgevoice.sim import reasons, rules, wire
from edgevoice.sim.conversation import Conversation
from edgevoice.sim.faults import Fault, FaultAction, FaultBook, Firing, Moment
from edgevoice.sim.options import SimOptions
from edgevoice.sim.outcome import SimAbort, SimClose, aborted, invalid
from edgevoice.sim.proto import FrameRejected, ParseContext, parse_client_frame
from edgevoice.sim.reasons import CloseSpec
from edgevoice.sim.recorder import ConnectionRecord, ReceivedFrame, Recorder, SentFrame, SimEvent
from edgevoice.sim.resumption import ResumableSession, ResumptionStore

log = logging.getLogger("edgevoice.sim")

MALFORMED_FRAME = b'{"serverContent": {"modelTurn": {"parts": [{"inlineData": '
UNKNOWN_MESSAGE = {"simulatorUnknownMessage": {"note": "a message type no client knows"}}


class Shared:
    """What all connections of one server share."""

    def __init__(self, options: SimOptions, recorder: Recorder) -> None:
        self.options = options
        self.recorder = recorder
        self.store = ResumptionStore(options.handle_ttl_s, options.now)
        self.faults = FaultBook(options.faults)


def end_of_life(options: SimOptions, detail: str) -> SimClose:
    """The close that ends a connection's life (section 6.2), as `lifetime_close` chooses."""
    if options.lifetime_close == "aborted":
        return aborted(detail)
    return SimClose(CloseSpec(reasons.INTERNAL, reasons.DEADLINE, detail))


class Connection:
    def __init__(
        self,
        ws: ServerConnection,
        record: ConnectionRecord,
        shared: Shared,
        *,
        credential_ok: bool,
        refusal: CloseSpec | None,
        refuse_at_once: CloseSpec | None = None,
    ) -> None:
        self.ws = ws
        self.record = record
        self.shared = shared
        self.options = shared.options
        self.credential_ok = credential_ok
        self.refusal = refusal  # closes the connection when its setup frame arrives
        self.refuse_at_once = refuse_at_once  # closes it right after the upgrade
        self.ctx = ParseContext(
            record.api_version, record.method.endswith("Constrained"), None, self.options.served
        )
        self.conversation: Conversation | None = None
        self.session: ResumableSession | None = None
        self._stalled = False
        self._ready = False  # setupComplete went out
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._setup_timer: asyncio.Task[None] | None = None
        self._outcome: asyncio.Future[BaseException | None] | None = None

    @property
    def stalled(self) -> bool:
        return self._stalled

    # --- life of the connection ------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._outcome = loop.create_future()
        self.spawn(self._start)
        if self.options.setup_timeout_s is not None:
            self._setup_timer = self.spawn(self._setup_timeout, self.options.setup_timeout_s)
        try:
            outcome = await self._outcome
        finally:  # also when the server shuts down and cancels this handler
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if isinstance(outcome, SimClose):
            await self._close(outcome.spec)
        elif isinstance(outcome, SimAbort):
            self._abort()
        else:
            self._client_closed()
        if self.session is not None:
            self.shared.store.detach(self.session)
        self.record.open = False
        self.shared.recorder.add(
            SimEvent(
                "close",
                self.record.id,
                code=self.record.close_code,
                reason=self.record.close_reason or "",
                detail=self.record.close_detail,
                closed_by=self.record.closed_by,
            )
        )

    def spawn(
        self, function: Callable[..., Coroutine[Any, Any, None]], *args: Any
    ) -> asyncio.Task[None]:
        """Run `function(*args)` as a task of this connection; its errors decide the outcome."""
        # The coroutine is made inside the task, so a task cancelled before it runs leaves no
        # never-awaited coroutine behind.
        task = asyncio.get_running_loop().create_task(self._guard(function, *args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, function: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        try:
            await function(*args)
        except (SimClose, SimAbort) as decided:
            self._finish(decided)
        except FrameRejected as rejected:
            self._finish(SimClose(rejected.close))
        except ConnectionClosed:
            self._finish(None)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a simulator bug: fail loudly, like a server's 1011
            log.exception("connection %d: simulator error", self.record.id)
            self.shared.recorder.internal_errors.append(f"{type(error).__name__}: {error}")
            self._finish(
                SimClose(CloseSpec(reasons.INTERNAL, reasons.INTERNAL_ERROR, f"bug: {error}"))
            )

    def _finish(self, outcome: BaseException | None) -> None:
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_result(outcome)

    async def _start(self) -> None:
        if self.refuse_at_once is not None:
            raise SimClose(self.refuse_at_once)
        await self.moment(Moment.CONNECT)
        await self._read_loop()
        self._finish(None)

    async def _close(self, spec: CloseSpec) -> None:
        self.record.close_code = spec.code
        self.record.close_reason = spec.wire_reason
        self.record.close_detail = spec.detail
        self.record.closed_by = "server"
        log.info(
            "connection %d: closing %d %s (%s)",
            self.record.id,
            spec.code,
            printable(spec.wire_reason),
            printable(spec.detail),
        )
        # Read on (and discard) until the client's close frame: frames it sent before it saw
        # ours would otherwise fill the socket's queue, websockets would pause reading, and
        # the handshake (and the session this connection holds) would hang until the close
        # timeout, where a service answers the close at once.
        drain = asyncio.get_running_loop().create_task(self._discard_until_closed())
        try:
            await self.ws.close(spec.code, spec.wire_reason)
        finally:
            drain.cancel()
            await asyncio.gather(drain, return_exceptions=True)

    async def _discard_until_closed(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in self.ws:
                pass

    def _abort(self) -> None:
        self.record.close_code = 1006
        self.record.closed_by = "abort"
        self.record.close_detail = "fault: TCP connection dropped without a close frame"
        log.info("connection %d: dropping the TCP connection", self.record.id)
        self.ws.transport.abort()

    def _client_closed(self) -> None:
        received = self.ws.protocol.close_rcvd
        self.record.closed_by = "client"
        self.record.close_code = received.code if received is not None else 1006
        self.record.close_reason = received.reason if received is not None else ""
        log.info("connection %d: client closed (%s)", self.record.id, self.record.close_code)

    def _stall(self) -> None:
        """Stop answering: cancel everything but the reader, which keeps recording."""
        self._stalled = True
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current and task is not self._reader:
                task.cancel()
        log.info("connection %d: stalled (fault)", self.record.id)

    # --- what the conversation uses (answering.Link) ---------------------------------------
    async def send(self, message: dict[str, Any]) -> None:
        if self._stalled:
            return
        data = wire.encode(message)
        payload: str | bytes = data.decode("utf-8") if self.options.text_frames else data
        self.record.sent.append(SentFrame(payload, message))
        await self.ws.send(payload)

    async def _send_raw(self, data: bytes) -> None:
        payload: str | bytes = data.decode("utf-8") if self.options.text_frames else data
        self.record.sent.append(SentFrame(payload, None))
        await self.ws.send(payload)

    def event(self, event: SimEvent) -> None:
        self.shared.recorder.add(replace(event, connection=self.record.id))

    def turn_completed(self) -> int:
        self.record.turns += 1
        return self.record.turns

    # --- faults and timers -----------------------------------------------------------------
    async def moment(self, moment: Moment, n: int = 0) -> None:
        for fault in self.shared.faults.due(moment, n):
            await self._act(fault, f"fault {fault.action.value}@{fault.when}")

    @property
    def set_up(self) -> bool:
        """setupComplete was sent and the connection is still being served."""
        return self._ready and self.record.open and not self._stalled

    def strike(self, fault: Fault) -> None:
        """Carry `fault`'s action out now (its moment is ignored), in a task of this
        connection: what it decides (a close, an abort) ends the connection as at a moment."""
        self.spawn(self._act, fault, f"fault {fault.action.value} (struck now)")

    async def _act(self, fault: Fault, detail: str) -> None:
        log.info("connection %d: %s", self.record.id, detail)
        self.shared.faults.firings.append(Firing(self.record.id, detail, self.options.now()))
        action = fault.action
        if action is FaultAction.CLOSE:
            raise SimClose(CloseSpec(fault.code, fault.reason, detail))
        if action is FaultAction.QUOTA:
            raise SimClose(CloseSpec(reasons.INTERNAL, reasons.QUOTA, detail))
        if action is FaultAction.UNAVAILABLE:
            raise SimClose(CloseSpec(reasons.INTERNAL, reasons.UNAVAILABLE, detail))
        if action is FaultAction.ABORTED:
            raise aborted(detail)
        if action is FaultAction.ABORT:
            raise SimAbort(detail)
        if action is FaultAction.STALL:
            self._stall()
        elif action is FaultAction.MALFORMED:
            await self._send_raw(MALFORMED_FRAME)
        elif action is FaultAction.UNKNOWN:
            await self.send(UNKNOWN_MESSAGE)
        elif action is FaultAction.OVERSIZED:
            await self._send_raw(wire.oversized_frame())
        elif action is FaultAction.GOAWAY:
            self.spawn(self._go_away, fault.time_left_s, "goaway fault: time is up")

    async def _go_away(self, time_left_s: float, detail: str) -> None:
        await self.send({"goAway": {"timeLeft": wire.duration(time_left_s)}})
        await self.options.sleep(time_left_s)
        raise end_of_life(self.options, detail)

    async def _lifetime(self, total_s: float, notice_s: float) -> None:
        await self.options.sleep(max(0.0, total_s - notice_s))
        await self._go_away(min(notice_s, total_s), "connection lifetime ended")

    async def _setup_timeout(self, seconds: float) -> None:
        await self.options.sleep(seconds)
        raise SimClose(
            CloseSpec(
                reasons.SETUP_TIMEOUT_CODE,
                reasons.SETUP_TIMEOUT_REASON,
                f"no setup frame within {seconds:g} s",
            )
        )

    # --- reading -------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        self._reader = asyncio.current_task()
        index = 0
        async for raw in self.ws:
            index += 1
            if index == 1 and self._setup_timer is not None:
                self._setup_timer.cancel()
            frame = ReceivedFrame(index, raw, isinstance(raw, str))
            self.record.received.append(frame)
            if self._stalled:
                continue
            try:
                await self._handle(frame)
            except FrameRejected as rejected:
                frame.error = rejected.close.detail or rejected.close.reason
                raise SimClose(rejected.close) from None
            except SimClose as close:
                frame.error = close.spec.detail or close.spec.reason
                raise
            await self.moment(Moment.FRAME, index)
            # Fairness: a client whose frames are already buffered must not hold the loop.
            await asyncio.sleep(0)

    async def _handle(self, frame: ReceivedFrame) -> None:
        if frame.index == 1:
            await self._first_frame(frame)
            return
        parsed = parse_client_frame(frame.raw, self.ctx)
        frame.kind, frame.body = parsed.kind, parsed.body
        assert self.conversation is not None
        await self.conversation.handle(parsed.kind, parsed.body)

    async def _first_frame(self, frame: ReceivedFrame) -> None:
        # The service upgrades first and answers the setup frame with the refusal (section 6.4).
        if self.refusal is not None:
            raise SimClose(self.refusal)
        if not self.credential_ok:
            raise SimClose(
                CloseSpec(reasons.INVALID_ARGUMENT, reasons.BAD_API_KEY, "credential refused")
            )
        parsed = parse_client_frame(frame.raw, self.ctx)
        frame.kind, frame.body = parsed.kind, parsed.body
        if parsed.kind != "setup":
            raise invalid(f"the first message must be setup, got {parsed.kind} (section 2.1)")
        info = rules.check_setup(parsed.body, self.ctx, self.options.served)
        store = self.shared.store
        if info.handle:
            self.session = store.resume(info.handle, info.model, self.record.id)
        else:
            self.session = store.new_session(info.model, self.record.id)
        self.ctx = replace(self.ctx, family=info.family)
        self.record.setup = parsed.body
        self.record.resumed = bool(info.handle)
        self.conversation = Conversation(self, info, self.session, store)
        await self.moment(Moment.SETUP)
        if self._stalled:  # never answers the setup
            return
        session_id = secrets.token_hex(8) if self.options.session_id else ""
        await self.send(wire.setup_complete(session_id))
        self._ready = True
        self.event(SimEvent("setup", 0, detail="resumed" if info.handle else "new"))
        log.info(
            "connection %d: setup complete (%s, %s VAD%s)",
            self.record.id,
            printable(info.model),
            "automatic" if info.auto_vad else "manual",
            ", resumed" if info.handle else "",
        )
        if self.options.lifetime_s is not None:
            self.spawn(self._lifetime, self.options.lifetime_s, self.options.go_away_notice_s)
        await self.moment(Moment.READY)
