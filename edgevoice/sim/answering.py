"""The model's side of a conversation: the parrot's answers as the service streams them.

Each answer (protocol doc section 4.2): a not-resumable `sessionResumptionUpdate{}`, the input
transcription, an optional `toolCall`, audio chunks paced like real time interleaved with output
transcription, `generationComplete`, `turnComplete` with `usageMetadata` (3.1 and 3.8 send the
usage in an otherwise empty serverContent first; 3.8 adds `interactionStatus`), then a resumable
`sessionResumptionUpdate` when no call is pending. Barge-in sends `interrupted`, `turnComplete`,
then `toolCallCancellation` for the blocking calls it cancelled (section 10.5).

One answer runs at a time; what arrives meanwhile waits in a short queue (`MAX_QUEUED`; beyond
it, user turns are folded into the last queued one, so a flood of text turns costs one answer).
The answer task is spawned through the connection (`Link`), which decides its fate on errors.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from edgevoice.sim import wire
from edgevoice.sim.calls import Calls, Result
from edgevoice.sim.energy_vad import VAD_RATE
from edgevoice.sim.faults import Moment
from edgevoice.sim.model import (
    OUTPUT_MIME,
    OUTPUT_RATE,
    Reply,
    ResultTurn,
    UserTurn,
    answer,
    answer_results,
    audio_tokens,
    input_transcript,
    transcript_pieces,
)
from edgevoice.sim.options import SimOptions
from edgevoice.sim.recorder import EventKind, SimEvent
from edgevoice.sim.resumption import ResumableSession, ResumptionStore
from edgevoice.sim.rules import SetupInfo

MAX_QUEUED = 4
Prompt = UserTurn | ResultTurn


class Link(Protocol):
    """What the conversation needs from its connection (connection.py implements it)."""

    options: SimOptions

    async def send(self, message: dict[str, Any]) -> None: ...

    def spawn(
        self, function: Callable[..., Coroutine[Any, Any, None]], *args: Any
    ) -> asyncio.Task[None]: ...

    async def moment(self, moment: Moment, n: int = 0) -> None: ...

    def event(self, event: SimEvent) -> None: ...

    def turn_completed(self) -> int: ...

    @property
    def stalled(self) -> bool: ...


class Speaker:
    """Answers prompts one at a time; can be interrupted (barge-in, clientContent, 3.8 input)."""

    def __init__(
        self,
        link: Link,
        info: SetupInfo,
        session: ResumableSession,
        store: ResumptionStore,
        calls: Calls,
    ) -> None:
        self.link = link
        self.options = link.options
        self.info = info
        self.session = session
        self.store = store
        self.calls = calls
        self.queue: deque[Prompt] = deque()
        self.task: asyncio.Task[None] | None = None
        self.generating = False  # an answer that barge-in can cut is under way
        self.current = 0  # the turn number being answered (0: spoken function results)
        self.context_tokens = 0

    # --- what the conversation calls ----------------------------------------------------------
    def enqueue(self, prompt: Prompt, *, first: bool = False) -> None:
        if first:
            self.queue.appendleft(prompt)
        elif len(self.queue) >= MAX_QUEUED and isinstance(prompt, UserTurn):
            last = self.queue[-1]
            if isinstance(last, UserTurn):
                limit = round(self.options.max_heard_s * VAD_RATE)
                self.queue[-1] = last.merged(prompt, limit)
            else:
                self.queue.append(prompt)
        else:
            self.queue.append(prompt)
        self.kick()

    def kick(self) -> None:
        if self.task is not None or not self.queue or self.link.stalled:
            return
        prompt = self.queue.popleft()
        self.generating = True
        if isinstance(prompt, UserTurn):
            self.session.turns += 1  # counted now: a barge-in may cut it before it starts
            self.current = self.session.turns
            self.task = self.link.spawn(self._answer, prompt, self.current)
        else:
            self.current = 0
            self.task = self.link.spawn(self._speak_results, prompt)

    async def interrupt(self) -> None:
        """Barge-in: cut the answer, then interrupted, turnComplete, toolCallCancellation."""
        task = self.task
        if task is None or not self.generating:
            return
        task.cancel()
        await asyncio.wait([task])
        self.task = None
        self.generating = False
        await self.link.send(wire.server_content(interrupted=True))
        cancelled = self.calls.cancel_blocking()
        then = ({"toolCallCancellation": {"ids": cancelled}},) if cancelled else ()
        await self._turn_complete({}, self.current, interrupted=True, then=then)
        self.kick()

    async def results_arrived(self, results: list[Result]) -> None:
        """Non-blocking results: act on each as its scheduling says (calls.py)."""
        spoken = [r for r in results if r.scheduling != "SILENT"]
        interrupting = any(r.scheduling == "INTERRUPT" for r in spoken)
        if spoken:
            turn = ResultTurn(tuple((r.name, r.response) for r in spoken))
            if interrupting and self.generating:
                self.enqueue(turn, first=True)  # spoken right after the cut
                await self.interrupt()
            else:
                self.enqueue(turn, first=interrupting)
        elif (
            self.info.rules.interaction_status
            and self.task is None
            and not self.queue
            and not self.calls.outstanding
        ):
            # SILENT, and nothing else to say: only the interaction's end is reported (§4.2).
            await self._turn_complete({}, self.session.turns, interrupted=False, counted=False)

    # --- answering ----------------------------------------------------------------------------
    def _silent_turn(self, number: int) -> bool:
        every = self.options.silent_turn_every
        return every > 0 and self.info.proactive_audio and number % every == 0

    def _tool_due(self, number: int) -> bool:
        every = self.options.tool_call_every
        return every > 0 and number % every == 0 and self.options.tool_name in self.info.functions

    async def _answer(self, turn: UserTurn, number: int) -> None:
        info = self.info
        await self._resumption_update()
        if info.input_transcription:
            await self.link.send(
                wire.server_content(inputTranscription={"text": input_transcript(turn)})
            )
        prompt_tokens = {
            "AUDIO": self.context_tokens + audio_tokens(turn.seconds),
            "TEXT": len(turn.text) // 4,
        }
        if self._silent_turn(number):  # proactive audio chose silence (3.8, section 4.2)
            self.generating = False
            self.context_tokens = sum(prompt_tokens.values())
            usage = wire.usage_metadata(prompt_tokens, {})
            await self._turn_complete(usage, number, interrupted=False)
            self._done()
            return
        results: list[dict[str, Any]] = []
        if self._tool_due(number):
            name = self.options.tool_name
            call = self.calls.issue(name, blocking=info.functions[name])
            await self.link.send(
                {"toolCall": {"functionCalls": [{"id": call.id, "name": name, "args": {}}]}}
            )
            if call.blocking:
                results = await self.calls.blocking_results()
        reply = answer(
            turn,
            turn_number=number,
            speed=self.options.speed,
            threshold_dbfs=self.options.vad_threshold_dbfs,
            max_s=self.options.max_reply_s,
            tool_results=results,
        )
        await self._finish_reply(reply, prompt_tokens, number)

    async def _speak_results(self, turn: ResultTurn) -> None:
        await self._resumption_update()
        reply = answer_results(turn)
        await self._finish_reply(reply, {"AUDIO": self.context_tokens}, 0)

    async def _finish_reply(self, reply: Reply, prompt: dict[str, int], number: int) -> None:
        transcript = reply.transcript if self.info.output_transcription else ""
        late = await self._stream(reply.pcm, transcript)
        await self.link.send(wire.server_content(generationComplete=True))
        self.generating = False  # barge-in from here on starts a new turn, no interruption
        response = {"AUDIO": audio_tokens(reply.seconds)}
        self.context_tokens = sum(prompt.values()) + sum(response.values())
        usage = wire.usage_metadata(prompt, response)
        await self._turn_complete(usage, number, interrupted=False, late=late)
        self._done()

    def _done(self) -> None:
        self.task = None
        self.kick()

    async def _stream(self, pcm: bytes, transcript: str) -> str:
        """Send the reply audio in chunks paced like real time, with transcript pieces.

        Returns the transcript piece held back for after turnComplete (late_transcription).
        """
        options = self.options
        chunk_samples = max(1, round(OUTPUT_RATE * options.chunk_ms / 1000))
        chunk_bytes = chunk_samples * 2
        chunks = [pcm[i : i + chunk_bytes] for i in range(0, len(pcm), chunk_bytes)]
        pieces = transcript_pieces(transcript)
        late = pieces.pop() if options.late_transcription and pieces else ""
        by_chunk: dict[int, list[str]] = {}
        for index, piece in enumerate(pieces):
            by_chunk.setdefault(index * len(chunks) // len(pieces), []).append(piece)
        start = options.now()
        for index, chunk in enumerate(chunks):
            audio = {"modelTurn": {"parts": [wire.audio_chunk(chunk, OUTPUT_MIME)]}}
            texts = by_chunk.get(index, [])
            if self.info.rules.multi_part_events and texts:  # 3.1, 3.8: several parts
                await self.link.send(
                    wire.server_content(**audio, outputTranscription={"text": "".join(texts)})
                )
            else:  # 2.5: one content part per event
                await self.link.send(wire.server_content(**audio))
                for text in texts:
                    await self.link.send(wire.server_content(outputTranscription={"text": text}))
            if options.pace > 0:
                chunk_s = len(chunk) / 2 / OUTPUT_RATE
                delay = start + (index + 1) * chunk_s * options.pace - options.now()
                await options.sleep(max(0.0, delay))
            else:
                await asyncio.sleep(0)  # let other connections in
        return late

    async def _turn_complete(
        self,
        usage: dict[str, Any],
        number: int,
        *,
        interrupted: bool,
        then: tuple[dict[str, Any], ...] = (),
        late: str = "",
        counted: bool = True,
    ) -> None:
        """turnComplete (with usage and interactionStatus), `then`, a late transcript piece,
        a resumable handle, then the fault moment for this turn."""
        rules = self.info.rules
        content: dict[str, Any] = {"turnComplete": True}
        if rules.interaction_status:
            busy = self.calls.outstanding or bool(self.queue)
            content["interactionStatus"] = "IN_PROGRESS" if busy else "IDLE"
        if rules.multi_part_events and usage:  # usage in an otherwise empty serverContent
            await self.link.send({"serverContent": {}, "usageMetadata": usage})
            await self.link.send(wire.server_content(**content))
        else:
            message = wire.server_content(**content)
            if usage:
                message["usageMetadata"] = usage
            await self.link.send(message)
        for message in then:
            await self.link.send(message)
        if late:
            await self.link.send(wire.server_content(outputTranscription={"text": late}))
        completed = self.link.turn_completed()
        if counted:
            kind: EventKind = "turn" if number else "result"
            self.link.event(SimEvent(kind, 0, turn=number, interrupted=interrupted))
        await self._resumption_update()
        await self.link.moment(Moment.TURN, completed)

    async def _resumption_update(self) -> None:
        """A handle when the conversation can be resumed here, else `{}` (section 6.3).

        Not resumable while an answer is being generated or any call is pending (a handle
        taken before a pending call loses it: section 6.3; for non-blocking calls unverified).
        """
        if not self.info.resumption:
            return
        resumable = not self.generating and not self.calls.pending
        handle = self.store.issue(self.session) if resumable else ""
        await self.link.send(wire.resumption_update(handle))
