"""`SimOptions`: every knob of the simulator, settable from tests and from the command line.

Options are checked when they are made: a value the simulator cannot honour (NaN or infinite
seconds, a close code no server may send, a negative count, a model with no family) raises
ValueError with one line that names the option and what it takes, so nothing breaks later on
every connection.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from edgevoice.sim.faults import Fault
from edgevoice.sim.models import DEFAULT_MODELS, Family, served_models

RefuseMode = Literal["http", "unavailable", "quota"]
LifetimeClose = Literal["deadline", "aborted"]

MIB = 1 << 20


@dataclass(frozen=True)
class SimOptions:
    """How the simulator behaves. The defaults are the real service's behaviour.

    Units are in the names: `_s` seconds, `_ms` milliseconds, `_dbfs` dB relative to full scale.
    """

    # --- credentials (never shown in repr or logs) ----------------------------------------
    api_keys: frozenset[str] = field(default=frozenset(), repr=False)
    """Keys accepted on the BidiGenerateContent paths; empty = any non-empty key."""
    tokens: frozenset[str] = field(default=frozenset(), repr=False)
    """Tokens accepted on BidiGenerateContentConstrained; empty = any `auth_tokens/...` token."""

    # --- model and the parrot -------------------------------------------------------------
    models: Mapping[str, Family] | tuple[str, ...] = DEFAULT_MODELS
    """Model ids served (without `models/`): known ids (models.KNOWN_MODELS), or a mapping of
    id -> Family for others. Anything else closes 1008 "not found"."""
    pace: float = 1.0
    """Seconds slept per second of reply audio sent: 1.0 real time, 0.1 ten times faster,
    0 as fast as possible."""
    chunk_ms: int = 40
    """Reply audio per serverContent message (40-100 ms is what clients see)."""
    speed: float = 1.15
    """How much faster and higher the parrot repeats what it heard."""
    max_reply_s: float = 8.0
    vad_threshold_dbfs: float = -40.0
    """Energy VAD: a 20 ms frame louder than this is speech."""
    vad_silence_ms: int = 800
    """Energy VAD: end of speech after this much silence, unless setup sets silenceDurationMs."""
    tool_call_every: int = 0
    """Before every Nth answer (turn numbers count across resumption), call `tool_name` if the
    client declared it. The declaration's behavior (or the family's default, models.py) decides
    whether the answer waits for the toolResponse. 0 = never."""
    tool_name: str = "get_time"
    silent_turn_every: int = 0
    """Where proactive audio is on (3.8 always; 2.5 with proactivity.proactiveAudio), answer
    every Nth turn with silence: no audio, no generationComplete, only turnComplete (§4.2:
    "a user turn that ends in turnComplete with no audio is a valid outcome"). 0 = never."""
    late_transcription: bool = False
    """Send each answer's last outputTranscription piece after its turnComplete (§4.2:
    transcriptions have no ordering guarantee with the model turn)."""

    # --- wire -------------------------------------------------------------------------------
    text_frames: bool = False
    """Send text frames instead of the real service's binary frames."""
    session_id: bool = False
    """Put a sessionId in setupComplete (the SDK fixtures have one; the default is `{}`)."""
    max_client_frame_bytes: int = MIB

    # --- time -------------------------------------------------------------------------------
    now: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    """The clock (seconds) for everything timed: pacing, lifetime, setup timeout, handles."""
    sleep: Callable[[float], Awaitable[None]] = field(
        default=asyncio.sleep, compare=False, repr=False
    )
    """How the simulator waits; pass `VirtualClock.sleep` (clock.py) with its `now`."""

    # --- lifecycle --------------------------------------------------------------------------
    handle_ttl_s: float = 7200.0
    """Resumption handles expire this long after their session's connection ended (2 h)."""
    lifetime_s: float | None = 600.0
    """Close each connection this long after setupComplete, sending goAway `go_away_notice_s`
    before (§6.1: a connection lasts about 10 min). None = no limit."""
    go_away_notice_s: float = 50.0
    """The goAway's timeLeft before the end of a connection's life (field report: "50s",
    kizuna-ai-lab/sokuji#179)."""
    lifetime_close: LifetimeClose = "deadline"
    """How a connection's life (and a goaway fault) ends (§6.2): "deadline" = 1011 "Deadline
    expired before operation could complete.", "aborted" = 1008 "The operation was aborted."."""
    setup_timeout_s: float | None = 30.0
    """Close a connection that has not sent its setup frame this long after the upgrade
    (1011 "Deadline expired ..."; the real timeout is not known: unverified). None = never."""
    refuse_first: int = 0
    """Refuse this many connection attempts first, then accept."""
    refuse_mode: RefuseMode = "http"
    """How to refuse: "http" = HTTP 503 at the handshake; "unavailable" / "quota" = upgrade,
    read the setup, close 1011 with that text."""
    faults: tuple[Fault, ...] = ()

    # --- bounds (a simulator that clients cannot take down) ---------------------------------
    max_connections: int = 64
    """Open connections at once; more are upgraded, then closed at once 1011 with the quota
    text like the service's concurrent-session limit (§6.1; the real limit depends on the tier)."""
    max_heard_s: float = 120.0
    """Audio kept per user turn for the parrot; longer turns are still counted in full."""
    record_bytes_per_connection: int = 4 * MIB
    """Frames kept per connection (raw sizes); the oldest are dropped first (counts stay)."""
    record_bytes_total: int = 64 * MIB
    """Frames kept across all connections; frames of closed connections are dropped first."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", served_models(self.models))
        _check(self)

    @property
    def served(self) -> Mapping[str, Family]:
        """The served models, id -> family (normalised from `models`)."""
        assert isinstance(self.models, Mapping)
        return self.models


def _finite(name: str, value: float, *, low: float, high: float = math.inf, unit: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number of {unit}, got {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        bound = f"from {low:g} to {high:g}" if math.isfinite(high) else f">= {low:g}"
        raise ValueError(f"{name} must be a finite number of {unit} {bound}, got {value!r}")


def _count(name: str, value: int, *, low: int = 0, high: int = 1 << 40) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")


def _check(o: SimOptions) -> None:
    _finite("pace", o.pace, low=0, high=1000, unit="seconds per second")
    _count("chunk_ms", o.chunk_ms, low=10, high=1000)
    _finite("speed", o.speed, low=0.25, high=4, unit="times")
    _finite("max_reply_s", o.max_reply_s, low=0.1, high=600, unit="seconds")
    _finite("vad_threshold_dbfs", o.vad_threshold_dbfs, low=-120, high=0, unit="dBFS")
    _count("vad_silence_ms", o.vad_silence_ms, low=20, high=60_000)
    _count("tool_call_every", o.tool_call_every)
    _count("silent_turn_every", o.silent_turn_every)
    if not o.tool_name:
        raise ValueError("tool_name must not be empty")
    _count("max_client_frame_bytes", o.max_client_frame_bytes, low=1024, high=64 * MIB)
    _finite("handle_ttl_s", o.handle_ttl_s, low=0, unit="seconds")
    if o.lifetime_s is not None:
        _finite("lifetime_s", o.lifetime_s, low=0.001, unit="seconds")
    _finite("go_away_notice_s", o.go_away_notice_s, low=0, unit="seconds")
    if o.lifetime_close not in ("deadline", "aborted"):
        raise ValueError(f"lifetime_close must be deadline or aborted, got {o.lifetime_close!r}")
    if o.setup_timeout_s is not None:
        _finite("setup_timeout_s", o.setup_timeout_s, low=0.001, unit="seconds")
    _count("refuse_first", o.refuse_first)
    if o.refuse_mode not in ("http", "unavailable", "quota"):
        raise ValueError(f"refuse_mode must be http, unavailable or quota, got {o.refuse_mode!r}")
    for fault in o.faults:
        fault.check()
    _count("max_connections", o.max_connections, low=1, high=100_000)
    _finite("max_heard_s", o.max_heard_s, low=1, high=3600, unit="seconds")
    _count("record_bytes_per_connection", o.record_bytes_per_connection)
    _count("record_bytes_total", o.record_bytes_total)
    if not callable(o.now) or not callable(o.sleep):
        raise ValueError("now and sleep must be callables (see edgevoice.sim.clock)")
