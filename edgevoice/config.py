"""The configuration: frozen dataclasses, parsed and validated from TOML text. No I/O here.

One TOML file (default /etc/edgevoice/edgevoice.toml) holds everything except the API key, which
never lives in the file (see `edgevoice.adapters.credential_lookup`). Every field has a default,
a unit where one applies, bounds, and a check; `parse_config` reports *every* problem at once as
one `ConfigError`, each problem naming its dotted key and where the value came from (the file,
or `--set`), so a person fixes the file in one pass.

Every value is checked against its field (`edgevoice.config_rules.check_value`: the type, NaN and
infinity refused everywhere, bounds on every number, choices, the shape of ids, URLs and language
codes, no control characters), and the whole against the rules across keys and model families
(`edgevoice.config_rules.cross_checks`). So a Config that exists is one the daemon can start
with: `edgevoice.app.session_config.live_plan` builds the setup frames and the endpoint from it,
and is the one path `check-config`, `run` and `probe` all take.

Reading the file is the caller's job (`edgevoice.adapters.config_file`, which also refuses a file
that is not a regular file or whose shape would make the TOML parser slow), so this module stays
pure.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from edgevoice.config_rules import (
    Check,
    absolute_path_problem,
    check_value,
    command_tool_problems,
    cross_checks,
    endpoint_problem,
    fallback_models_problem,
    group_problem,
    language_codes_problem,
    model_id_problem,
    rate_problem,
    tools_problem,
)
from edgevoice.errors import ConfigError, ConfigProblem
from edgevoice.live.models import DEFAULT_MODEL
from edgevoice.live.tools import LOCAL_TOOLS
from edgevoice.redact import printable

DEFAULT_CONFIG_PATH = "/etc/edgevoice/edgevoice.toml"
DEFAULTS_SOURCE = "defaults"  # the source of a value nobody set
OVERRIDE_SOURCE = "--set"
MAX_OVERRIDE = 4096  # characters in one --set value
MAX_PROBLEMS = 50  # problems listed in one ConfigError; the rest are counted
MAX_COMMAND_TOOLS = 16  # [[tools.command]] tables
VOICES = (
    "Zephyr Puck Charon Kore Fenrir Leda Orus Aoede Callirrhoe Autonoe Enceladus Iapetus Umbriel "
    "Algieba Despina Erinome Algenib Rasalgethi Laomedeia Achernar Alnilam Schedar Gacrux "
    "Pulcherrima Achird Zubenelgenubi Vindemiatrix Sadachbia Sadaltager Sulafat"
).split()  # docs/live-protocol.md section 9: the 30 voices of native-audio models


# A structured field's parser: (the value, or None) and its problems as (key suffix, message).
Parse = Callable[[Any], tuple[Any, list[tuple[str, str]]]]


def setting(
    default: Any,
    doc: str,
    *,
    unit: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Sequence[Any] | None = None,
    check: Check | None = None,
    max_length: int | None = None,
    multiline: bool = False,
    parse: Parse | None = None,
) -> Any:
    """Declare one config field: its default, what it means, its unit, its bounds and checks.

    `max_length` bounds a string's characters or a list's items (strings default to
    `config_rules.MAX_STRING`); `multiline` lets a string hold newlines and tabs (other control
    characters are refused everywhere). `parse` builds a structured value (a list of tables)
    itself: it returns the value, or None with its problems as (key suffix, message) pairs.
    """
    meta = {
        "doc": doc,
        "unit": unit,
        "minimum": minimum,
        "maximum": maximum,
        "choices": tuple(choices) if choices is not None else None,
        "check": check,
        "max_length": max_length,
        "multiline": multiline,
        "parse": parse,
    }
    if isinstance(default, (list, tuple)):
        value = tuple(default)
        return field(default_factory=lambda: value, metadata=meta)
    return field(default=default, metadata=meta)


def _parse_command_tools(
    value: Any,
) -> tuple[tuple[CommandTool, ...] | None, list[tuple[str, str]]]:
    """The [[tools.command]] tables as CommandTools, or None and every problem found."""
    if not isinstance(value, (list, tuple)):
        return None, [("", "must be a list of tables: write each tool as [[tools.command]]")]
    problems: list[tuple[str, str]] = []
    if len(value) > MAX_COMMAND_TOOLS:
        return None, [("", f"declares {len(value)} tools; at most {MAX_COMMAND_TOOLS}")]
    tools: list[CommandTool] = []
    names: set[str] = set()
    for index, table in enumerate(value, 1):
        where = f"[{index}]"
        if not isinstance(table, Mapping):
            problems.append((where, "must be a table: write each tool as [[tools.command]]"))
            continue
        found = command_tool_problems(table)
        problems += [(where + suffix, message) for suffix, message in found]
        if found:
            continue
        name = str(table["name"])
        if name in names:
            problems.append((f"{where}.name", f"{name!r} is declared twice"))
            continue
        names.add(name)
        parameters = table.get("parameters")
        tools.append(
            CommandTool(
                name=name,
                description=str(table["description"]),
                argv=tuple(table["argv"]),
                parameters=_plain(parameters) if parameters is not None else None,
                timeout_s=float(table.get("timeout_s", 10.0)),
                behavior=str(table.get("behavior", "blocking")),
                scheduling=str(table.get("scheduling", "when_idle")),
            )
        )
    return (None if problems else tuple(tools)), problems


def _plain(value: Any) -> Any:
    """A TOML value (already checked to be JSON-like) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------
