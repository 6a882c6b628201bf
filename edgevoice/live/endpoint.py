"""Where the Live API is and how to reach it: the `Endpoint` and the URL of a Live method.

Core: no I/O (the connection itself is `edgevoice.adapters.ws_connect`). Kept apart from the
adapter so that building and checking an endpoint (`check-config`, `app.session_config`) does
not import websockets or the session.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from edgevoice.credentials import CredentialKind
from edgevoice.errors import ConnectError, ErrorClass
from edgevoice.redact import printable

SERVICE = "google.ai.generativelanguage.{version}.GenerativeService.{method}"


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect. Built from `live.endpoint`, `live.api_version` and timeouts.

    `send_buffer` and `audio_backlog` bound what waits in the socket's write buffer: above
    `send_buffer` bytes a send waits for the network (backpressure); microphone audio is
    dropped (and counted) once more than `audio_backlog` bytes wait, so the microphone path
    never waits on a slow uplink, while control frames (activityStart/End, tool responses)
    always go out.
    """

    base_url: str = "wss://generativelanguage.googleapis.com"
    api_version: str = "v1beta"
    connect_timeout: float = 10.0  # s: TCP + TLS + WebSocket upgrade
    setup_timeout: float = 10.0  # s: setup sent -> setupComplete
    keepalive_interval: float | None = 30.0  # s between pings; None or 0 disables them
    keepalive_timeout: float = 60.0  # s to wait for a pong
    max_message_size: int = 4 * 1024 * 1024  # bytes; the server keeps its frames under 1 MiB
    deflate: bool = True  # offer permessage-deflate
    close_timeout: float = 5.0  # s to wait for the closing handshake
    send_buffer: int = 256 * 1024  # bytes: write-buffer high-water mark (sends wait above it)
    audio_backlog: int = 64 * 1024  # bytes: audio is dropped above this (about 1.5 s of audio)

    def __post_init__(self) -> None:
        if not 0 < self.audio_backlog < self.send_buffer:
            raise ValueError("Endpoint: need 0 < audio_backlog < send_buffer")

    def url(self, kind: CredentialKind) -> str:
        """The full WebSocket URL for a credential kind (tokens use the Constrained method)."""
        shown = printable(self.base_url, 200)
        try:
            parts = urlsplit(self.base_url)
            parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
        except ValueError:
            raise ConnectError(
                f"live.endpoint {shown!r} is not a valid URL; use wss://host[:port]",
                error_class=ErrorClass.FATAL,
            ) from None
        if parts.scheme not in ("wss", "ws") or not parts.hostname:
            raise ConnectError(
                f"live.endpoint {shown!r} is not a ws(s):// URL", error_class=ErrorClass.FATAL
            )
        if parts.scheme == "ws" and not is_loopback(parts.hostname):
            raise ConnectError(
                f"refusing plain ws:// to {printable(parts.hostname)}: only loopback hosts may "
                "skip TLS; use wss://",
                error_class=ErrorClass.FATAL,  # retrying cannot help
            )
        if kind is CredentialKind.TOKEN:
            # Ephemeral tokens exist on v1alpha only (section 1.1 and 7).
            method, version = "BidiGenerateContentConstrained", "v1alpha"
        else:
            method, version = "BidiGenerateContent", self.api_version
        path = parts.path.rstrip("/") + "/ws/" + SERVICE.format(version=version, method=method)
        return f"{parts.scheme}://{parts.netloc}{path}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
