"""The user's side of a conversation: turn-taking, activity, input audio, tool responses.

After setup, every client frame lands here (connection.py parses it first):

- realtimeInput (protocol doc section 3.2): with automatic activity detection off, the client
  brackets each turn with activityStart/activityEnd; otherwise the simulator's energy VAD finds
  the turns. Breaking the activity rules closes 1007 (reasons.VAD_RULE_*). Audio is PCM16 at the
  rate its mimeType states ("audio/pcm" alone is 16 kHz); a rate that changes within the session
  closes 1007 "Sample rate changed from previously X to Y, which is not supported.".
- While a blocking function call is pending, realtime audio, text or activityStart closes 1008
  "The operation was aborted." on 2.5 and 3.1; on 3.8 new input (activityStart, text, speech the
  VAD hears, clientContent) cancels the call with toolCallCancellation instead, and audio alone is
  accepted (it is not yet input the model acts on: unverified). An activityEnd whose
  activityStart came before the call is fine (section 3.2).
- clientContent (section 3.3): interrupts generation; 2.5 any time, 3.1 only to seed history,
  3.8 any time with explicit roles. turnComplete with the user's turn last asks for an answer.
- toolResponse (section 3.4): answers pending calls (calls.py).

Audio kept per user turn is bounded (`SimOptions.max_heard_s`); the turn's length is still
counted in full.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgevoice.sim import rules
from edgevoice.sim.answering import Link, Speaker
from edgevoice.sim.calls import Calls
from edgevoice.sim.energy_vad import VAD_RATE, EnergyVad, VadEventKind
from edgevoice.sim.model import UserTurn
from edgevoice.sim.models import ClientContent
from edgevoice.sim.outcome import aborted, invalid, vad_violation
from edgevoice.sim.pcm import Samples, pcm16_to_float, resample
from edgevoice.sim.reasons import sample_rate_changed
from edgevoice.sim.resumption import ResumableSession, ResumptionStore


class HeardAudio:
    """The audio of one manual activity: the first `limit` samples kept, all of it counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[Samples] = []
        self.kept = 0
        self.total = 0

    def add(self, samples: Samples) -> None:
        self.total += samples.size
        room = self.limit - self.kept
        if room > 0:
            part = samples[:room]
            self.parts.append(part)
            self.kept += part.size

    def turn(self, text: str) -> UserTurn:
        audio = np.concatenate(self.parts) if self.parts else np.zeros(0, np.float32)
        return UserTurn(audio.astype(np.float32), text, self.total / VAD_RATE)


