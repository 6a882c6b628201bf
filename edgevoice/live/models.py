"""Gemini Live model families and what each one accepts. Core: no I/O.

Names churn (docs/live-protocol.md section 9), rules come in families: the setup a model takes,
how its function calls run and what it does with input during a call are decided by its family,
never by a name prefix. `family_of(model)` looks a model id up in `KNOWN_MODELS`; `rules_for`
gives the `FamilyRules` the setup frame, the session and `check-config` all apply.

A model id edgevoice does not know has no family (None): it is still used (new ids appear
before edgevoice learns them), nothing family-specific is checked for it, and its function
calls are treated as blocking, the choice that never breaks the input rule of section 3.2.

Sources, per rule (protocol doc, revised 2026-11):
- 2.5 native audio: thinkingConfig.thinkingBudget (0 = off, the low-latency choice); function
  calls blocking by default, NON_BLOCKING allowed with scheduling; `proactivity` and
  `enableAffectiveDialog` on v1alpha only (sections 2.2, 3.4, 9); turnCoverage default
  TURN_INCLUDES_ONLY_ACTIVITY (section 2.2).
- 3.1 flash live preview ("legacy preview"): thinkingLevel (default minimal); synchronous
  function calls only; no proactive audio, no affective dialog; clientContent only to seed the
  initial history (section 3.3); turnCoverage default TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO.
- 3.8 live (stable since 2026-09-15): no thinkingConfig at all; function calls NON_BLOCKING by
  default, `behavior: BLOCKING` to opt out, scheduling on responses; clientContent allowed all
  session with explicit roles; proactive audio always on (`proactiveAudio: false` is an
  error); affective dialog removed; turnCoverage default as 3.1 (section 9).
- 3.8 live extended thinking: as 3.8, but a thinking level (low, medium, high) is required and
  function calls run asynchronously only (section 9).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

MODEL_PREFIX = "models/"  # setup.model is a resource name; the SDK adds the prefix (section 2.2)
DEFAULT_MODEL = "gemini-3.8-live"  # the stable Live model since 2026-09 (section 9)


class Family(enum.Enum):
    NATIVE_AUDIO_25 = "gemini-2.5 native audio"
    LIVE_31 = "gemini-3.1 live (legacy preview)"
    LIVE_38 = "gemini-3.8 live"
    LIVE_38_THINKING = "gemini-3.8 live extended thinking"


class Behavior(enum.Enum):
    """FunctionDeclaration.behavior: whether the model waits for the function's result."""

    BLOCKING = "BLOCKING"  # the model waits for the toolResponse; input must wait too
    NON_BLOCKING = "NON_BLOCKING"  # the conversation goes on; the result comes back later


class Thinking(enum.Enum):
    """Which thinking setting a family takes (generationConfig.thinkingConfig)."""

    BUDGET = "thinkingBudget"  # an int of tokens; 0 turns thinking off
    LEVEL = "thinkingLevel"  # optional level
    NONE = "none"  # no thinkingConfig at all: sending one is refused
    LEVEL_REQUIRED = "thinkingLevel (required)"  # the model refuses to start without one


class ProactiveAudio(enum.Enum):
    """setup.proactivity.proactiveAudio."""

    V1ALPHA_OPTION = "an option on v1alpha"  # off unless asked for, and only on v1alpha
    ALWAYS_ON = "always on"  # not configurable: false is refused
    UNSUPPORTED = "not supported"


class ClientContentUse(enum.Enum):
    """When clientContent (history turns) may be sent (section 3.3)."""

    ANY_TIME = "any time"  # interrupts generation when sent mid-turn
    HISTORY_SEEDING_ONLY = "initial history only"  # needs historyConfig; refused after the 1st turn
    ANY_TIME_WITH_ROLES = "any time, with explicit roles"


THINKING_LEVELS = ("minimal", "low", "medium", "high")  # wire: the upper-case enum names


@dataclass(frozen=True, slots=True)
class FamilyRules:
    """What one model family accepts and how it runs function calls."""

    family: Family
    thinking: Thinking
    thinking_levels: tuple[str, ...]  # accepted levels (lower case); () when levels are refused
    proactive_audio: ProactiveAudio
    affective_dialog: bool  # enableAffectiveDialog accepted (on v1alpha only)
    client_content: ClientContentUse
    default_behavior: Behavior  # of a FunctionDeclaration without `behavior`
    behaviors: frozenset[Behavior]  # the behaviours a declaration may ask for
    default_turn_coverage: str  # realtimeInputConfig.turnCoverage when not set

    def call_blocks(self, declared: Behavior | None) -> bool:
        """Whether a call to a function declared with `declared` (None: not set) blocks."""
        return (declared or self.default_behavior) is Behavior.BLOCKING


