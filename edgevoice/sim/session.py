"""One simulated Live connection: setup, turn-taking, the parrot's answers, faults.

The flow follows docs/live-protocol.md: the first frame must be a valid `setup` (sections 2, 10);
user activity is bracketed by activityStart/activityEnd when automatic activity detection is
disabled, or found by the simulator's energy VAD otherwise (section 3.2); each answer is
`sessionResumptionUpdate{}` (not resumable while generating), input transcription, an optional
blocking `toolCall`, audio chunks interleaved with output transcription, `generationComplete`,
`turnComplete` with `usageMetadata`, then a resumable `sessionResumptionUpdate` (section 4.2).
Barge-in sends `interrupted`, `turnComplete`, then `toolCallCancellation` for pending calls
(section 10.5).

Tasks: the reader handles client frames in order; one answer task at a time; a lifetime task
when a connection limit is set. The first of them to decide the connection's fate (a close, an
abort, or the client going away) ends the session.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from edgevoice.sim import reasons, rules, wire
from edgevoice.sim.energy_vad import VAD_RATE, EnergyVad, VadEventKind
from edgevoice.sim.faults import FaultAction, FaultBook, Moment
from edgevoice.sim.model import (
    OUTPUT_MIME,
    OUTPUT_RATE,
    UserTurn,
    answer,
    audio_tokens,
    transcript_pieces,
)
from edgevoice.sim.options import SimOptions
from edgevoice.sim.pcm import Samples, pcm16_to_float, resample
from edgevoice.sim.proto import FrameRejected, ParseContext, parse_client_frame
from edgevoice.sim.reasons import CloseSpec
from edgevoice.sim.recorder import ConnectionRecord, ReceivedFrame, Recorder, SentFrame, SimEvent
from edgevoice.sim.resumption import Conversation, ResumptionStore

log = logging.getLogger("edgevoice.sim")

MALFORMED_FRAME = b'{"serverContent": {"modelTurn": {"parts": [{"inlineData": '
UNKNOWN_MESSAGE = {"simulatorUnknownMessage": {"note": "a message type no client knows"}}


class SimClose(Exception):
    """End the session with this close frame."""

    def __init__(self, spec: CloseSpec) -> None:
        super().__init__(spec.detail or spec.reason)
        self.spec = spec


class SimAbort(Exception):
    """End the session by dropping the TCP connection (no close frame)."""


def _vad_violation(detail: str) -> SimClose:
    return SimClose(CloseSpec(reasons.VAD_RULE_CODE, reasons.VAD_RULE_REASON, detail))


def _invalid(detail: str) -> SimClose:
    return SimClose(CloseSpec(reasons.INVALID_ARGUMENT, reasons.GENERIC_INVALID, detail))


class Shared:
    """What all sessions of one server share."""

    def __init__(self, options: SimOptions, recorder: Recorder) -> None:
        self.options = options
        self.recorder = recorder
        self.store = ResumptionStore(options.handle_ttl_s, options.clock)
        self.faults = FaultBook(options.faults)


class Session:
    def __init__(
        self,
        ws: ServerConnection,
        record: ConnectionRecord,
        shared: Shared,
        *,
        credential_ok: bool,
        refusal: CloseSpec | None,
    ) -> None:
        self.ws = ws
        self.record = record
        self.shared = shared
        self.options = shared.options
        self.credential_ok = credential_ok
        self.refusal = refusal
        self.ctx = ParseContext(record.api_version, record.method.endswith("Constrained"))
        self.setup: rules.SetupInfo | None = None
        self.conversation: Conversation | None = None
        self.vad: EnergyVad | None = None
        self.stalled = False
        self.activity_open = False
        self.heard: list[Samples] = []
        self.heard_text: list[str] = []  # realtime text inside a manual activity
        self.content_text: list[str] = []  # clientContent user text not yet answered
        self.queue: deque[UserTurn] = deque()
        self.generating = False  # the model is producing an answer that barge-in can cut
        self.answer_task: asyncio.Task[None] | None = None
        self.pending_calls: dict[str, str] = {}  # id -> function name
        self.finished_calls: set[str] = set()  # answered or cancelled ids (late answers ignored)
        self.tool_results: list[dict[str, Any]] = []
        self.tool_done: asyncio.Future[None] | None = None
        self.history_closed = False  # 3.1: clientContent no longer allowed (section 3.3)
        self.context_tokens = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._outcome: asyncio.Future[BaseException | None] | None = None

    # --- life of the session ----------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._outcome = loop.create_future()
        self._spawn(self._start)
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
        if self.conversation is not None:
            self.shared.store.detach(self.conversation)
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

    def _spawn(
        self, function: Callable[..., Coroutine[Any, Any, None]], *args: Any
    ) -> asyncio.Task[None]:
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
        await self._moment(Moment.CONNECT)
        await self._read_loop()
        self._finish(None)

    async def _close(self, spec: CloseSpec) -> None:
        self.record.close_code = spec.code
        self.record.close_reason = spec.wire_reason
        self.record.close_detail = spec.detail
        self.record.closed_by = "server"
        log.info(
            "connection %d: closing %d %r (%s)",
            self.record.id,
            spec.code,
            spec.wire_reason,
            spec.detail,
        )
        await self.ws.close(spec.code, spec.wire_reason)

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
        self.stalled = True
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current and task is not self._reader:
                task.cancel()
        log.info("connection %d: stalled (fault)", self.record.id)

    # --- sending -------------------------------------------------------------------------
    async def send(self, message: dict[str, Any]) -> None:
        if self.stalled:
            return
        data = wire.encode(message)
        payload: str | bytes = data.decode("utf-8") if self.options.text_frames else data
        self.record.sent.append(SentFrame(payload, message))
        await self.ws.send(payload)

    async def _send_raw(self, data: bytes) -> None:
        payload: str | bytes = data.decode("utf-8") if self.options.text_frames else data
        self.record.sent.append(SentFrame(payload, None))
        await self.ws.send(payload)

    # --- faults --------------------------------------------------------------------------
    async def _moment(self, moment: Moment, n: int = 0) -> None:
        for fault in self.shared.faults.due(moment, n):
            detail = f"fault {fault.action.value}@{fault.when}"
            log.info("connection %d: %s", self.record.id, detail)
            action = fault.action
            if action is FaultAction.CLOSE:
                raise SimClose(CloseSpec(fault.code, fault.reason, detail))
            if action is FaultAction.QUOTA:
                raise SimClose(CloseSpec(reasons.INTERNAL, reasons.QUOTA, detail))
            if action is FaultAction.UNAVAILABLE:
                raise SimClose(CloseSpec(reasons.INTERNAL, reasons.UNAVAILABLE, detail))
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
                self._spawn(self._go_away, fault.time_left_s)

    async def _go_away(self, time_left_s: float) -> None:
        await self.send({"goAway": {"timeLeft": wire.duration(time_left_s)}})
        await asyncio.sleep(time_left_s)
        raise SimClose(CloseSpec(reasons.INTERNAL, reasons.DEADLINE, "connection lifetime ended"))

    async def _lifetime(self, total_s: float, notice_s: float) -> None:
        await asyncio.sleep(max(0.0, total_s - notice_s))
        await self._go_away(min(notice_s, total_s))

    # --- reading -------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        self._reader = asyncio.current_task()
        index = 0
        async for raw in self.ws:
            index += 1
            frame = ReceivedFrame(index, raw, isinstance(raw, str))
            self.record.received.append(frame)
            if self.stalled:
                continue
            try:
                await self._handle(frame)
            except FrameRejected as rejected:
                frame.error = rejected.close.detail or rejected.close.reason
                raise SimClose(rejected.close) from None
            except SimClose as close:
                frame.error = close.spec.detail or close.spec.reason
                raise
            await self._moment(Moment.FRAME, index)

    async def _handle(self, frame: ReceivedFrame) -> None:
        if frame.index == 1:
            await self._first_frame(frame)
            return
        parsed = parse_client_frame(frame.raw, self.ctx)
        frame.kind, frame.body = parsed.kind, parsed.body
        if parsed.kind == "setup":
            raise _invalid("setup is allowed only in the first message (section 2.1)")
        if parsed.kind == "realtimeInput":
            await self._realtime_input(rules.check_realtime_input(parsed.body))
        elif parsed.kind == "clientContent":
            await self._client_content(parsed.body)
        else:
            self._tool_response(rules.check_tool_response(parsed.body))

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
            raise _invalid(f"the first message must be setup, got {parsed.kind} (section 2.1)")
        info = rules.check_setup(parsed.body, self.ctx, self.options.models)
        store = self.shared.store
        if info.handle:
            self.conversation = store.resume(info.handle, info.model, self.record.id)
        else:
            self.conversation = store.new_conversation(info.model, self.record.id)
        self.setup = info
        self.ctx = ParseContext(self.ctx.api_version, self.ctx.constrained, info.model)
        self.record.setup = parsed.body
        self.record.resumed = bool(info.handle)
        self.vad = EnergyVad(
            threshold_dbfs=self.options.vad_threshold_dbfs,
            onset_ms=info.prefix_ms or 40,
            silence_ms=info.silence_ms or self.options.vad_silence_ms,
        )
        await self._moment(Moment.SETUP)
        if self.stalled:  # never answers the setup
            return
        session_id = secrets.token_hex(8) if self.options.session_id else ""
        await self.send(wire.setup_complete(session_id))
        self.shared.recorder.add(
            SimEvent("setup", self.record.id, detail="resumed" if info.handle else "new")
        )
        log.info(
            "connection %d: setup complete (%s, %s VAD%s)",
            self.record.id,
            info.model,
            "automatic" if info.auto_vad else "manual",
            ", resumed" if info.handle else "",
        )
        if self.options.lifetime_s is not None:
            self._spawn(self._lifetime, self.options.lifetime_s, self.options.go_away_notice_s)
        await self._moment(Moment.READY)

    # --- realtime input (section 3.2) ------------------------------------------------------
    async def _realtime_input(self, item: rules.RealtimeItem) -> None:
        info = self._info
        if isinstance(item, rules.Audio):
            samples = resample(pcm16_to_float(item.pcm), item.rate, VAD_RATE)
            if info.auto_vad:
                await self._feed_vad(samples)
            elif self.activity_open:
                self.heard.append(samples)
        elif isinstance(item, rules.Text):
            if not info.auto_vad and self.activity_open:
                self.heard_text.append(item.text)
            else:  # text counts as activity on its own (RealtimeInputConfig docs)
                await self._activity_started()
                self._turn_ended(UserTurn(np.zeros(0, np.float32), item.text))
        elif isinstance(item, rules.ActivityStart):
            if info.auto_vad:
                raise _vad_violation("activityStart while automatic activity detection is on")
            if self.activity_open:
                raise _vad_violation("activityStart while an activity is already open")
            self.activity_open = True
            self.heard, self.heard_text = [], []
            await self._activity_started()
        elif isinstance(item, rules.ActivityEnd):
            if info.auto_vad:
                raise _vad_violation("activityEnd while automatic activity detection is on")
            if not self.activity_open:
                raise _vad_violation("activityEnd without activityStart")
            self.activity_open = False
            audio = np.concatenate(self.heard) if self.heard else np.zeros(0, np.float32)
            self._turn_ended(UserTurn(audio, " ".join(self.heard_text)))
        elif isinstance(item, rules.AudioStreamEnd) and item.ended:
            if not info.auto_vad:
                raise _vad_violation("audioStreamEnd while automatic activity detection is off")
            assert self.vad is not None
            event = self.vad.flush()
            if event is not None and event.audio is not None:
                self._turn_ended(UserTurn(event.audio))
        # video: accepted and recorded; the parrot does not look

    async def _feed_vad(self, samples: Samples) -> None:
        assert self.vad is not None
        for event in self.vad.feed(samples):
            if event.kind is VadEventKind.START:
                await self._activity_started()
            elif event.audio is not None:
                self._turn_ended(UserTurn(event.audio))

    @property
    def _info(self) -> rules.SetupInfo:
        assert self.setup is not None
        return self.setup

    async def _activity_started(self) -> None:
        if self.generating and self._info.interrupts:
            await self._interrupt()

    def _turn_ended(self, turn: UserTurn) -> None:
        self.queue.append(turn)
        self._kick()

    def _kick(self) -> None:
        if self.answer_task is None and self.queue and not self.stalled:
            turn = self.queue.popleft()
            assert self.conversation is not None
            self.conversation.turns += 1  # counted now: a barge-in may cut it before it starts
            self.history_closed = True
            self.generating = True
            self.answer_task = self._spawn(self._answer, turn, self.conversation.turns)

    # --- clientContent (section 3.3) and toolResponse (section 3.4) --------------------------
    async def _client_content(self, body: dict[str, Any]) -> None:
        turns = rules.check_client_content(body)
        info = self._info
        if info.is_31 and (not info.history_in_client_content or self.history_closed):
            raise _invalid("clientContent on gemini-3.1 outside initial history seeding")
        complete = bool(body.get("turnComplete", False))
        if complete:
            self.history_closed = True
        if self.generating:  # a clientContent message interrupts generation
            await self._interrupt()
        texts = [
            part["text"]
            for turn in turns
            if turn.get("role", "user") == "user"
            for part in turn.get("parts", [])
            if "text" in part
        ]
        self.content_text.extend(texts)
        last_role = turns[-1].get("role", "user") if turns else "user"
        if complete:  # turnComplete starts generation when the user has the last word
            if last_role == "user":
                self._turn_ended(UserTurn(np.zeros(0, np.float32), " ".join(self.content_text)))
            self.content_text = []

    def _tool_response(self, responses: list[dict[str, Any]]) -> None:
        for response in responses:
            call_id = response["id"]
            if call_id in self.pending_calls:
                del self.pending_calls[call_id]
                self.finished_calls.add(call_id)
                self.tool_results.append(response)
            elif call_id not in self.finished_calls:
                # An id never issued: NOT_FOUND, reported as 1008 after a toolResponse
                # (section 6.4). A late answer to a cancelled call is ignored instead.
                raise SimClose(
                    CloseSpec(
                        reasons.NOT_FOUND,
                        reasons.REQUESTED_ENTITY_NOT_FOUND,
                        f"toolResponse for unknown function call id {call_id!r}",
                    )
                )
        if not self.pending_calls and self.tool_done is not None and not self.tool_done.done():
            self.tool_done.set_result(None)

    # --- answering (section 4.2) -------------------------------------------------------------
    def _tool_due(self, turn_number: int) -> bool:
        every = self.options.tool_call_every
        return (
            every > 0
            and turn_number % every == 0
            and self.options.tool_name in self._info.functions
        )

    async def _answer(self, turn: UserTurn, number: int) -> None:
        info = self._info
        await self._resumption_update(resumable=False)
        results: list[dict[str, Any]] = []
        if self._tool_due(number):
            results = await self._call_tool()
        reply = answer(
            turn,
            turn_number=number,
            speed=self.options.speed,
            threshold_dbfs=self.options.vad_threshold_dbfs,
            max_s=self.options.max_reply_s,
            tool_results=results,
        )
        if info.input_transcription:
            await self.send(
                wire.server_content(inputTranscription={"text": reply.input_transcript})
            )
        await self._stream(reply.pcm, reply.transcript if info.output_transcription else "")
        await self.send(wire.server_content(generationComplete=True))
        self.generating = False  # barge-in from here on starts a new turn, no interruption
        # The prompt is the whole context: earlier turns (counted as audio) plus this input.
        prompt = {
            "AUDIO": self.context_tokens + audio_tokens(turn.seconds),
            "TEXT": len(turn.text) // 4,
        }
        response = {"AUDIO": audio_tokens(reply.seconds)}
        self.context_tokens = sum(prompt.values()) + sum(response.values())
        await self._turn_complete(wire.usage_metadata(prompt, response), number, interrupted=False)
        self.answer_task = None
        self._kick()

    async def _call_tool(self) -> list[dict[str, Any]]:
        call_id = f"function-call-{secrets.token_hex(6)}"
        name = self.options.tool_name
        self.pending_calls = {call_id: name}
        self.tool_results = []
        self.tool_done = asyncio.get_running_loop().create_future()
        await self.send(
            {"toolCall": {"functionCalls": [{"id": call_id, "name": name, "args": {}}]}}
        )
        await self.tool_done
        return list(self.tool_results)

    async def _stream(self, pcm: bytes, transcript: str) -> None:
        """Send the reply audio in chunks paced like real time, with transcript pieces."""
        chunk_samples = max(1, round(OUTPUT_RATE * self.options.chunk_ms / 1000))
        chunk_bytes = chunk_samples * 2
        chunks = [pcm[i : i + chunk_bytes] for i in range(0, len(pcm), chunk_bytes)]
        pieces = transcript_pieces(transcript)
        by_chunk: dict[int, list[str]] = {}
        for index, piece in enumerate(pieces):
            by_chunk.setdefault(index * len(chunks) // len(pieces), []).append(piece)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index, chunk in enumerate(chunks):
            audio = {"modelTurn": {"parts": [wire.audio_chunk(chunk, OUTPUT_MIME)]}}
            texts = by_chunk.get(index, [])
            if self._info.is_31 and texts:  # 3.1: one event may carry several parts (section 4.2)
                await self.send(
                    wire.server_content(**audio, outputTranscription={"text": "".join(texts)})
                )
            else:  # 2.5: one content part per event
                await self.send(wire.server_content(**audio))
                for text in texts:
                    await self.send(wire.server_content(outputTranscription={"text": text}))
            chunk_s = len(chunk) / 2 / OUTPUT_RATE
            delay = start + (index + 1) * chunk_s * self.options.pace - loop.time()
            await asyncio.sleep(max(0.0, delay) if self.options.pace > 0 else 0)

    async def _turn_complete(
        self,
        usage: dict[str, Any],
        number: int,
        *,
        interrupted: bool,
        then: tuple[dict[str, Any], ...] = (),
    ) -> None:
        """turnComplete (with usage), `then` (e.g. toolCallCancellation), a resumable handle."""
        if self._info.is_31 and usage:  # 3.1 sends usage in an otherwise empty serverContent
            await self.send({"serverContent": {}, "usageMetadata": usage})
            await self.send(wire.server_content(turnComplete=True))
        else:
            message = wire.server_content(turnComplete=True)
            if usage:
                message["usageMetadata"] = usage
            await self.send(message)
        for message in then:
            await self.send(message)
        self.record.turns += 1
        self.shared.recorder.add(
            SimEvent("turn", self.record.id, turn=number, interrupted=interrupted)
        )
        await self._resumption_update(resumable=True)
        await self._moment(Moment.TURN, self.record.turns)

    async def _resumption_update(self, *, resumable: bool) -> None:
        if not self._info.resumption:
            return
        assert self.conversation is not None
        handle = self.shared.store.issue(self.conversation) if resumable else ""
        await self.send(wire.resumption_update(handle))

    async def _interrupt(self) -> None:
        """Barge-in: cut the answer, then interrupted, turnComplete, toolCallCancellation."""
        task = self.answer_task
        if task is None or not self.generating:
            return
        task.cancel()
        await asyncio.wait([task])
        self.answer_task = None
        self.generating = False
        assert self.conversation is not None
        await self.send(wire.server_content(interrupted=True))
        cancelled = list(self.pending_calls)
        self.pending_calls = {}
        self.finished_calls.update(cancelled)
        then = ({"toolCallCancellation": {"ids": cancelled}},) if cancelled else ()
        await self._turn_complete({}, self.conversation.turns, interrupted=True, then=then)
