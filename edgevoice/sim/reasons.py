"""Close codes and reason texts the simulator sends, with where each one comes from.

Every reason the real service is known to send is copied here verbatim from
docs/live-protocol.md section 6.4 (or a field report cited next to it). Where the real text is
unknown, the simulator uses INVALID_ARGUMENT's generic reason, "Request contains an invalid
argument.", which the real service is known to send for bad configurations; such constants say
"unverified" in their comment. A close reason is cut to 123 bytes, like the real service does
(RFC 6455 limit), so a long reason ends mid-word ("... Call ListMo").

Unverified choices (the doc gives no answer; each is tested, and documented where it is made):
- codes and texts: the VAD rule closes and the resume-while-open text below; the setup timeout
  (30 s, 1011 deadline text); family-rule refusals with the generic text (models.py); input
  rates outside 8,000-48,000 Hz; JSON deeper than 100 levels; over `max_connections`, 1011 with
  the quota text at once (server.py); a 3.8 clientContent turn without a role (rules.py).
- families (models.py): 3.1 tolerates a thinking budget alone but not with a level; 3.8 takes
  `proactivity` on every endpoint; affective dialog on the v1alpha Constrained method; 3.8 sends
  usage in its own serverContent like 3.1.
- tool calls (calls.py, conversation.py): on 3.8 a pending blocking call is cancelled by new
  *input* (activityStart, text, speech onset, clientContent), not by every audio frame; realtime
  text counts as input for the 2.5/3.1 1008 rule, video does not; barge-in leaves non-blocking
  calls running; no resumable handle while any call is pending; a SILENT result with nothing
  else to say sends a bare turnComplete with interactionStatus IDLE on 3.8.
- silent turns (answering.py): the input transcription is still sent; no generationComplete.
- the input rate is fixed per connection (not per resumed session).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_REASON_BYTES = 123

# The gRPC-status-to-close-code mapping inferred in the protocol doc, section 6.4.
INVALID_ARGUMENT = 1007
NOT_FOUND = 1008
ABORTED = 1008  # gRPC ABORTED, like NOT_FOUND, arrives as 1008 (section 6.2)
INTERNAL = 1011

# --- verbatim texts (protocol doc section 6.4) ------------------------------------------------
GENERIC_INVALID = "Request contains an invalid argument."
BAD_API_KEY = "API key not valid. Please pass a valid API key."
SESSION_NOT_FOUND = "BidiGenerateContent session not found"
INTERNAL_ERROR = "Internal error encountered."
UNAVAILABLE = "The service is currently unavailable."
QUOTA = "You exceeded your current quota, please check your plan and billing details."
DEADLINE = "Deadline expired before operation could complete."
REQUESTED_ENTITY_NOT_FOUND = "Requested entity was not found."
# Field reports: a native-audio model asked for TEXT output (or for no modality, which proto3
# reads as TEXT) closes 1007 with this text (kizuna-ai-lab/sokuji#93, livekit/livekit#4103).
NON_AUDIO_REQUEST = "Cannot extract voices from a non-audio request."
# Protocol doc section 2.2: a thinking setting the model does not support.
THINKING_LEVEL_UNSUPPORTED = "Thinking level is not supported for this model"
# Section 6.2 and 6.4: the end of a connection's life through ABORTED, and realtime input sent
# while a blocking function call is pending (2.5, 3.1; field reports in section 3.2).
OPERATION_ABORTED = "The operation was aborted."


def sample_rate_changed(before: int, after: int) -> str:
    """Section 3.2 / 6.4 (field report 2026-01, verbatim): the input rate changed mid-session."""
    return f"Sample rate changed from previously {before} to {after}, which is not supported."


# --- unverified choices (the real text or code is not known) ---------------------------------
# activityStart/activityEnd with automatic activity detection on, activityEnd without
# activityStart, a second activityStart, audioStreamEnd with automatic detection off
# (section 3.2 says "probably 1007, unverified"). A constant on purpose: not a knob.
VAD_RULE_CODE = INVALID_ARGUMENT
VAD_RULE_REASON = GENERIC_INVALID
# Resuming a session whose previous socket is still open: 1011 is reported (section 6.3,
# aicc2025/sip-to-ai PR #14); the reason text is not, so the generic internal text is used.
RESUME_WHILE_OPEN_CODE = INTERNAL
RESUME_WHILE_OPEN_REASON = INTERNAL_ERROR
# A connection that never sends its setup frame: the service's timeout and close are not known.
# DEADLINE_EXCEEDED (1011, the deadline text) is the simulator's choice, after 30 s by default.
SETUP_TIMEOUT_CODE = INTERNAL
SETUP_TIMEOUT_REASON = DEADLINE
# Family rules whose refusal text is not known (models.py): the generic INVALID_ARGUMENT text.
# A thinking *level* the family does not take uses THINKING_LEVEL_UNSUPPORTED above.
FAMILY_RULE_REASON = GENERIC_INVALID
# Audio declared at a rate outside 8,000-48,000 Hz: the service's range is not known; the
# simulator refuses what no microphone path produces (and what would cost it a 16,000-fold
# resampling per frame) with the generic text.
MIN_INPUT_RATE = 8_000
MAX_INPUT_RATE = 48_000
# A frame nested deeper than this is refused with 1007 (protobuf's default recursion limit is
# 100; the service's own limit is not known).
MAX_JSON_DEPTH = 100


def model_not_found(model: str, api_version: str) -> str:
    """The reason for an unknown model (section 6.4), before the 123-byte cut."""
    return (
        f"{model} is not found for API version {api_version}, or is not supported for "
        "bidiGenerateContent. Call ListModels to see the list of available models and their "
        "supported methods."
    )


def cut_reason(reason: str) -> str:
    """Cut a reason to at most 123 UTF-8 bytes without splitting a character."""
    data = reason.encode("utf-8")
    if len(data) <= MAX_REASON_BYTES:
        return reason
    return data[:MAX_REASON_BYTES].decode("utf-8", errors="ignore")


@dataclass(frozen=True)
class CloseSpec:
    """A close the simulator decided on: the wire code and reason, plus a detail for logs/tests.

    `detail` never goes on the wire; it says which rule fired, so a failing test or a developer
    reading the simulator's log sees why the session was closed.
    """

    code: int
    reason: str
    detail: str = ""

    @property
    def wire_reason(self) -> str:
        return cut_reason(self.reason)