# The schema


@dataclass(frozen=True)
class LiveConfig:
    """The Gemini Live connection and session."""

    endpoint: str = setting(
        "wss://generativelanguage.googleapis.com",
        "Base URL of the Live API. ws:// is accepted only for loopback hosts (the simulator).",
        check=endpoint_problem,
        max_length=512,
    )
    api_version: str = setting(
        "v1beta",
        "API version in the endpoint path. v1alpha is needed for proactive_audio = 'on' and "
        "affective_dialog on gemini-2.5 native audio.",
        choices=("v1beta", "v1alpha"),
    )
    model: str = setting(
        DEFAULT_MODEL,
        "Live model id (without or with the 'models/' prefix). An id edgevoice does not know is "
        "used as is, with a warning, and without family checks.",
        check=model_id_problem,
    )
    fallback_models: tuple[str, ...] = setting(
        (),
        "Models to switch to, in this order, when live.model is not found or keeps failing. "
        "Each is checked like live.model, and every other setting must suit its family too.",
        check=fallback_models_problem,
        max_length=5,
    )
    voice: str = setting("Puck", "Prebuilt voice of the spoken answer.", choices=VOICES)
    system_instruction: str = setting(
        "You are a helpful voice assistant on a small device. Answer briefly, in the language "
        "the user speaks.",
        "System instruction sent in setup. Empty to send none.",
        max_length=32768,
        multiline=True,
    )
    thinking_budget: int = setting(
        -1,
        "Thinking budget, on models that take one (gemini-2.5 native audio). -1: the device "
        "default, which is 0 (thinking off, the low-latency choice) on 2.5 and nothing sent on "
        "other models. 0 or more is refused on models without a budget.",
        unit="tokens",
        minimum=-1,
        maximum=24576,  # the largest budget Gemini 2.5 Flash models take
    )
    thinking_level: str = setting(
        "",
        "Thinking level, on models that take one: '' (the model's default), minimal, low, "
        "medium or high. Required on gemini-3.8-live-extended-thinking (low, medium or high); "
        "refused on gemini-2.5 native audio and gemini-3.8-live.",
        choices=("", "minimal", "low", "medium", "high"),
    )
    proactive_audio: str = setting(
        "auto",
        "Proactive audio (the model may stay silent when the input is not meant for it). auto: "
        "the model's own behaviour (always on for gemini-3.8, off before). on: gemini-2.5 "
        "native audio with api_version = 'v1alpha'. off: refused on gemini-3.8, where it is "
        "always on. Not supported on gemini-3.1.",
        choices=("auto", "on", "off"),
    )
    affective_dialog: bool = setting(
        False,
        "Affective dialog (the answer's tone follows the user's): gemini-2.5 native audio with "
        "api_version = 'v1alpha' only; removed on gemini-3.8.",
    )
    input_transcription: bool = setting(True, "Ask for transcripts of what the user said.")
    transcription_languages: tuple[str, ...] = setting(
        (),
        'Languages the user speaks, as BCP-47 codes (e.g. ["de-DE"]), sent as the input '
        "transcription's languageCodes: for people whose language the model keeps switching "
        "away from. Empty: detected. Needs input_transcription.",
        check=language_codes_problem,
        max_length=8,
    )
    output_transcription: bool = setting(True, "Ask for transcripts of the spoken answer.")
    activity_handling: str = setting(
        "interrupts",
        "What the user's speech does to an answer in progress: interrupts (barge-in, the "
        "service's default: nothing is sent) or no_interruption (the answer goes on).",
        choices=("interrupts", "no_interruption"),
    )
    turn_coverage: str = setting(
        "auto",
        "What a user turn includes: auto (the model's default), only_activity (the speech "
        "only), all_input, or audio_activity_and_all_video.",
        choices=("auto", "only_activity", "all_input", "audio_activity_and_all_video"),
    )
    resumption: bool = setting(
        True, "Ask for session resumption handles and reuse them across reconnects and restarts."
    )
    resumption_window: float = setting(
        7200.0,
        "How long a saved resumption handle is reused after the last session ended.",
        unit="s",
        minimum=0,
        maximum=7200,
    )
    compression: bool = setting(
        True, "Enable context window compression (sliding window), so sessions are not capped."
    )
    compression_trigger_tokens: int = setting(
        0,
        "Context size that triggers compression; 0 = server default. Needs compression.",
        unit="tokens",
        minimum=0,
        maximum=131072,  # the input limit of the Live models (section 9)
    )
    tools: tuple[str, ...] = setting(
        ("get_time", "get_volume", "set_volume", "end_conversation"),
        "Built-in tools the model may call (allow-list): get_time, get_volume, set_volume, "
        "mute (the microphone; only a person can unmute it) and end_conversation. Operator "
        "commands are declared in [tools].",
        check=tools_problem,
        max_length=len(LOCAL_TOOLS),
    )
    connect_timeout: float = setting(
        10.0, "Time allowed for TCP + TLS + WebSocket handshake.", unit="s", minimum=1, maximum=120
    )
    setup_timeout: float = setting(
        10.0,
        "Time allowed between sending setup and setupComplete.",
        unit="s",
        minimum=1,
        maximum=120,
    )
    response_timeout: float = setting(
        20.0,
        "Time allowed from the end of a user turn to the first answer before reconnecting.",
        unit="s",
        minimum=1,
        maximum=300,
    )
    keepalive_interval: float = setting(
        30.0,
        "WebSocket ping interval; 0 disables pings. The real server answers pings slowly.",
        unit="s",
        minimum=0,
        maximum=600,
    )
    keepalive_timeout: float = setting(
        60.0,
        "How long to wait for a pong before treating the link as dead.",
        unit="s",
        minimum=1,
        maximum=600,
    )
    websocket_deflate: bool = setting(
        True,
        "Offer permessage-deflate: base64 speech frames shrink to about 60 % for well under 1 % "
        "of a core (measured on x86); turn off on the slowest boards if CPU is short.",
    )
    max_message_size: int = setting(
        4 * 1024 * 1024,
        "Largest incoming WebSocket message accepted.",
        unit="bytes",
        minimum=64 * 1024,
        maximum=64 * 1024 * 1024,
    )
    follow_up_window: float = setting(
        10.0,
        "Keep the connection open this long after an answer, for a quick follow-up.",
        unit="s",
        minimum=0,
        maximum=600,
    )


