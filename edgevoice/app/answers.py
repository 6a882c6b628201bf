"""What the server says, handled for the conversation (`edgevoice.app.conversation`).

`server_event(conversation, link, event)` runs on the controller, between two inputs, for each
event of the current connection: reply audio to the speaker (the first chunk of an answer
stops the resending of the turn and gives the turn's latency), `interrupted` and
`turnComplete`, the tool calls (a built-in answered at once, a command of ours run as a task
whose `ToolDone` comes back through `tool_done`), resumption handles, goAway, usage and
transcripts. `retiring_event` takes what matters from a connection being rotated away: its
newest handle.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from edgevoice.app.inputs import ToolDone
from edgevoice.app.link import Link, ToolAnswer
from edgevoice.app.tools import Answer
from edgevoice.live.events import (
    AudioChunk,
    FunctionCall,
    GoAway,
    InputTranscription,
    InteractionUpdate,
    Interrupted,
    OutputTranscription,
    ServerEvent,
    SessionResumptionUpdate,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    UsageMetadata,
)
from edgevoice.live.tools import EndConversation as EndConversationAction
from edgevoice.live.tools import Mute as MuteAction
from edgevoice.live.tools import SetVolume

if TYPE_CHECKING:
    from edgevoice.app.conversation import Conversation

log = logging.getLogger("edgevoice.conversation")


def server_event(c: Conversation, link: Link, event: ServerEvent) -> None:
    """An event of the current connection."""
    now = c.clock()
    match event:
        case AudioChunk(pcm=pcm, rate=rate):
            if c.discard_answer:
                return
            if not c.answering:
                c.answering = True
                c.supervisor.replay.clear()  # the model is on it: no more resending
                latency = None
                if c.turn_end_at is not None:
                    latency = now - c.turn_end_at
                    c.latency.add(latency)
                    c.turn_end_at = None
                c.turn_log.first_audio(latency)
            c.turn_log.reply_audio(len(pcm) / 2 / rate)
            c.speaker.play_answer(pcm, rate)
        case Interrupted():
            c.speaker.clear()
            c.answering = c.discard_answer = False
            c.interrupted = True
            c.turn_log.interrupted()
            log.info("the answer was interrupted")
        case TurnComplete():
            _turn_complete(c, event)
        case InteractionUpdate():
            if not event.continues:
                c.awaiting = False
                c.maybe_idle()
        case ToolCall(calls=calls):
            c.supervisor.replay.clear()  # the model is on the turn
            for call in calls:
                _tool_call(c, link, call)
        case ToolCallCancellation(ids=ids):
            cancelled = c.tools.cancel(ids)
            c.counters.tool_cancellations += cancelled
            log.info("the server cancelled %d tool call(s); %d were running", len(ids), cancelled)
            c.maybe_idle()
        case SessionResumptionUpdate(new_handle=handle, resumable=resumable):
            if resumable and handle:
                c.policy.new_handle(handle)
        case GoAway(time_left_seconds=left):
            link.going_away = True
            log.info(
                "the server ends this connection in %.0f s (goAway); moving to a new one at "
                "the next pause",
                left,
            )
            c.maybe_idle()
        case UsageMetadata(total_tokens=tokens):
            c.ledger.add_tokens(tokens, c.today())
            c.turn_log.tokens(tokens)
        case InputTranscription(text=text):
            c.turn_log.heard(text)
        case OutputTranscription(text=text):
            c.turn_log.said(text)
        case _:
            pass  # thoughts, text parts, generationComplete: nothing to do


def retiring_event(c: Conversation, event: ServerEvent) -> None:
    """An event of the connection being rotated away: only a newer handle matters."""
    match event:
        case SessionResumptionUpdate(new_handle=handle, resumable=resumable):
            if resumable and handle:
                c.policy.new_handle(handle)
        case _:
            pass


def _turn_complete(c: Conversation, event: TurnComplete) -> None:
    c.discard_answer = False
    if c.answering or c.speaker.playing:
        c.speaker.answer_done()
    c.answering = False
    if c.interrupted:  # the end of the answer that was cut; the new turn's is still due
        c.interrupted = False
    else:
        if event.silent and not event.continues:
            log.info("the model chose not to answer (a silent turn)")
        if not event.continues:
            c.awaiting = False
            c.timers.cancel("watchdog")
            c.supervisor.replay.clear()
            if c.turn is None:
                c.turn_log.finish("silent" if event.silent else "answered")
    c.maybe_idle()


def _tool_call(c: Conversation, link: Link, call: FunctionCall) -> None:
    c.counters.tool_calls += 1
    answer = c.tools.call(link, call, link.setup)
    if answer is not None:
        _answer_tool(c, link, call.id, call.name, answer)


def tool_done(c: Conversation, done: ToolDone) -> None:
    """A command of ours finished: its answer goes out on the connection that asked."""
    link = c.link
    if done.link is not link or link is None or not link.up:
        log.info("tool %s finished after its connection ended; answer dropped", done.name)
        return
    _answer_tool(c, link, done.call_id, done.name, c.tools.done(done, link.setup))


def _answer_tool(c: Conversation, link: Link, call_id: str, name: str, answer: Answer) -> None:
    link.outbox.put(ToolAnswer(call_id, name, answer.response, answer.scheduling, answer.blocking))
    match answer.action:
        case SetVolume(percent=percent):
            c.set_volume(percent)
        case MuteAction():
            c.set_muted(True, "the model (mute tool)")
        case EndConversationAction():
            c.ending = True
            log.info("the model ends the conversation after its reply")
        case None:
            pass
