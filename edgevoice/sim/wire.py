"""Server messages as the simulator puts them on the wire (protocol doc section 4).

The real service serialises proto3 JSON: camelCase names, default values (false, 0, "")
omitted, bytes as standard base64, durations as strings like "10s" or "1.500s". The builders
here follow that, so `{"sessionResumptionUpdate": {}}` is what "not resumable, empty handle"
looks like on the wire. Every frame must stay under 1 MiB (the SDK's receive limit, section 1.5).
"""

from __future__ import annotations

import base64
import json
from typing import Any

MAX_SERVER_FRAME_BYTES = 1 << 20  # websockets' default max_size in the SDK (section 1.5)


class FrameTooLarge(RuntimeError):
    """The simulator built a frame the SDK would refuse (close 1009): a simulator bug."""


def encode(message: dict[str, Any]) -> bytes:
    """UTF-8 JSON for one server message; raises FrameTooLarge at 1 MiB or more."""
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(data) >= MAX_SERVER_FRAME_BYTES:
        raise FrameTooLarge(f"server frame of {len(data)} bytes is not under 1 MiB")
    return data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def duration(seconds: float) -> str:
    """google.protobuf.Duration in JSON: "10s", "0.250s", "1.000500s"."""
    nanos = round(seconds * 1_000_000_000)
    whole, frac = divmod(nanos, 1_000_000_000)
    if frac == 0:
        return f"{whole}s"
    if frac % 1_000_000 == 0:
        return f"{whole}.{frac // 1_000_000:03d}s"
    if frac % 1_000 == 0:
        return f"{whole}.{frac // 1_000:06d}s"
    return f"{whole}.{frac:09d}s"


def setup_complete(session_id: str = "") -> dict[str, Any]:
    return {"setupComplete": {"sessionId": session_id} if session_id else {}}


def server_content(**content: Any) -> dict[str, Any]:
    return {"serverContent": content}


def audio_chunk(pcm: bytes, mime_type: str) -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime_type, "data": b64(pcm)}}


def resumption_update(handle: str) -> dict[str, Any]:
    """A handle means resumable; "" means not resumable (both fields at their defaults)."""
    if handle:
        return {"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}}
    return {"sessionResumptionUpdate": {}}


def usage_metadata(prompt: dict[str, int], response: dict[str, int]) -> dict[str, Any]:
    """UsageMetadata from token counts per modality (zero counts omitted, as proto3 JSON does)."""
    usage: dict[str, Any] = {}
    prompt_total = sum(prompt.values())
    response_total = sum(response.values())
    if prompt_total:
        usage["promptTokenCount"] = prompt_total
    if response_total:
        usage["responseTokenCount"] = response_total
    if prompt_total + response_total:
        usage["totalTokenCount"] = prompt_total + response_total
    for key, counts in (("promptTokensDetails", prompt), ("responseTokensDetails", response)):
        details = [{"modality": m, "tokenCount": n} for m, n in counts.items() if n]
        if details:
            usage[key] = details
    return usage


def oversized_frame() -> bytes:
    """A well-formed audio chunk message just over 1 MiB: only for the OVERSIZED fault."""
    data = "A" * MAX_SERVER_FRAME_BYTES  # valid base64 (zero bytes)
    part = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}}
    message = {"serverContent": {"modelTurn": {"parts": [part]}}}
    return json.dumps(message, separators=(",", ":")).encode("utf-8")