@dataclass(frozen=True)
class AuthConfig:
    """Where the credential comes from. The key itself is never in this file."""

    api_key_file: str = setting(
        "",
        "File holding the API key (mode 0600 or 0640 with the service group). Used when no "
        "systemd credential 'gemini-api-key' is present. Empty: fall back to $GEMINI_API_KEY.",
        check=absolute_path_problem,
    )
    token_command: str = setting(
        "",
        "Command (no shell) whose stdout is a fresh ephemeral token 'auth_tokens/...'. When set, "
        "tokens are used instead of an API key.",
    )
    token_command_timeout: float = setting(
        15.0, "Time allowed for token_command.", unit="s", minimum=1, maximum=300
    )


@dataclass(frozen=True)
class AudioConfig:
    """Microphone and speaker (ALSA devices, opened through PortAudio)."""

    input_device: str = setting(
        "default", "Capture device: ALSA name or a unique substring (see `edgevoice devices`)."
    )
    output_device: str = setting(
        "default", "Playback device: ALSA name or a unique substring (see `edgevoice devices`)."
    )
    input_rate: int = setting(
        48000,
        "Capture rate; the device's default rate is used if it refuses this one.",
        unit="Hz",
        check=rate_problem,
    )
    input_channels: int = setting(1, "Capture channels.", choices=(1, 2))
    downmix: str = setting(
        "average", "How stereo input becomes mono.", choices=("average", "left", "right")
    )
    input_gain_db: float = setting(
        0.0, "Gain applied to the microphone.", unit="dB", minimum=-40, maximum=40
    )
    output_rate: int = setting(48000, "Playback rate.", unit="Hz", check=rate_problem)
    output_channels: int = setting(1, "Playback channels.", choices=(1, 2))
    volume: int = setting(80, "Playback volume.", unit="%", minimum=0, maximum=100)
    playback_prebuffer_ms: int = setting(
        100,
        "Audio buffered before playback starts (jitter buffer).",
        unit="ms",
        minimum=0,
        maximum=2000,
    )
    period_ms: int = setting(
        20, "Device period (one PortAudio callback).", unit="ms", minimum=5, maximum=100
    )
    capture_queue_frames: int = setting(
        50,
        "Capture frames held when the daemon falls behind; the oldest are dropped beyond this.",
        unit="frames",
        minimum=2,
        maximum=1000,
    )


