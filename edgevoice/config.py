"""The configuration: frozen dataclasses, parsed and validated from TOML text. No I/O here.

One TOML file (default /etc/edgevoice/edgevoice.toml) holds everything except the API key, which
never lives in the file (see `edgevoice.adapters.credential_lookup`). Every field has a default,
a unit where one applies, and a check; `parse_config` reports *every* problem at once as one
`ConfigError`, each problem naming its dotted key and the file, so a person fixes the file in
one pass.

Reading the file is the caller's job (`edgevoice.adapters.config_file`), so this module stays
pure.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import tomllib
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from edgevoice.errors import ConfigError, ConfigProblem
from edgevoice.live.tools import LOCAL_TOOLS

DEFAULT_CONFIG_PATH = "/etc/edgevoice/edgevoice.toml"
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
VOICES = (
    "Zephyr Puck Charon Kore Fenrir Leda Orus Aoede Callirrhoe Autonoe Enceladus Iapetus Umbriel "
    "Algieba Despina Erinome Algenib Rasalgethi Laomedeia Achernar Alnilam Schedar Gacrux "
    "Pulcherrima Achird Zubenelgenubi Vindemiatrix Sadachbia Sadaltager Sulafat"
).split()  # docs/live-protocol.md section 9: the 30 voices of native-audio models

Check = Callable[[Any], str | None]  # returns a problem message, or None when the value is fine


def setting(
    default: Any,
    doc: str,
    *,
    unit: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Sequence[Any] | None = None,
    check: Check | None = None,
) -> Any:
    """Declare one config field: its default, what it means, its unit and its bounds."""
    meta = {
        "doc": doc,
        "unit": unit,
        "minimum": minimum,
        "maximum": maximum,
        "choices": tuple(choices) if choices is not None else None,
        "check": check,
    }
    if isinstance(default, (list, tuple)):
        value = tuple(default)
        return field(default_factory=lambda: value, metadata=meta)
    return field(default=default, metadata=meta)


def _rate(value: Any) -> str | None:
    if value not in STANDARD_RATES:
        low, high = RATE_RANGE
        listed = ", ".join(str(r) for r in STANDARD_RATES)
        return f"{value} is not a rate the resampler supports ({low}-{high}: one of {listed})"
    return None


def _absolute_path(value: Any) -> str | None:
    if value and not str(value).startswith("/"):
        return f"{value!r} must be an absolute path (starting with /)"
    return None


def _endpoint(value: Any) -> str | None:
    parts = urlsplit(str(value))
    if parts.scheme not in ("wss", "ws") or not parts.hostname:
        return f"{value!r} is not a WebSocket URL; use wss://host[:port]"
    if parts.query or parts.username or parts.password:
        return "must not carry a query or credentials (the key goes in a header, never the URL)"
    if parts.scheme == "ws" and not _is_loopback(parts.hostname):
        return "plain ws:// is only allowed for loopback hosts (the simulator); use wss://"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _model(value: Any) -> str | None:
    if not value or any(c.isspace() for c in value):
        return (
            f"{value!r} is not a model id; use e.g. 'gemini-2.5-flash-native-audio-preview-12-2025'"
        )
    return None


def _tools(value: Any) -> str | None:
    known = sorted(LOCAL_TOOLS)
    unknown = [t for t in value if t not in known]
    if unknown:
        return f"unknown tool(s) {unknown}; allowed: {list(known)}"
    return None


@dataclass(frozen=True)
class LiveConfig:
    """The Gemini Live connection and session."""

    endpoint: str = setting(
        "wss://generativelanguage.googleapis.com",
        "Base URL of the Live API. ws:// is accepted only for loopback hosts (the simulator).",
        check=_endpoint,
    )
    api_version: str = setting(
        "v1beta", "API version in the endpoint path.", choices=("v1beta", "v1alpha")
    )
    model: str = setting(
        "gemini-2.5-flash-native-audio-preview-12-2025",
        "Live model id (without or with the 'models/' prefix).",
        check=_model,
    )
    voice: str = setting("Puck", "Prebuilt voice of the spoken answer.", choices=VOICES)
    system_instruction: str = setting(
        "You are a helpful voice assistant on a small device. Answer briefly, in the language "
        "the user speaks.",
        "System instruction sent in setup. Empty to send none.",
    )
    input_transcription: bool = setting(True, "Ask for transcripts of what the user said.")
    output_transcription: bool = setting(True, "Ask for transcripts of the spoken answer.")
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
        0, "Context size that triggers compression; 0 = server default.", unit="tokens", minimum=0
    )
    tools: tuple[str, ...] = setting(
        ("get_time",), "Local tools the model may call (allow-list).", check=_tools
    )
    connect_timeout: float = setting(
        10.0, "Time allowed for TCP + TLS + WebSocket handshake.", unit="s", minimum=1, maximum=120
    )
    setup_timeout: float = setting(
        10.0, "Time allowed between sending setup and setupComplete.", unit="s", minimum=1
    )
    response_timeout: float = setting(
        20.0,
        "Time allowed from the end of a user turn to the first answer before reconnecting.",
        unit="s",
        minimum=1,
    )
    keepalive_interval: float = setting(
        30.0,
        "WebSocket ping interval; 0 disables pings. The real server answers pings slowly.",
        unit="s",
        minimum=0,
    )
    keepalive_timeout: float = setting(
        60.0, "How long to wait for a pong before treating the link as dead.", unit="s", minimum=1
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
    )
    follow_up_window: float = setting(
        10.0,
        "Keep the connection open this long after an answer, for a quick follow-up.",
        unit="s",
        minimum=0,
    )


@dataclass(frozen=True)
class AuthConfig:
    """Where the credential comes from. The key itself is never in this file."""

    api_key_file: str = setting(
        "",
        "File holding the API key (mode 0600 or 0640 with the service group). Used when no "
        "systemd credential 'gemini-api-key' is present. Empty: fall back to $GEMINI_API_KEY.",
        check=_absolute_path,
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
        check=_rate,
    )
    input_channels: int = setting(1, "Capture channels.", choices=(1, 2))
    downmix: str = setting(
        "average", "How stereo input becomes mono.", choices=("average", "left", "right")
    )
    input_gain_db: float = setting(
        0.0, "Gain applied to the microphone.", unit="dB", minimum=-40, maximum=40
    )
    output_rate: int = setting(48000, "Playback rate.", unit="Hz", check=_rate)
    output_channels: int = setting(1, "Playback channels.", choices=(1, 2))
    volume: int = setting(80, "Playback volume.", unit="%", minimum=0, maximum=100)
    playback_prebuffer_ms: int = setting(
        100, "Audio buffered before playback starts (jitter buffer).", unit="ms", minimum=0
    )
    period_ms: int = setting(
        20, "Device period (one PortAudio callback).", unit="ms", minimum=5, maximum=100
    )
    capture_queue_frames: int = setting(
        50,
        "Capture frames held when the daemon falls behind; the oldest are dropped beyond this.",
        unit="frames",
        minimum=2,
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


@dataclass(frozen=True)
class LedConfig:
    """The status LED."""

    enabled: bool = setting(False, "Drive a status LED.")
    pin: int = setting(27, "BCM GPIO number of the LED.", minimum=0, maximum=27)
    active_high: bool = setting(True, "LED lights when the pin is high.")


@dataclass(frozen=True)
class VadConfig:
    """The local voice trigger (webrtcvad plus hysteresis and a pre-roll)."""

    aggressiveness: int = setting(
        2, "webrtcvad aggressiveness (0 = least, 3 = most).", minimum=0, maximum=3
    )
    onset_ms: int = setting(
        120, "Speech needed before the trigger fires.", unit="ms", minimum=20, maximum=2000
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
        300, "Extra mute time after playback ends (half duplex).", unit="ms", minimum=0
    )


@dataclass(frozen=True)
class ReconnectConfig:
    """Backoff when the network, the server or a device fails."""

    initial_delay: float = setting(0.5, "First retry delay.", unit="s", minimum=0.05, maximum=60)
    max_delay: float = setting(30.0, "Longest retry delay.", unit="s", minimum=1, maximum=3600)
    multiplier: float = setting(2.0, "Delay growth per failure.", minimum=1, maximum=10)
    jitter: float = setting(
        0.2, "Random spread of each delay, as a fraction of it.", minimum=0, maximum=1
    )
    throttled_delay: float = setting(
        60.0, "Delay after a quota / rate-limit close.", unit="s", minimum=1, maximum=3600
    )
    stable_after: float = setting(
        30.0, "A connection up this long resets the backoff.", unit="s", minimum=0
    )


@dataclass(frozen=True)
class PathsConfig:
    """Where edgevoice keeps files."""

    state_dir: str = setting(
        "/var/lib/edgevoice",
        "Persistent state (the resumption handle).",
        check=_absolute_path,
    )
    runtime_dir: str = setting(
        "/run/edgevoice",
        "Runtime files (the control socket).",
        check=_absolute_path,
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
    reconnect: ReconnectConfig = field(default_factory=ReconnectConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    log: LogConfig = field(default_factory=LogConfig)


# Section name -> its dataclass, in file order.
SECTIONS: dict[str, type[Any]] = typing.get_type_hints(Config)


# --------------------------------------------------------------------------------------------
# Parsing


def parse_config(
    text: str | None,
    source: str,
    overrides: Sequence[str] = (),
) -> Config:
    """Build a Config from TOML text (None: defaults only) plus `section.key=value` overrides.

    Raises ConfigError listing every problem, each with its key and where it came from.
    """
    problems: list[ConfigProblem] = []
    data: dict[str, Any] = {}
    if text is not None:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            # tomllib's message carries "(at line N, column M)": keep it, it is the fix.
            raise ConfigError.single("(file)", f"not valid TOML: {exc}", source) from None
    origins: dict[tuple[str, str], str] = {}
    for section, values in data.items():
        if isinstance(values, dict):
            for key in values:
                origins[(section, key)] = source
    for item in overrides:
        _apply_override(item, data, origins, problems)
    config = _build(data, origins, source, problems)
    if problems:
        raise ConfigError(problems)
    assert config is not None
    return config


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
        problems.append(
            ConfigProblem(key or item, "override must look like section.key=value", "--set")
        )
        return
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: treat it as a string; the type check still applies
    target = data.setdefault(section, {})
    if not isinstance(target, dict):
        problems.append(ConfigProblem(section, "is not a table", "--set"))
        return
    target[name] = value
    origins[(section, name)] = "--set"


def _build(
    data: Mapping[str, Any],
    origins: Mapping[tuple[str, str], str],
    source: str,
    problems: list[ConfigProblem],
) -> Config | None:
    sections: dict[str, Any] = {}
    for section_name, values in data.items():
        if section_name not in SECTIONS:
            problems.append(
                ConfigProblem(section_name, _unknown("section", section_name, SECTIONS), source)
            )
            continue
        if not isinstance(values, dict):
            problems.append(
                ConfigProblem(section_name, f"must be a table ([{section_name}])", source)
            )
            continue
        built = _build_section(section_name, values, origins, source, problems)
        if built is not None:
            sections[section_name] = built
    if problems:
        return None
    config = Config(**sections)
    problems.extend(_cross_checks(config, source))
    return config


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
        key = f"{section}.{name}"
        if name not in fields:
            problems.append(ConfigProblem(key, _unknown("key", name, fields), where))
            ok = False
            continue
        message = _check_value(value, hints[name], fields[name].metadata)
        if message is not None:
            problems.append(ConfigProblem(key, message, where))
            ok = False
            continue
        kwargs[name] = _normalise(value, hints[name])
    return cls(**kwargs) if ok else None


def _unknown(what: str, name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"
    return f"unknown {what}{hint}"


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


def _check_value(value: Any, tp: Any, meta: Mapping[str, Any]) -> str | None:
    if not _type_ok(value, tp):
        return f"{value!r} is not {_type_name(tp)}"
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint = f"; did you mean {close[0]!r}?" if close and len(choices) > 8 else ""
        if len(choices) > 8:
            return f"{value!r} is not one of the {len(choices)} allowed values{hint}"
        return f"{value!r} is not one of {shown}"
    minimum, maximum = meta.get("minimum"), meta.get("maximum")
    unit = f" {meta['unit']}" if meta.get("unit") else ""
    if minimum is not None and value < minimum:
        return f"{value!r} is below the minimum {minimum}{unit}"
    if maximum is not None and value > maximum:
        return f"{value!r} is above the maximum {maximum}{unit}"
    check: Check | None = meta.get("check")
    if check is not None:
        return check(value)
    return None


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


def _normalise(value: Any, tp: Any) -> Any:
    if tp is float:
        return float(value)
    if typing.get_origin(tp) is tuple:
        return tuple(value)
    return value


def _cross_checks(config: Config, source: str) -> list[ConfigProblem]:
    """Rules that involve more than one field."""
    problems: list[ConfigProblem] = []
    if config.reconnect.initial_delay > config.reconnect.max_delay:
        problems.append(
            ConfigProblem(
                "reconnect.initial_delay",
                f"{config.reconnect.initial_delay} s is above reconnect.max_delay "
                f"({config.reconnect.max_delay} s)",
                source,
            )
        )
    if (
        config.led.enabled
        and config.trigger.mode != "voice"
        and config.led.pin == config.button.pin
    ):
        problems.append(
            ConfigProblem(
                "led.pin", f"GPIO {config.led.pin} is already button.pin; pick another", source
            )
        )
    if config.vad.end_of_speech == "server" and config.trigger.mode != "voice":
        # The button brackets its turns with activityStart/End, which needs server VAD off for
        # the whole connection (section 3.2), so server end-of-speech only fits the voice mode.
        problems.append(
            ConfigProblem(
                "vad.end_of_speech",
                f"'server' needs trigger.mode = 'voice' (it is {config.trigger.mode!r}); "
                "use 'local' with a button",
                source,
            )
        )
    return problems


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
    """Render the effective configuration as TOML (it holds no secret: the key is not in it)."""
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
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
