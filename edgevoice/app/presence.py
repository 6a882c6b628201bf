"""What the device shows: the state its LED shows (`device_state`) and the line systemd's
STATUS= says (`status_line`), both derived from the conversation's view each time it changes.

The LED is LISTENING exactly while audio of the open turn is leaving the device (the sender
says when it starts and stops); ERROR while something needs a person (the connection policy's
attention), which outranks everything; MUTED while the microphone is muted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgevoice.ports import DeviceState

if TYPE_CHECKING:
    from edgevoice.app.conversation import Conversation


def device_state(c: Conversation) -> DeviceState:
    """What the LED shows now (LISTENING only while audio is leaving the device)."""
    link = c.link
    if c.policy.attention is not None:
        return DeviceState.ERROR
    if c.mic.muted:
        return DeviceState.MUTED
    if c.listening:
        return DeviceState.LISTENING
    if c.speaker.playing:
        return DeviceState.SPEAKING
    if link is not None and link.conn is None:
        return DeviceState.CONNECTING
    session = link.session if link is not None else None
    if c.tools.running or (session is not None and session.input_blocked):
        return DeviceState.THINKING  # the model waits for a tool, and the turn with it
    if c.turn is not None:
        # A turn is open on an open connection but its first frame has not left yet (it
        # does within milliseconds): not listening yet, so the LED and STATUS= keep what
        # they showed (connecting, idle, speaking before a barge-in) instead of flashing
        # another state on the way to "Listening".
        kept = (DeviceState.IDLE, DeviceState.CONNECTING, DeviceState.SPEAKING)
        return c.state if c.state in kept else DeviceState.IDLE
    if c.awaiting or (session is not None and not session.interaction_idle):
        return DeviceState.THINKING
    if c.offline:
        return DeviceState.OFFLINE
    return DeviceState.IDLE


def status_line(c: Conversation) -> str:
    """What STATUS= says now, in plain words ("Listening", "Reconnecting in 4 s (attempt
    3): close 1011: Internal error encountered.", "Needs attention: API key refused")."""
    state = c.state
    attention = c.policy.attention
    if attention is not None:
        text = f"Needs attention: {attention.headline}"
        if attention.retry_after is not None:
            text += f" (trying again every {attention.retry_after / 60:g} min)"
        return text
    model = f" (fallback model {c.policy.model})" if c.policy.on_fallback else ""
    if state is DeviceState.CONNECTING:
        return (c.supervisor.note or "Connecting") + model
    if state is DeviceState.OFFLINE:
        text = c.supervisor.offline_text()
    elif state is DeviceState.MUTED:
        text = "Muted (edgevoice ctl unmute)"
    else:
        text = state.value.capitalize()
    if c.device_problem and state in (DeviceState.IDLE, DeviceState.OFFLINE):
        text = f"{text}; {c.device_problem}"
    return text + model