@dataclass(frozen=True)
class TriggerConfig:
    """What starts a turn."""

    mode: str = setting(
        "button",
        "button: GPIO push-to-talk; voice: local voice trigger; both: either.",
        choices=("button", "voice", "both"),
    )


@dataclass(frozen=True)
class ButtonConfig:
    """The push-to-talk button."""

    pin: int = setting(17, "BCM GPIO number of the button.", minimum=0, maximum=27)
    mode: str = setting(
        "hold",
        "hold: talk while held; toggle: click to start, click to stop.",
        choices=("hold", "toggle"),
    )
    pull_up: bool = setting(True, "Internal pull-up (button wired to ground).")
    bounce_ms: int = setting(30, "Debounce time.", unit="ms", minimum=0, maximum=1000)
    long_press_s: float = setting(
        2.0,
        "In toggle mode, holding the button this long ends the conversation: the connection "
        "closes and the resumption handle is dropped, so the next click starts afresh. (In "
        "hold mode holding is talking: the conversation ends after live.follow_up_window, "
        "with `edgevoice ctl cancel`, or when the model ends it.)",
        unit="s",
        minimum=0.5,
        maximum=30,
    )


@dataclass(frozen=True)
class LedConfig:
    """The status LED."""

    enabled: bool = setting(False, "Drive a status LED.")
    kind: str = setting(
        "single",
        "single: one LED on led.pin, switched on and off (states differ in rhythm); pwm: one "
        "LED on led.pin driven with PWM, so the thinking and speaking patterns fade; rgb: an "
        "RGB LED on red_pin, green_pin and blue_pin (states differ in colour).",
        choices=("single", "pwm", "rgb"),
    )
    pin: int = setting(
        27, "BCM GPIO number of the LED (kind single or pwm).", minimum=0, maximum=27
    )
    red_pin: int = setting(
        22, "BCM GPIO number of the red LED of an RGB LED (kind rgb).", minimum=0, maximum=27
    )
    green_pin: int = setting(
        23, "BCM GPIO number of the green LED of an RGB LED (kind rgb).", minimum=0, maximum=27
    )
    blue_pin: int = setting(
        24, "BCM GPIO number of the blue LED of an RGB LED (kind rgb).", minimum=0, maximum=27
    )
    active_high: bool = setting(
        True,
        "LED lights when the pin is high (false: wired to 3.3 V, or a common-anode RGB LED).",
    )