_BOTH = frozenset(Behavior)

RULES: Mapping[Family, FamilyRules] = MappingProxyType(
    {
        Family.NATIVE_AUDIO_25: FamilyRules(
            family=Family.NATIVE_AUDIO_25,
            thinking=Thinking.BUDGET,
            thinking_levels=(),
            proactive_audio=ProactiveAudio.V1ALPHA_OPTION,
            affective_dialog=True,
            client_content=ClientContentUse.ANY_TIME,
            default_behavior=Behavior.BLOCKING,
            behaviors=_BOTH,
            default_turn_coverage="TURN_INCLUDES_ONLY_ACTIVITY",
        ),
        Family.LIVE_31: FamilyRules(
            family=Family.LIVE_31,
            thinking=Thinking.LEVEL,
            thinking_levels=THINKING_LEVELS,
            proactive_audio=ProactiveAudio.UNSUPPORTED,
            affective_dialog=False,
            client_content=ClientContentUse.HISTORY_SEEDING_ONLY,
            default_behavior=Behavior.BLOCKING,
            behaviors=frozenset({Behavior.BLOCKING}),
            default_turn_coverage="TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
        ),
        Family.LIVE_38: FamilyRules(
            family=Family.LIVE_38,
            thinking=Thinking.NONE,
            thinking_levels=(),
            proactive_audio=ProactiveAudio.ALWAYS_ON,
            affective_dialog=False,
            client_content=ClientContentUse.ANY_TIME_WITH_ROLES,
            default_behavior=Behavior.NON_BLOCKING,
            behaviors=_BOTH,
            default_turn_coverage="TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
        ),
        Family.LIVE_38_THINKING: FamilyRules(
            family=Family.LIVE_38_THINKING,
            thinking=Thinking.LEVEL_REQUIRED,
            thinking_levels=("low", "medium", "high"),
            proactive_audio=ProactiveAudio.ALWAYS_ON,
            affective_dialog=False,
            client_content=ClientContentUse.ANY_TIME_WITH_ROLES,
            default_behavior=Behavior.NON_BLOCKING,
            behaviors=frozenset({Behavior.NON_BLOCKING}),
            default_turn_coverage="TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
        ),
    }
)

# Model ids (without "models/") and their families: section 9's table of Gemini API ids.
# Retired ids (gemini-2.0-flash-live-001, gemini-live-2.5-flash-preview) are not listed: the
# service answers them with 1008 "not found", and so does the simulator.
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


def bare_model_id(model: str) -> str:
    """`models/gemini-3.8-live` -> `gemini-3.8-live`; an id without the prefix is returned as is."""
    return model.removeprefix(MODEL_PREFIX)


def family_of(model: str) -> Family | None:
    """The family of a model id (with or without "models/"), or None when edgevoice does not
    know the id."""
    return KNOWN_MODELS.get(bare_model_id(model))


def rules_for(model: str) -> FamilyRules | None:
    """The rules of a model's family, or None for an id edgevoice does not know."""
    family = family_of(model)
    return None if family is None else RULES[family]


def call_blocks(model: str, declared: Behavior | None) -> bool:
    """Whether a call to a function declared with `declared` blocks on `model`. Unknown models:
    True, which keeps the input rule of section 3.2 whatever the model does."""
    rules = rules_for(model)
    return True if rules is None else rules.call_blocks(declared)


def takes_scheduling(model: str, declared: Behavior | None) -> bool:
    """Whether a response to a call of a function declared with `declared` may carry a
    `scheduling` (protocol doc section 3.4: responses to non-blocking calls only).

    Known families: exactly when the call does not block. Unknown models: when the declaration
    says NON_BLOCKING itself (what was configured is sent), although `call_blocks` still holds
    the microphone back for such a call, the safe side of the input rule.
    """
    rules = rules_for(model)
    if rules is None:
        return declared is Behavior.NON_BLOCKING
    return not rules.call_blocks(declared)
