"""Every check a configuration value, or a combination of values, must pass. Core: no I/O.

- Per value (`check_value`, and the `*_problem` checks the schema in `edgevoice.config` names):
  the type, NaN and infinity (refused everywhere), the bounds, the choices, the shape of ids,
  URLs and language codes, no control characters. Each returns a message or None.
- Across keys (`cross_checks`): rules that involve more than one key, and what each model
  family accepts (`edgevoice.live.models.rules_for`; docs/live-protocol.md sections 1.1, 2.2,
  3.4 and 9). The family rules are checked for live.model *and* every live.fallback_models
  entry: a fallback gets the same settings, so they must suit its family too. Each problem
  names its key and the model, and comes from where the values involved were set
  (`Config.source_of`), so an error caused by `--set` says `--set`.
- A model id edgevoice does not know has no family: nothing family-specific is checked for it
  (ids churn faster than releases), and `unknown_models` lists it for one warning line.

`edgevoice.config.parse_config` applies all of them, so `check-config` refuses a setting the
configured model cannot take before a device learns it from a 1007 at its first press.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from edgevoice.errors import ConfigProblem
from edgevoice.live.models import (
    DEFAULT_MODEL,
    KNOWN_MODELS,
    MODEL_PREFIX,
    FamilyRules,
    ProactiveAudio,
    Thinking,
    bare_model_id,
    rules_for,
)
from edgevoice.live.tools import LOCAL_TOOLS
from edgevoice.redact import printable

if TYPE_CHECKING:
    from edgevoice.config import Config

Check = Callable[[Any], "str | None"]  # a problem message, or None when the value is fine

RATE_RANGE = (8000, 192000)  # Hz the streaming resampler supports (edgevoice.audio.dsp)
# The standard rates inside that range. An odd rate such as 12345 Hz would need thousands of
# polyphase filter phases against 16 kHz, and no real device runs at one.
STANDARD_RATES = (
    8000,
    11025,
    12000,
    16000,
    22050,
    24000,
    32000,
    44100,
    48000,
    88200,
    96000,
    176400,
    192000,
)
MAX_STRING = 1024  # characters in a string value unless its field says otherwise
MAX_LIST_ITEM = 128  # characters in one string of a list value


def show(value: Any, limit: int = 60) -> str:
    """A value from the file or the command line, quoted and escaped for one message line."""
    return printable(repr(value), limit)


# --------------------------------------------------------------------------------------------
# Checks of one value


def rate_problem(value: Any) -> str | None:
    if value not in STANDARD_RATES:
        low, high = RATE_RANGE
        listed = ", ".join(str(r) for r in STANDARD_RATES)
        return f"{value} is not a rate the resampler supports ({low}-{high}: one of {listed})"
    return None


def absolute_path_problem(value: Any) -> str | None:
    if value and not str(value).startswith("/"):
        return f"{show(value)} must be an absolute path (starting with /)"
    return None


_HOST_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST_NAME = re.compile(rf"{_HOST_LABEL}(\.{_HOST_LABEL})*\.?")


def endpoint_problem(value: Any) -> str | None:
    url = str(value)
    if "?" in url or "@" in url:
        # Checked first, and the URL is not echoed: it may hold a key (?key=, user:key@).
        return "must not carry a query or credentials (the key goes in a header, never the URL)"
    if not url.isascii() or any(c.isspace() for c in url):
        return (
            f"{show(url)} must be an ASCII URL without spaces (write an international host "
            "name in its xn-- form)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for "abc" or 99999
    except ValueError:
        return (
            f"{show(url)} has an invalid host or port; use wss://host or wss://host:PORT (1-65535)"
        )
    if parts.scheme not in ("wss", "ws") or not parts.hostname:
        return f"{show(url)} is not a WebSocket URL; use wss://host[:port]"
    if port == 0:
        return f"{show(url)} has port 0; use a port from 1 to 65535 (or none for 443)"
    if parts.fragment or url.endswith("#"):
        return f"{show(url)} must not carry a #fragment"
    if not _is_ip(parts.hostname) and not _HOST_NAME.fullmatch(parts.hostname):
        return f"{show(parts.hostname)} is not a valid host name"
    if parts.scheme == "ws" and not _is_loopback(parts.hostname):
        return "plain ws:// is only allowed for loopback hosts (the simulator); use wss://"
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# A model id as the API names it (section 9): letters, digits, '.', '-', '_', optionally after
# the "models/" resource prefix. Anything else (a '/', a space, a control character) cannot be a
# model the service knows, and setup.model built from it would be refused or misrouted.
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def model_id_problem(value: Any) -> str | None:
    """Why `value` is not a Live model id, or None when it is one."""
    bare = str(value).removeprefix(MODEL_PREFIX)
    if not _MODEL_ID.fullmatch(bare):
        return (
            f"{show(value)} is not a model id (letters, digits, '.', '-', '_', optionally after "
            f"'models/'); use e.g. {DEFAULT_MODEL!r}"
        )
    return None


def fallback_models_problem(value: Any) -> str | None:
    for model in value:
        problem = model_id_problem(model)
        if problem is not None:
            return problem
    bare = [str(m).removeprefix(MODEL_PREFIX) for m in value]
    repeated = sorted({m for m in bare if bare.count(m) > 1})
    if repeated:
        return f"lists {show(repeated[0])} more than once"
    return None


# BCP-47 language tags as the transcription takes them: a 2-3 letter language, an optional
# 4-letter script, an optional region (2 letters or 3 digits) and optional variants, e.g. "de",
# "en-US", "zh-Hant-TW", "es-419". Private-use and grandfathered tags are not languages a
# transcriber knows, so they are not accepted.
_LANGUAGE_TAG = re.compile(
    r"[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
)


def language_codes_problem(value: Any) -> str | None:
    for code in value:
        if not _LANGUAGE_TAG.fullmatch(code):
            hint = code.replace("_", "-") if "_" in code else "en-US"
            return f"{show(code)} is not a BCP-47 language code; write it like {hint!r} or 'de'"
    lowered = [c.lower() for c in value]
    repeated = sorted({c for c in lowered if lowered.count(c) > 1})
    if repeated:
        return f"lists {show(repeated[0])} more than once"
    return None


def tools_problem(value: Any) -> str | None:
    known = sorted(LOCAL_TOOLS)
    unknown = [t for t in value if t not in known]
    if unknown:
        return f"unknown tool(s) {printable(str(unknown), 80)}; allowed: {list(known)}"
    return None


def _type_name(tp: Any) -> str:
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    return "a list of strings"


def check_value(value: Any, tp: Any, meta: Mapping[str, Any]) -> str | None:
    if not _type_ok(value, tp):
        return f"{show(value)} is not {_type_name(tp)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number; give a number"
    max_length = meta.get("max_length")
    if isinstance(value, str):
        limit = max_length or MAX_STRING
        if len(value) > limit:
            return f"is {len(value)} characters long; at most {limit} are allowed"
        if _has_control_characters(value, bool(meta.get("multiline"))):
            return f"{show(value)} holds control characters; remove them"
    if isinstance(value, (list, tuple)):
        if max_length is not None and len(value) > max_length:
            return f"has {len(value)} items; at most {max_length} are allowed"
        for item in value:
            if len(item) > MAX_LIST_ITEM:
                return f"an item is {len(item)} characters long; at most {MAX_LIST_ITEM}"
            if _has_control_characters(item, False):
                return f"{show(item)} holds control characters; remove them"
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        close = difflib.get_close_matches(str(value)[:64], [str(c) for c in choices], n=1)
        hint = f"; did you mean {close[0]!r}?" if close and len(choices) > 8 else ""
        if len(choices) > 8:
            return f"{show(value)} is not one of the {len(choices)} allowed values{hint}"
        return f"{show(value)} is not one of {shown}"
    minimum, maximum = meta.get("minimum"), meta.get("maximum")
    unit = f" {meta['unit']}" if meta.get("unit") else ""
    if minimum is not None and value < minimum:
        return f"{show(value)} is below the minimum {minimum}{unit}"
    if maximum is not None and value > maximum:
        return f"{show(value)} is above the maximum {maximum}{unit}"
    check: Check | None = meta.get("check")
    return None if check is None else check(value)


def _has_control_characters(text: str, multiline: bool) -> bool:
    if multiline:
        text = text.replace("\n", "").replace("\t", "")
    return printable(text) != text


def _type_ok(value: Any, tp: Any) -> bool:
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if typing.get_origin(tp) is tuple:
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    return False


# --------------------------------------------------------------------------------------------
# Across keys


def cross_checks(config: Config) -> list[ConfigProblem]:
    """Every rule that involves more than one key, and the model-family rules for live.model
    and each fallback model. An empty list: the config can start."""
    problems = _general(config)
    live = config.live
    problems += _family_problems(config, live.model, "live.model", None)
    for model in live.fallback_models:
        problems += _family_problems(config, model, "live.fallback_models", "fallback model")
    # Two models refusing the same setting make one line per model: keep each line once.
    return list(dict.fromkeys(problems))


def unknown_models(config: Config) -> list[ConfigProblem]:
    """live.model and fallback models edgevoice has no family for: used as they are, with one
    warning line each, and nothing family-specific checked (new ids appear before edgevoice
    learns them)."""
    out = []
    entries = [("live.model", config.live.model)]
    entries += [("live.fallback_models", m) for m in config.live.fallback_models]
    for key, model in entries:
        bare = bare_model_id(model)
        if rules_for(bare) is None:
            close = difflib.get_close_matches(bare, list(KNOWN_MODELS), n=1, cutoff=0.9)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            out.append(
                ConfigProblem(
                    key,
                    f"{show(bare)} is a model edgevoice does not know: it is used as is, "
                    f"without family checks{hint}",
                    config.source_of(key),
                )
            )
    return out


def effective_api_version(config: Config) -> str:
    """The API version the setup is really sent to: ephemeral tokens (auth.token_command) use
    the v1alpha Constrained endpoint whatever live.api_version says (sections 1.1 and 7)."""
    return "v1alpha" if config.auth.token_command else config.live.api_version


def _general(config: Config) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []

    def problem(key: str, message: str, *involved: str) -> None:
        problems.append(ConfigProblem(key, message, config.source_of(key, *involved)))

    live, reconnect = config.live, config.reconnect
    if reconnect.initial_delay > reconnect.max_delay:
        problem(
            "reconnect.initial_delay",
            f"{reconnect.initial_delay} s is above reconnect.max_delay ({reconnect.max_delay} s)",
            "reconnect.max_delay",
        )
    if (
        config.led.enabled
        and config.trigger.mode != "voice"
        and config.led.pin == config.button.pin
    ):
        problem(
            "led.pin",
            f"GPIO {config.led.pin} is already button.pin; pick another",
            "led.enabled",
            "button.pin",
            "trigger.mode",
        )
    if config.vad.end_of_speech == "server" and config.trigger.mode != "voice":
        # The button brackets its turns with activityStart/End, which needs server VAD off for
        # the whole connection (section 3.2), so server end-of-speech only fits the voice mode.
        problem(
            "vad.end_of_speech",
            f"'server' needs trigger.mode = 'voice' (it is {config.trigger.mode!r}); "
            "use 'local' with a button",
            "trigger.mode",
        )
    if not live.compression and live.compression_trigger_tokens:
        problem(
            "live.compression_trigger_tokens",
            f"{live.compression_trigger_tokens} tokens is set but live.compression is false; "
            "remove it or set live.compression = true",
            "live.compression",
        )
    if live.transcription_languages and not live.input_transcription:
        problem(
            "live.transcription_languages",
            "needs live.input_transcription = true (the codes go with the input transcription)",
            "live.input_transcription",
        )
    primary = bare_model_id(live.model)
    if primary in (bare_model_id(m) for m in live.fallback_models):
        problem(
            "live.fallback_models",
            f"lists live.model ({primary!r}) itself; a fallback must be another model",
            "live.model",
        )
    return problems


def _family_problems(
    config: Config, model: str, model_key: str, role: str | None
) -> list[ConfigProblem]:
    """What the family of `model` refuses in this config (nothing for an unknown model)."""
    rules = rules_for(model)
    live = config.live
    problems: list[ConfigProblem] = []
    bare = bare_model_id(model)
    name = f"{role} {bare}" if role else bare

    def problem(key: str, message: str, *involved: str) -> None:
        source = config.source_of(key, model_key, *involved)
        problems.append(ConfigProblem(key, message, source))

    # Proactive audio and affective dialog are v1alpha fields (section 1.1); the Constrained
    # endpoint of ephemeral tokens refuses `proactivity` (section 2.2).
    v1alpha = effective_api_version(config) == "v1alpha"
    sends_proactivity = live.proactive_audio == "on" and (
        rules is None or rules.proactive_audio is not ProactiveAudio.ALWAYS_ON
    )
    if rules is not None:
        problems += _thinking_problems(config, rules, name, model_key)
        if live.proactive_audio == "off" and rules.proactive_audio is ProactiveAudio.ALWAYS_ON:
            problem(
                "live.proactive_audio",
                f"{name} always has proactive audio (proactiveAudio: false is an error there); "
                "use 'auto'",
            )
        if live.proactive_audio == "on" and rules.proactive_audio is ProactiveAudio.UNSUPPORTED:
            problem("live.proactive_audio", f"{name} has no proactive audio; use 'auto'")
            sends_proactivity = False
        if live.affective_dialog and not rules.affective_dialog:
            problem(
                "live.affective_dialog",
                f"{name} has no affective dialog (only gemini-2.5 native audio had it); "
                "set it to false",
            )
    if sends_proactivity and not v1alpha:
        problem(
            "live.proactive_audio",
            f"'on' needs live.api_version = 'v1alpha' for {name} (v1beta has no proactivity field)",
            "live.api_version",
        )
    if sends_proactivity and config.auth.token_command:
        problem(
            "live.proactive_audio",
            f"'on' for {name} cannot be used with auth.token_command: the ephemeral-token "
            "endpoint refuses the proactivity field; use 'auto'",
            "auth.token_command",
        )
    affective_ok = rules is None or rules.affective_dialog
    if live.affective_dialog and affective_ok and not v1alpha:
        problem(
            "live.affective_dialog",
            f"needs live.api_version = 'v1alpha' for {name}",
            "live.api_version",
        )
    return problems


def _thinking_problems(
    config: Config, rules: FamilyRules, name: str, model_key: str
) -> list[ConfigProblem]:
    live = config.live
    problems: list[ConfigProblem] = []

    def problem(key: str, message: str) -> None:
        problems.append(ConfigProblem(key, message, config.source_of(key, model_key)))

    level, budget = live.thinking_level, live.thinking_budget
    if budget >= 0 and rules.thinking is not Thinking.BUDGET:
        fix = "use live.thinking_level" if rules.thinking_levels else "leave it at -1"
        problem("live.thinking_budget", f"{name} takes no thinking budget; {fix}")
    if level and not rules.thinking_levels:
        fix = "use live.thinking_budget" if rules.thinking is Thinking.BUDGET else "remove it"
        problem("live.thinking_level", f"{name} takes no thinking level; {fix}")
    elif level and level not in rules.thinking_levels:
        allowed = ", ".join(rules.thinking_levels)
        problem("live.thinking_level", f"{level!r} is not a level {name} takes ({allowed})")
    elif not level and rules.thinking is Thinking.LEVEL_REQUIRED:
        allowed = ", ".join(rules.thinking_levels)
        problem(
            "live.thinking_level",
            f"{name} refuses to start without a thinking level; set one of {allowed}",
        )
    return problems