@dataclass(frozen=True)
class VadConfig:
    """The local voice trigger (webrtcvad plus hysteresis and a pre-roll)."""

    aggressiveness: int = setting(
        2, "webrtcvad aggressiveness (0 = least, 3 = most).", minimum=0, maximum=3
    )
    onset_ms: int = setting(
        120, "Speech needed before the trigger fires.", unit="ms", minimum=20, maximum=2000
    )
    min_utterance_ms: int = setting(
        400,
        "Speech a voice turn needs before anything is sent, so a cough or a door does not "
        "become a turn (at least vad.onset_ms). The longest turn is limits.max_turn_s.",
        unit="ms",
        minimum=20,
        maximum=5000,
    )
    end_ms: int = setting(
        800,
        "Silence that ends the user's turn (at least 500 ms: manual turn-taking gets no server "
        "padding).",
        unit="ms",
        minimum=500,
        maximum=5000,
    )
    preroll_ms: int = setting(
        300, "Audio kept from before the trigger fired.", unit="ms", minimum=0, maximum=2000
    )
    end_of_speech: str = setting(
        "local",
        "Who decides the turn ended: the local gate or the server's VAD.",
        choices=("local", "server"),
    )
    half_duplex: bool = setting(
        True, "Mute the voice trigger while the answer plays, so the device never hears itself."
    )
    echo_tail_ms: int = setting(
        300,
        "Extra mute time after playback ends (half duplex).",
        unit="ms",
        minimum=0,
        maximum=5000,
    )


@dataclass(frozen=True)
class LimitsConfig:
    """Limits a person can rely on: a stuck button or a noisy room cannot run up a bill."""

    max_turn_s: float = setting(
        60.0,
        "Longest user turn, by button, voice or `edgevoice ctl`; the turn then ends with the "
        "limit earcon and one journal line.",
        unit="s",
        minimum=5,
        maximum=3600,
    )
    daily_audio_s: float = setting(
        3600.0,
        "Seconds of microphone audio sent per local day; 0 = no cap. Reaching it ends the turn "
        "with the limit earcon, and no turn starts again until the next day (text from "
        "`edgevoice ctl say` still works). Kept across restarts.",
        unit="s",
        minimum=0,
        maximum=86400,
    )


@dataclass(frozen=True)
class EarconsConfig:
    """Short tones for what a person cannot see (made on the device, no media files)."""

    listen_start: bool = setting(
        True, "Two rising notes when a button or `edgevoice ctl` turn starts listening."
    )
    listen_end: bool = setting(True, "Two falling notes when a turn stops listening.")
    error: bool = setting(
        True, "Two low buzzes when a connection fails or an answer stalls (see the journal)."
    )
    offline: bool = setting(True, "Three falling notes when an open connection is lost.")
    limit: bool = setting(
        True, "Three quick high notes when a turn reaches limits.max_turn_s or the daily cap."
    )


@dataclass(frozen=True)
class CommandTool:
    """One `[[tools.command]]`: a command the model may run (edgevoice.adapters.tool_runner).

    `parameters` is the JSON schema of its arguments (None: it takes none); each argument
    reaches the command as the environment variable EDGEVOICE_ARG_<NAME>, never on its command
    line. `behavior` and `scheduling` are the config's words ("blocking", "when_idle").
    """

    name: str
    description: str
    argv: tuple[str, ...]
    parameters: Mapping[str, Any] | None = field(default=None, hash=False)
    timeout_s: float = 10.0
    behavior: str = "blocking"
    scheduling: str = "when_idle"


