"""The control socket's requests, answered by the conversation (`edgevoice ctl`).

`answer_request(conversation, request)` runs on the controller, between two inputs, and
returns the reply's fields, or raises `ControlError` with the one-line reason a request was
refused (a press while muted, a turn while the device needs attention). Every request is
answered at once: `say` is answered when the text is queued, not when the model has spoken.

- press / release: hold-to-talk, whatever button.mode says (release with no open turn is a
  no-op: `{"ended": false}`, so a late release after a limit ended the turn is not an error);
- toggle: a click; cancel: end the conversation; mute / unmute; volume N;
- say TEXT: realtimeInput.text as the user's turn (a barge-in while the device speaks);
- status: `status(conversation)`, the state, counters, latency percentiles and task count.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from edgevoice import control_protocol as cp
from edgevoice.live.json_view import JsonValue

if TYPE_CHECKING:
    from edgevoice.app.conversation import Conversation


def answer_request(conversation: Conversation, request: cp.Request) -> dict[str, JsonValue]:
    """The reply's fields for `request`; ControlError when it is refused."""
    refusal: str | None = None
    match request:
        case cp.Press():
            refusal = conversation.press("control")
        case cp.Release():
            return {"ended": conversation.release()}
        case cp.Toggle():
            refusal = conversation.click("control")
        case cp.Cancel():
            conversation.end_conversation("control")
        case cp.Mute():
            conversation.set_muted(True, "edgevoice ctl")
        case cp.Unmute():
            conversation.set_muted(False, "edgevoice ctl")
        case cp.Say(text=text):
            refusal = conversation.say(text)
        case cp.Volume(percent=percent):
            return {"volume": conversation.set_volume(percent)}
        case cp.Status():
            return status(conversation)
    if refusal is not None:
        raise cp.ControlError(refusal)
    return {"state": conversation.device_state().value}


def status(conversation: Conversation) -> dict[str, JsonValue]:
    """The daemon's state, counters and latencies: what `edgevoice ctl status` prints."""
    c = conversation
    link = c.link
    up = link is not None and link.up
    age = None
    if link is not None and up and link.opened_at is not None:
        age = round(c.clock() - link.opened_at, 1)
    held, dropped = c.usage_totals()
    attention = c.policy.attention
    last = c.policy.last_error
    day = c.ledger.day(c.today())
    counters: dict[str, JsonValue] = {
        **vars(c.counters),
        "held_back_frames": held,
        "uplink_dropped_frames": dropped,
        "muted_frames": c.mic.frames_muted,
        **c.device_counters(),
    }
    return {
        "state": c.device_state().value,
        "muted": c.mic.muted,
        "connected": up,
        "connection_age_s": age,
        "model": c.policy.model,
        "fallback_model": c.policy.on_fallback,
        "resumable": c.policy.resumable,
        "volume": c.speaker.volume,
        "needs_attention": {
            "headline": attention.headline,
            "error": c.policy.attention_detail,
            "fix": attention.fix,
        }
        if attention is not None
        else None,
        "last_error": {"message": last.message, "class": last.error_class.value}
        if last is not None
        else None,
        "counters": counters,
        "today": {
            "audio_sent_s": round(day.audio_seconds, 1),
            "audio_cap_s": c.ledger.daily_audio_s,
            "tokens": day.tokens,
            "turns": day.turns,
        },
        "latency": c.latency.summary(),
        "tasks": len(asyncio.all_tasks()),  # a leak shows as a count that keeps growing
    }
