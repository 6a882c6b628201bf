"""The Live models the simulator serves and what each model family accepts (protocol doc §9).

The simulator keeps its own table on purpose (it never imports edgevoice.live.models): the two
tables are written from the same doc and check each other. Rules come in families, never from a
name prefix: `family_of("gemini-3.8-live")` is looked up in `KNOWN_MODELS`, and a served model
that is not in the table needs its family named (`SimOptions(models={"my-id": Family.LIVE_38})`).

Sources, per rule (protocol doc, revised 2026-11; "unverified" = the simulator's own choice):
- thinking (§2.2, §9): 2.5 takes `thinkingBudget` and refuses a level with 1007 "Thinking level is
  not supported for this model" (§2.2, verbatim). 3.1 takes `thinkingLevel`; a budget alone is
  accepted, a budget *and* a level together are refused (Gemini 3 generateContent docs; on Live
  unverified). 3.8 takes no `thinkingConfig` at all ("omit it", §9): any is refused. 3.8 extended
  thinking requires a level of LOW, MEDIUM or HIGH ("or it refuses to start", §9); MINIMAL, a
  budget or no level at all are refused (texts unverified).
- proactivity (§2.2, §9): 2.5 on v1alpha BidiGenerateContent only (elsewhere the field is an
  unknown name, field reports); 3.1 never (unknown name); 3.8: always on, the field exists on
  every endpoint (unverified) and `proactiveAudio: false` is refused (§9, text unverified).
- affective dialog (§2.2, §9): 2.5 on v1alpha only (the Constrained method included, unverified);
  3.1 refuses it (§2.2 reports 1011 or "Unknown name": the simulator sends the 1007 unknown name);
  3.8 removed it (unknown name).
- mid-session clientContent (§3.3, §9): 2.5 any time; 3.1 only to seed history (with
  historyConfig.initialHistoryInClientContent) before the first turnComplete; 3.8 any time, each
  turn with an explicit role (a turn without `role` is refused, text unverified).
- function calls (§3.4, §9): 2.5 blocking by default, NON_BLOCKING allowed; 3.1 synchronous only
  (a NON_BLOCKING declaration is refused, unverified); 3.8 NON_BLOCKING by default, BLOCKING
  declared; 3.8 extended thinking async only (a BLOCKING declaration is refused, unverified).
- while a blocking call is pending (§3.2, §10.10): 2.5 and 3.1 close 1008 "The operation was
  aborted." on realtime audio or activityStart; 3.8 cancels the call with toolCallCancellation.
- server events (§4.2): 2.5 carries one content part per event; 3.1 and 3.8 may carry several
  (3.8 like 3.1, unverified) and send usage in an otherwise empty serverContent. 3.8 sends
  `interactionStatus` alongside every turnComplete (SDK types.py, §4.2); 2.5 and 3.1 never do.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


class Family(enum.Enum):
    NATIVE_AUDIO_25 = "2.5"
    LIVE_31 = "3.1"
    LIVE_38 = "3.8"
    LIVE_38_THINKING = "3.8-thinking"


class Thinking(enum.Enum):
    BUDGET = "budget"  # thinkingBudget; a level is refused
    LEVEL = "level"  # thinkingLevel (a budget alone is tolerated, never both)
    NONE = "none"  # no thinkingConfig at all
    LEVEL_REQUIRED = "level required"  # a level of LOW/MEDIUM/HIGH, and nothing else


class Proactivity(enum.Enum):
    V1ALPHA = "v1alpha option"  # only on v1alpha BidiGenerateContent
    NEVER = "never"  # the field does not exist
    ALWAYS_ON = "always on"  # the field exists; proactiveAudio false is refused


class ClientContent(enum.Enum):
    ANY_TIME = "any time"
    SEEDING_ONLY = "initial history only"
    ANY_TIME_WITH_ROLES = "any time, explicit roles"


class Behavior(enum.Enum):
    BLOCKING = "BLOCKING"
    NON_BLOCKING = "NON_BLOCKING"


@dataclass(frozen=True)
class FamilyRules:
    family: Family
    thinking: Thinking
    proactivity: Proactivity
    affective_dialog: bool  # enableAffectiveDialog exists (on v1alpha) for this family
    client_content: ClientContent
    default_behavior: Behavior  # a FunctionDeclaration without `behavior`
    behaviors: frozenset[Behavior]  # what a declaration may ask for
    cancels_blocking_call: bool  # new input cancels a pending blocking call (else 1008)
    multi_part_events: bool  # one serverContent may carry audio and a transcript together
    interaction_status: bool  # interactionStatus alongside every turnComplete

    def blocks(self, declared: str) -> bool:
        """Whether a call to a function declared with `declared` ("" = not set) blocks."""
        if declared in ("", "UNSPECIFIED"):
            return self.default_behavior is Behavior.BLOCKING
        return declared == Behavior.BLOCKING.value


_BOTH = frozenset(Behavior)

RULES: Mapping[Family, FamilyRules] = MappingProxyType(
    {
        Family.NATIVE_AUDIO_25: FamilyRules(
            Family.NATIVE_AUDIO_25,
            thinking=Thinking.BUDGET,
            proactivity=Proactivity.V1ALPHA,
            affective_dialog=True,
            client_content=ClientContent.ANY_TIME,
            default_behavior=Behavior.BLOCKING,
            behaviors=_BOTH,
            cancels_blocking_call=False,
            multi_part_events=False,
            interaction_status=False,
        ),
        Family.LIVE_31: FamilyRules(
            Family.LIVE_31,
            thinking=Thinking.LEVEL,
            proactivity=Proactivity.NEVER,
            affective_dialog=False,
            client_content=ClientContent.SEEDING_ONLY,
            default_behavior=Behavior.BLOCKING,
            behaviors=frozenset({Behavior.BLOCKING}),
            cancels_blocking_call=False,
            multi_part_events=True,
            interaction_status=False,
        ),
        Family.LIVE_38: FamilyRules(
            Family.LIVE_38,
            thinking=Thinking.NONE,
            proactivity=Proactivity.ALWAYS_ON,
            affective_dialog=False,
            client_content=ClientContent.ANY_TIME_WITH_ROLES,
            default_behavior=Behavior.NON_BLOCKING,
            behaviors=_BOTH,
            cancels_blocking_call=True,
            multi_part_events=True,
            interaction_status=True,
        ),
        Family.LIVE_38_THINKING: FamilyRules(
            Family.LIVE_38_THINKING,
            thinking=Thinking.LEVEL_REQUIRED,
            proactivity=Proactivity.ALWAYS_ON,
            affective_dialog=False,
            client_content=ClientContent.ANY_TIME_WITH_ROLES,
            default_behavior=Behavior.NON_BLOCKING,
            behaviors=frozenset({Behavior.NON_BLOCKING}),
            cancels_blocking_call=True,
            multi_part_events=True,
            interaction_status=True,
        ),
    }
)

# Model ids and their families (§9). Retired ids (gemini-2.0-flash-live-001,
# gemini-live-2.5-flash-preview) are absent: they close 1008 "not found".
KNOWN_MODELS: Mapping[str, Family] = MappingProxyType(
    {
        "gemini-3.8-live": Family.LIVE_38,
        "gemini-3.8-live-extended-thinking": Family.LIVE_38_THINKING,
        "gemini-3.1-flash-live-preview": Family.LIVE_31,
        "gemini-2.5-flash-native-audio-preview-12-2025": Family.NATIVE_AUDIO_25,
        "gemini-2.5-flash-native-audio-preview-09-2025": Family.NATIVE_AUDIO_25,
        "gemini-2.5-flash-native-audio-latest": Family.NATIVE_AUDIO_25,
    }
)

# What the simulator serves by default: every current Live model (§9).
DEFAULT_MODELS: tuple[str, ...] = tuple(KNOWN_MODELS)

MODEL_PREFIX = "models/"


def model_id(resource_name: str) -> str | None:
    """`models/<id>` -> `<id>`; None when the name lacks the `models/` prefix the SDK adds."""
    if resource_name.startswith(MODEL_PREFIX) and len(resource_name) > len(MODEL_PREFIX):
        return resource_name[len(MODEL_PREFIX) :]
    return None


def parse_family(text: str) -> Family:
    """ "2.5" | "3.1" | "3.8" | "3.8-thinking" -> Family; ValueError naming the choices."""
    try:
        return Family(text)
    except ValueError:
        names = ", ".join(f.value for f in Family)
        raise ValueError(f"unknown model family {text!r}; use one of {names}") from None


def served_models(models: Mapping[str, Family] | tuple[str, ...]) -> Mapping[str, Family]:
    """The served id -> family table; a bare id must be a known model (ValueError otherwise)."""
    if isinstance(models, Mapping):
        table = dict(models)
    else:
        table = {}
        for ident in models:
            if ident not in KNOWN_MODELS:
                raise ValueError(
                    f"model {ident!r} has no known family; name it: {ident}=3.8 on the "
                    f"command line, or {{{ident!r}: Family.LIVE_38}} in SimOptions.models"
                )
            table[ident] = KNOWN_MODELS[ident]
    if not table:
        raise ValueError("serve at least one model")
    for ident, family in table.items():
        if not ident or ident.startswith(MODEL_PREFIX) or not isinstance(family, Family):
            raise ValueError(f"model {ident!r}: give the id without 'models/' and a Family")
    return MappingProxyType(table)


def family_of_resource(resource_name: str, served: Mapping[str, Family]) -> Family | None:
    """The family of `models/<id>` among the served models; None when it is not served."""
    return served.get(model_id(resource_name) or "")