@dataclass(frozen=True)
class ToolsConfig:
    """Operator tools: commands the model may run (the built-ins are live.tools)."""

    command: tuple[CommandTool, ...] = setting(
        (),
        "Commands the model may call, each a [[tools.command]] table: name, description (what "
        "the model is told), argv (the command and its fixed arguments; the first an absolute "
        "path; never a shell), parameters (a JSON schema of the arguments, passed as "
        "environment variables EDGEVOICE_ARG_<NAME>), timeout_s (default 10), behavior "
        "(blocking: the answer waits for the result; non_blocking: the model goes on talking) "
        "and scheduling (when_idle, interrupt or silent: how a non-blocking result is used). "
        "A model family that cannot run the behaviour gets the other one.",
        parse=lambda value: _parse_command_tools(value),
        max_length=16,
    )


@dataclass(frozen=True)
class ControlConfig:
    """The control socket `edgevoice ctl` talks to: <paths.runtime_dir>/control.sock."""

    enabled: bool = setting(
        True, "Listen on the control socket (scripts, home automation, `edgevoice ctl`)."
    )
    group: str = setting(
        "",
        "Group of the socket file (mode 0660): its members may drive the device. Empty: the "
        "daemon's own group.",
        check=group_problem,
        max_length=32,
    )


@dataclass(frozen=True)
class ReconnectConfig:
    """Backoff when the connection to the Live API fails (exponential, with jitter and a cap)."""

    initial_delay: float = setting(
        0.5,
        "Longest wait before the first retry after a failure.",
        unit="s",
        minimum=0.05,
        maximum=60,
    )
    max_delay: float = setting(
        30.0, "Cap on the wait between retries.", unit="s", minimum=1, maximum=3600
    )
    multiplier: float = setting(
        2.0, "Growth of the wait per failure in a row.", minimum=1, maximum=10
    )
    jitter: float = setting(
        1.0,
        "Random part of each wait, as a fraction of it: 1 is full jitter (the wait is drawn "
        "between 0 and its bound), 0 none.",
        minimum=0,
        maximum=1,
    )
    throttled_delay: float = setting(
        60.0,
        "Least wait after a quota or rate-limit refusal (the usual backoff comes on top).",
        unit="s",
        minimum=1,
        maximum=3600,
    )
    stable_after: float = setting(
        30.0,
        "A connection up this long (or closed by edgevoice itself) resets the backoff and the "
        "count of failures in a row.",
        unit="s",
        minimum=0,
        maximum=3600,
    )


@dataclass(frozen=True)
class PathsConfig:
    """Where edgevoice keeps files."""

    state_dir: str = setting(
        "/var/lib/edgevoice",
        "Persistent state (the resumption handle).",
        check=absolute_path_problem,
    )
    runtime_dir: str = setting(
        "/run/edgevoice",
        "Runtime files (the control socket).",
        check=absolute_path_problem,
    )


@dataclass(frozen=True)
class LogConfig:
    """Logging."""

    level: str = setting("info", "Log level.", choices=("debug", "info", "warning", "error"))
    target: str = setting(
        "auto",
        "auto: journald under systemd, else stderr.",
        choices=("auto", "journal", "stderr"),
    )