class Conversation:
    def __init__(
        self,
        link: Link,
        info: rules.SetupInfo,
        session: ResumableSession,
        store: ResumptionStore,
    ) -> None:
        self.link = link
        self.info = info
        self.rules = info.rules
        options = link.options
        self.limit = round(options.max_heard_s * VAD_RATE)
        self.vad = EnergyVad(
            threshold_dbfs=options.vad_threshold_dbfs,
            onset_ms=info.prefix_ms or 40,
            silence_ms=info.silence_ms or options.vad_silence_ms,
            max_samples=self.limit,
        )
        self.calls = Calls()
        self.speaker = Speaker(link, info, session, store, self.calls)
        self.activity_open = False
        self.heard = HeardAudio(self.limit)
        self.heard_text: list[str] = []  # realtime text inside a manual activity
        self.content_text: list[str] = []  # clientContent user text not yet answered
        self.history_closed = False  # 3.1: clientContent no longer allowed (section 3.3)
        self.input_rate: int | None = None  # the session's audio input rate, once known

    async def handle(self, kind: str, body: dict[str, Any]) -> None:
        if kind == "setup":
            raise invalid("setup is allowed only in the first message (section 2.1)")
        if kind == "realtimeInput":
            await self.realtime_input(rules.check_realtime_input(body))
        elif kind == "clientContent":
            await self.client_content(body)
        else:
            results = self.calls.answer(rules.check_tool_response(body))
            if results:
                await self.speaker.results_arrived(results)

    # --- realtime input (section 3.2) ------------------------------------------------------
    async def realtime_input(self, item: rules.RealtimeItem) -> None:
        auto = self.info.auto_vad
        if isinstance(item, rules.Audio | rules.Text | rules.ActivityStart):
            self._blocking_gate(item)
        if isinstance(item, rules.Audio):
            samples = self._audio(item)
            if auto:
                await self._feed_vad(samples)
            elif self.activity_open:
                self.heard.add(samples)
        elif isinstance(item, rules.Text):
            if not auto and self.activity_open:
                self.heard_text.append(item.text)
            else:  # text counts as activity on its own (RealtimeInputConfig docs)
                await self._activity_started()
                self._turn_ended(UserTurn(np.zeros(0, np.float32), item.text))
        elif isinstance(item, rules.ActivityStart):
            if auto:
                raise vad_violation("activityStart while automatic activity detection is on")
            if self.activity_open:
                raise vad_violation("activityStart while an activity is already open")
            self.activity_open = True
            self.heard, self.heard_text = HeardAudio(self.limit), []
            await self._activity_started()
        elif isinstance(item, rules.ActivityEnd):
            if auto:
                raise vad_violation("activityEnd while automatic activity detection is on")
            if not self.activity_open:
                raise vad_violation("activityEnd without activityStart")
            self.activity_open = False
            self._turn_ended(self.heard.turn(" ".join(self.heard_text)))
            self.heard = HeardAudio(self.limit)
        elif isinstance(item, rules.AudioStreamEnd) and item.ended:
            if not auto:
                raise vad_violation("audioStreamEnd while automatic activity detection is off")
            event = self.vad.flush()
            if event is not None and event.audio is not None:
                self._turn_ended(UserTurn(event.audio, heard_s=event.seconds))
        # video: accepted and recorded; the parrot does not look

    def _blocking_gate(self, item: rules.RealtimeItem) -> None:
        """2.5 and 3.1 refuse input while a blocking call is pending (section 3.2)."""
        if self.calls.blocking_pending and not self.rules.cancels_blocking_call:
            what = type(item).__name__
            raise aborted(f"realtimeInput {what} while a blocking function call is pending")

    def _audio(self, item: rules.Audio) -> Samples:
        if self.input_rate is None:
            self.input_rate = item.rate
        elif item.rate != self.input_rate:
            raise invalid(
                f"input rate changed from {self.input_rate} to {item.rate} Hz",
                sample_rate_changed(self.input_rate, item.rate),
            )
        # The rate is bounded (rules.py), so this is at most a 2x upsampling of one frame.
        return resample(pcm16_to_float(item.pcm), item.rate, VAD_RATE)

    async def _feed_vad(self, samples: Samples) -> None:
        for event in self.vad.feed(samples):
            if event.kind is VadEventKind.START:
                await self._activity_started()
            elif event.audio is not None:
                self._turn_ended(UserTurn(event.audio, heard_s=event.seconds))

    async def _activity_started(self) -> None:
        speaker = self.speaker
        if self.calls.blocking_pending and self.rules.cancels_blocking_call:
            await speaker.interrupt()  # 3.8: new input cancels the blocking call (section 3.2)
        elif speaker.generating and self.info.interrupts:
            await speaker.interrupt()

    def _turn_ended(self, turn: UserTurn) -> None:
        self.history_closed = True
        self.speaker.enqueue(turn)

    # --- clientContent (section 3.3) ---------------------------------------------------------
    async def client_content(self, body: dict[str, Any]) -> None:
        turns = rules.check_client_content(body, self.rules)
        if self.rules.client_content is ClientContent.SEEDING_ONLY and (
            not self.info.history_in_client_content or self.history_closed
        ):
            raise invalid(
                f"clientContent on {self.rules.family.value} outside initial history seeding"
            )
        complete = bool(body.get("turnComplete", False))
        if complete:
            self.history_closed = True
        if self.speaker.generating:  # a clientContent message interrupts generation
            await self.speaker.interrupt()
        texts = [
            part["text"]
            for turn in turns
            if turn.get("role", "user") == "user"
            for part in turn.get("parts", [])
            if "text" in part
        ]
        self.content_text = (self.content_text + texts)[-64:]  # bounded; the newest count
        last_role = turns[-1].get("role", "user") if turns else "user"
        if complete:  # turnComplete starts generation when the user has the last word
            if last_role == "user":
                text = " ".join(self.content_text)
                self.speaker.enqueue(UserTurn(np.zeros(0, np.float32), text))
            self.content_text = []
