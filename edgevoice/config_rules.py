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
from edgevoice.live.json_schema import schema_problems
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


def group_problem(value: Any) -> str | None:
    """Why `value` is not a group name or id for the control socket (None: fine or empty)."""
    if value and not _GROUP.fullmatch(str(value)):
        return (
            f"{show(value)} is not a group name (lower-case letters, digits, '_' and '-', not "
            "starting with a digit or '-') or a numeric group id"
        )
    return None


_GROUP = re.compile(r"[a-z_][a-z0-9_-]{0,31}|[0-9]{1,10}")

# --------------------------------------------------------------------------------------------
# Operator tools ([[tools.command]])

COMMAND_FIELDS = (
    "name",
    "description",
    "argv",
    "parameters",
    "timeout_s",
    "behavior",
    "scheduling",
)
COMMAND_BEHAVIORS = ("blocking", "non_blocking")
COMMAND_SCHEDULINGS = ("when_idle", "interrupt", "silent")
COMMAND_TIMEOUT_RANGE = (0.1, 600.0)  # s
MAX_ARGV = 64  # items of one argv
# A tool name becomes a function name the model calls: letters, digits and '_' (the Live API
# also takes '.' and '-', which a person reading the journal would mistake for punctuation).
_TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def command_tool_problems(table: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with one [[tools.command]] table, as (".field", message) pairs."""
    problems: list[tuple[str, str]] = []
    for key in table:
        if key not in COMMAND_FIELDS:
            close = difflib.get_close_matches(str(key)[:64], COMMAND_FIELDS, n=1, cutoff=0.6)
            known = ", ".join(COMMAND_FIELDS)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {known}"
            problems.append((f".{printable(str(key), 40)}", f"unknown key{hint}"))
    name = table.get("name")
    if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
        problems.append(
            (
                ".name",
                f"{show(name)} is not a tool name: letters, digits and '_', at most 64, not "
                "starting with a digit"
                if name is not None
                else "is missing: name the function the model calls",
            )
        )
    elif name in LOCAL_TOOLS:
        problems.append(
            (".name", f"{name!r} is a built-in tool; list it in live.tools, or pick another name")
        )
    description = table.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append((".description", "is missing: say what the tool does (the model reads it)"))
    elif len(description) > MAX_STRING or _has_control_characters(description, False):
        problems.append(
            (".description", f"must be one line of at most {MAX_STRING} printable characters")
        )
    problems += [(".argv", message) for message in _argv_problems(table.get("argv"))]
    parameters = table.get("parameters")
    if parameters is not None:
        json_problem = _json_problem(parameters, "parameters")
        if json_problem is not None:
            problems.append((".parameters", json_problem))
        else:
            problems += [(".parameters", p) for p in schema_problems(parameters)[:5]]
    timeout = table.get("timeout_s", 10.0)
    low, high = COMMAND_TIMEOUT_RANGE
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or not low <= timeout <= high
    ):
        problems.append((".timeout_s", f"{show(timeout)} is not a number of seconds {low}-{high}"))
    for key, choices in (("behavior", COMMAND_BEHAVIORS), ("scheduling", COMMAND_SCHEDULINGS)):
        value = table.get(key, choices[0])
        if value not in choices:
            problems.append((f".{key}", f"{show(value)} is not one of {', '.join(choices)}"))
    return problems


def _argv_problems(argv: Any) -> list[str]:
    if argv is None:
        return ['is missing: give the command as a list, e.g. ["/usr/local/bin/lights", "on"]']
    if not isinstance(argv, (list, tuple)) or not argv or not all(isinstance(a, str) for a in argv):
        return ["must be a non-empty list of strings (the command and its fixed arguments)"]
    if len(argv) > MAX_ARGV:
        return [f"has {len(argv)} items; at most {MAX_ARGV}"]
    for item in argv:
        if len(item) > MAX_STRING or _has_control_characters(item, False) or not item:
            return [f"{show(item)} must be non-empty printable text of at most {MAX_STRING}"]
    if not argv[0].startswith("/"):
        return [
            f"{show(argv[0])} must be an absolute path (the daemon does not search PATH for a "
            "command the model may run)"
        ]
    return []


_JSON_DEPTH = 16


def _json_problem(value: Any, path: str, depth: int = 0) -> str | None:
    """Why `value` (from TOML) is not plain JSON: a date or time, a non-finite number."""
    if depth > _JSON_DEPTH:
        return f"{path} nests more than {_JSON_DEPTH} levels deep"
    if isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} holds {value}, not a finite number"
    if isinstance(value, Mapping):
        for key, item in value.items():
            problem = _json_problem(item, f"{path}.{printable(str(key), 40)}", depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problem = _json_problem(item, f"{path}[{index}]", depth + 1)
            if problem is not None:
                return problem
        return None
    return f"{path} holds a {type(value).__name__}, which JSON schema has no type for"


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
    problems += _pin_problems(config)
    vad, limits = config.vad, config.limits
    if vad.min_utterance_ms < vad.onset_ms:
        problem(
            "vad.min_utterance_ms",
            f"{vad.min_utterance_ms} ms is shorter than vad.onset_ms ({vad.onset_ms} ms): a "
            "turn needs at least the onset",
            "vad.onset_ms",
        )
    if limits.max_turn_s * 1000 < vad.min_utterance_ms + vad.end_ms:
        problem(
            "limits.max_turn_s",
            f"{limits.max_turn_s:g} s is shorter than vad.min_utterance_ms + vad.end_ms "
            f"({vad.min_utterance_ms} + {vad.end_ms} ms), the longest a voice candidate lasts",
            "vad.min_utterance_ms",
            "vad.end_ms",
        )
    if 0 < limits.daily_audio_s < limits.max_turn_s:
        problem(
            "limits.daily_audio_s",
            f"{limits.daily_audio_s:g} s a day is less than one turn (limits.max_turn_s = "
            f"{limits.max_turn_s:g} s); raise it, or 0 for no cap",
            "limits.max_turn_s",
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


def _pin_problems(config: Config) -> list[ConfigProblem]:
    """GPIO pins used twice (the button's and the LED's, when both are in use)."""
    used: dict[int, str] = {}
    keys: list[str] = []
    if config.trigger.mode != "voice":
        keys.append("button.pin")
    if config.led.enabled:
        if config.led.kind == "rgb":
            keys += ["led.red_pin", "led.green_pin", "led.blue_pin"]
        else:
            keys.append("led.pin")
    problems = []
    for key in keys:
        section, name = key.split(".")
        pin = getattr(getattr(config, section), name)
        if pin in used:
            problems.append(
                ConfigProblem(
                    key,
                    f"GPIO {pin} is already {used[pin]}; pick another",
                    config.source_of(key, used[pin], "led.enabled", "led.kind", "trigger.mode"),
                )
            )
        else:
            used[pin] = key
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