@dataclass(frozen=True)
class Config:
    """The whole configuration. Build it with `parse_config`; every field is validated."""

    live: LiveConfig = field(default_factory=LiveConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    trigger: TriggerConfig = field(default_factory=TriggerConfig)
    button: ButtonConfig = field(default_factory=ButtonConfig)
    led: LedConfig = field(default_factory=LedConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    earcons: EarconsConfig = field(default_factory=EarconsConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    reconnect: ReconnectConfig = field(default_factory=ReconnectConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    # Where each set value came from ("section.key" -> file path or "--set"); keys not listed
    # have their default. Not part of the configuration's value: two configs with the same
    # settings are equal wherever the settings came from.
    sources: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )

    def source_of(self, *keys: str) -> str:
        """Where the values of `keys` came from, for a problem that involves them: the sources
        of those that were set, in order (e.g. "--set and /etc/edgevoice/edgevoice.toml"), or
        "defaults" when none was."""
        found: dict[str, None] = {}
        for key in keys:
            if key in self.sources:
                found[self.sources[key]] = None
        return " and ".join(found) or DEFAULTS_SOURCE


# Section name -> its dataclass, in file order.
SECTIONS: dict[str, type[Any]] = {
    name: tp
    for name, tp in typing.get_type_hints(Config).items()
    if isinstance(tp, type) and dataclasses.is_dataclass(tp)
}


# --------------------------------------------------------------------------------------------
# Parsing


def parse_config(
    text: str | None,
    source: str,
    overrides: Sequence[str] = (),
) -> Config:
    """Build a Config from TOML text (None: no file, defaults only) plus `section.key=value`
    overrides (`--set`), and check it whole (`edgevoice.config_rules.cross_checks`).

    `source` names the file in messages. Raises ConfigError listing every problem (the first
    MAX_PROBLEMS, then a count), each with its key and where the value came from. Never raises
    anything else, whatever the text: the caller bounds its size and shape first
    (`edgevoice.adapters.config_file`), and what the TOML parser still chokes on is a problem too.
    """
    problems: list[ConfigProblem] = []
    data: dict[str, Any] = {}
    if text is not None:
        data = _load_toml(text, source)
    origins: dict[tuple[str, str], str] = {}
    for section, values in data.items():
        if isinstance(values, dict):
            for key in values:
                origins[(section, key)] = source
    for item in overrides:
        _apply_override(item, data, origins, problems)
    config = _build(data, origins, source, problems)
    if config is not None:
        problems.extend(cross_checks(config))
    if problems or config is None:
        raise ConfigError(_bounded(problems))
    return config


def _load_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message carries "(at line N, column M)": keep it, it is the fix.
        message = f"not valid TOML: {printable(str(exc), 200)}"
    except RecursionError:
        message = "not valid TOML: arrays or tables nested too deeply"
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        message = f"not valid TOML: a value cannot be read ({printable(str(exc), 120)})"
    raise ConfigError.single("(file)", message, source) from None


def _apply_override(
    item: str,
    data: dict[str, Any],
    origins: dict[tuple[str, str], str],
    problems: list[ConfigProblem],
) -> None:
    key, sep, raw = item.partition("=")
    key = key.strip()
    section, dot, name = key.partition(".")
    if not sep or not dot or not section or not name or "." in name:
        shown = printable(key or item, 80)
        problems.append(
            ConfigProblem(shown, "override must look like section.key=value", OVERRIDE_SOURCE)
        )
        return
    shown = printable(key, 80)
    if len(raw) > MAX_OVERRIDE or printable(raw) != raw:
        problems.append(
            ConfigProblem(
                shown,
                f"a --set value is one line of at most {MAX_OVERRIDE} printable characters; "
                "put longer or multi-line values in the file",
                OVERRIDE_SOURCE,
            )
        )
        return
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: treat it as a string; the type check still applies
    except (RecursionError, ValueError):  # nested too deeply, an integer too long to read
        problems.append(ConfigProblem(shown, "the value cannot be read", OVERRIDE_SOURCE))
        return
    target = data.setdefault(section, {})
    if not isinstance(target, dict):
        problems.append(ConfigProblem(printable(section, 80), "is not a table", OVERRIDE_SOURCE))
        return
    target[name] = value
    origins[(section, name)] = OVERRIDE_SOURCE


def _build(
    data: Mapping[str, Any],
    origins: Mapping[tuple[str, str], str],
    source: str,
    problems: list[ConfigProblem],
) -> Config | None:
    sections: dict[str, Any] = {}
    section_origins: dict[str, str] = {}  # where a section's first key came from
    for (section, _), where in origins.items():
        section_origins.setdefault(section, where)
    for section_name, values in data.items():
        shown = printable(section_name, 80)
        where = section_origins.get(section_name, source)
        if section_name not in SECTIONS:
            message = _unknown("section", section_name, SECTIONS, len(problems))
            problems.append(ConfigProblem(shown, message, where))
            continue
        if not isinstance(values, dict):
            problems.append(ConfigProblem(shown, f"must be a table ([{shown}])", source))
            continue
        built = _build_section(section_name, values, origins, source, problems)
        if built is not None:
            sections[section_name] = built
    if problems:
        return None
    sources = {f"{s}.{k}": where for (s, k), where in origins.items()}
    return Config(**sections, sources=MappingProxyType(sources))


def _build_section(
    section: str,
    values: Mapping[str, Any],
    origins: Mapping[tuple[str, str], str],
    default_source: str,
    problems: list[ConfigProblem],
) -> Any:
    cls = SECTIONS[section]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    ok = True
    for name, value in values.items():
        where = origins.get((section, name), default_source)
        key = printable(f"{section}.{name}", 80)
        if name not in fields:
            problems.append(ConfigProblem(key, _unknown("key", name, fields, len(problems)), where))
            ok = False
            continue
        meta = fields[name].metadata
        parse: Parse | None = meta.get("parse")
        if parse is not None:
            built, found = parse(value)
            for suffix, problem in found:
                problems.append(ConfigProblem(printable(key + suffix, 120), problem, where))
            if built is None or found:
                ok = False
            else:
                kwargs[name] = built
            continue
        message = check_value(value, hints[name], meta)
        if message is not None:
            problems.append(ConfigProblem(key, message, where))
            ok = False
            continue
        kwargs[name] = _normalise(value, hints[name])
    return cls(**kwargs) if ok else None


def _bounded(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - (MAX_PROBLEMS - 1)
    more = ConfigProblem("...", f"and {rest} more problems; fix these first")
    return [*problems[: MAX_PROBLEMS - 1], more]


def _unknown(what: str, name: str, known: Mapping[str, Any], found: int = 0) -> str:
    if found >= MAX_PROBLEMS:  # not shown anyway: spare the fuzzy matching
        return f"unknown {what}"
    close = difflib.get_close_matches(name[:64], list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"
    return f"unknown {what}{hint}"


def _normalise(value: Any, tp: Any) -> Any:
    if tp is float:
        return float(value)
    if typing.get_origin(tp) is tuple:
        return tuple(value)
    return value


# --------------------------------------------------------------------------------------------
# Describing


def field_docs(section: str) -> list[tuple[str, Any, str, str]]:
    """(name, default, unit, doc) for each field of a section, for help and the example file."""
    cls = SECTIONS[section]
    out = []
    defaults = cls()
    for f in dataclasses.fields(cls):
        out.append((f.name, getattr(defaults, f.name), f.metadata["unit"], f.metadata["doc"]))
    return out


def to_toml(config: Config) -> str:
    """Render the effective configuration as TOML (it holds no secret: the key is not in it).

    Every string in a Config is free of control characters but newlines and tabs (checked on
    the way in), so the text is safe to print.
    """
    lines: list[str] = []
    for section in SECTIONS:
        lines.append(f"[{section}]")
        values = getattr(config, section)
        for f in dataclasses.fields(values):
            lines.append(f"{f.name} = {_toml_value(getattr(values, f.name))}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, CommandTool):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        if fields["parameters"] is None:
            del fields["parameters"]
        return _toml_value(fields)
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, (tuple, list)):
        if value and isinstance(value[0], CommandTool):  # one table per line
            return "[\n" + "".join(f"  {_toml_value(v)},\n" for v in value) + "]"
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = (
        str(value)
        .replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: Any) -> str:
    text = str(key)
    return text if _BARE_KEY.fullmatch(text) else _toml_value(text)
