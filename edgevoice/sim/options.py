"""`SimOptions`: every knob of the simulator, settable from tests and from the command line."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from edgevoice.sim.faults import Fault
from edgevoice.sim.models import DEFAULT_MODELS

RefuseMode = Literal["http", "unavailable", "quota"]


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
    models: tuple[str, ...] = DEFAULT_MODELS
    """Model ids served (without `models/`); anything else closes 1008."""
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
    client declared it, and wait for the toolResponse. 0 = never."""
    tool_name: str = "get_time"

    # --- wire -------------------------------------------------------------------------------
    text_frames: bool = False
    """Send text frames instead of the real service's binary frames."""
    session_id: bool = False
    """Put a sessionId in setupComplete (the SDK fixtures have one; the default is `{}`)."""
    max_client_frame_bytes: int = 1 << 20

    # --- lifecycle --------------------------------------------------------------------------
    handle_ttl_s: float = 7200.0
    """Resumption handles expire this long after their session's connection ended (2 h)."""
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)
    """The clock for handle expiry; inject a fake one in tests."""
    lifetime_s: float | None = None
    """Close each connection this long after setupComplete (1011 "Deadline expired..."),
    sending goAway `go_away_notice_s` before. None = no limit."""
    go_away_notice_s: float = 5.0
    refuse_first: int = 0
    """Refuse this many connection attempts first, then accept."""
    refuse_mode: RefuseMode = "http"
    """How to refuse: "http" = HTTP 503 at the handshake; "unavailable" / "quota" = upgrade,
    read the setup, close 1011 with that text."""
    faults: tuple[Fault, ...] = ()
