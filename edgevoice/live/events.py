"""Server events: what one Gemini Live server message means, as frozen dataclasses. Core.

`edgevoice.live.decode.decode_server_message` turns a server frame into a list of these;
`LiveSession.events()` hands them on in arrival order. Wire names are in
docs/live-protocol.md section 4.2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from edgevoice.live.json_view import JsonValue

OUTPUT_AUDIO_RATE = 24_000  # Hz: the Live API always answers at this rate (section 5)

# serverContent.interactionStatus values (section 4.2, live-api/thinking). Only these two keep
# an interaction open after turnComplete; IDLE, INTERACTION_STATUS_UNSPECIFIED, a value newer
# than this code, or no field at all end it (an unknown value must not block rotation forever).
INTERACTION_CONTINUES = frozenset({"IN_PROGRESS", "REQUIRES_ACTION"})


@dataclass(frozen=True, slots=True)
class SetupComplete:
    """The server accepted `setup`; the client may now send input. `session_id` if given."""

    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A piece of the spoken answer: PCM16LE mono at `rate` Hz (24 kHz in practice)."""

    pcm: bytes
    rate: int = OUTPUT_AUDIO_RATE


@dataclass(frozen=True, slots=True)
class TextPart:
    """A text part of the model turn (TEXT modality, rare with native audio)."""

    text: str


@dataclass(frozen=True, slots=True)
class Thought:
    """A thought summary part (`thought: true`): log it, never speak it."""

    text: str


@dataclass(frozen=True, slots=True)
class InputTranscription:
    """A piece of the transcript of what the user said; `finished` marks the last piece."""

    text: str
    finished: bool = False


@dataclass(frozen=True, slots=True)
class OutputTranscription:
    """A piece of the transcript of the spoken answer; `finished` marks the last piece.

    Transcriptions have no ordering guarantee with the model turn (section 4.2): one may arrive
    after turnComplete. It never reopens the model turn.
    """

    text: str
    finished: bool = False


@dataclass(frozen=True, slots=True)
class GenerationComplete:
    """The model has generated the whole answer; it may still be waiting for playback."""


@dataclass(frozen=True, slots=True)
class Interrupted:
    """Barge-in: the user talked over the answer. Stop playback and flush queued audio now."""


@dataclass(frozen=True, slots=True)
class WaitingForInput:
    """The model expects the user to keep talking (serverContent.waitingForInput)."""


@dataclass(frozen=True, slots=True)
class TurnComplete:
    """The model's turn is over; it waits for new input.

    - `reason`: turnCompleteReason if set (e.g. "NEED_MORE_INPUT", "MALFORMED_FUNCTION_CALL").
    - `interaction_status`: serverContent.interactionStatus if set. "IN_PROGRESS" (or
      "REQUIRES_ACTION") means the model still works in the background: the interaction is not
      over, do not rotate or close for idleness yet (section 4.2). `continues` says so.
    - `silent`: the turn carried no audio at all. On gemini-3.8 (proactive audio always on) the
      model may choose not to answer speech that was not meant for it: a valid outcome, not a
      failure. Set by `LiveSession`, which sees the whole turn; the decoder leaves it False.
    """

    reason: str | None = None
    interaction_status: str | None = None
    silent: bool = False

    @property
    def continues(self) -> bool:
        """The interaction goes on after this turn (interactionStatus IN_PROGRESS and alike)."""
        return self.interaction_status in INTERACTION_CONTINUES


@dataclass(frozen=True, slots=True)
class InteractionUpdate:
    """serverContent.interactionStatus without a turnComplete (the SDK says it always rides
    along with one; accepted alone all the same). "IDLE" ends a background interaction."""

    status: str

    @property
    def continues(self) -> bool:
        return self.status in INTERACTION_CONTINUES


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """One call the model wants answered with a `FunctionResponse` carrying the same id."""

    id: str
    name: str
    args: Mapping[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model calls local functions; blocking calls wait for a toolResponse."""

    calls: tuple[FunctionCall, ...]


@dataclass(frozen=True, slots=True)
class ToolCallCancellation:
    """The user interrupted: drop these calls (do not answer them)."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GoAway:
    """The server will end this connection in `time_left_seconds`: rotate to a new one."""

    time_left_seconds: float


@dataclass(frozen=True, slots=True)
class SessionResumptionUpdate:
    """A new resumption handle. Only a non-empty handle with `resumable=True` may be reused;
    `last_consumed_client_message_index` appears only with transparent resumption."""

    new_handle: str
    resumable: bool
    last_consumed_client_message_index: int | None = None


@dataclass(frozen=True, slots=True)
class UsageMetadata:
    """Token accounting; the common counts as ints (0 when absent) plus the whole raw object."""

    prompt_tokens: int
    response_tokens: int
    total_tokens: int
    raw: Mapping[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IgnoredFields:
    """Fields of the message that produced no event, as dotted paths ("serverContent.x").

    Not an error: the server may send fields newer than this code. Log at debug level.
    """

    paths: tuple[str, ...]


ServerEvent: TypeAlias = (
    SetupComplete
    | AudioChunk
    | TextPart
    | Thought
    | InputTranscription
    | OutputTranscription
    | GenerationComplete
    | Interrupted
    | WaitingForInput
    | TurnComplete
    | InteractionUpdate
    | ToolCall
    | ToolCallCancellation
    | GoAway
    | SessionResumptionUpdate
    | UsageMetadata
    | IgnoredFields
)
