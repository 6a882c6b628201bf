"""The Live models the simulator serves (protocol doc section 9) and their per-family rules."""

from __future__ import annotations

# Current native-audio Live models (section 9). Everything else is "not found" (1008).
DEFAULT_MODELS: tuple[str, ...] = (
    "gemini-3.1-flash-live-preview",
    "gemini-2.5-flash-native-audio-preview-12-2025",
    "gemini-2.5-flash-native-audio-preview-09-2025",
    "gemini-2.5-flash-native-audio-latest",
)

MODEL_PREFIX = "models/"


def model_id(resource_name: str) -> str | None:
    """`models/<id>` -> `<id>`; None when the name lacks the `models/` prefix the SDK adds."""
    if resource_name.startswith(MODEL_PREFIX) and len(resource_name) > len(MODEL_PREFIX):
        return resource_name[len(MODEL_PREFIX) :]
    return None


def is_gemini_31(resource_name: str) -> bool:
    """True for the gemini-3.x Live family, whose rules differ from 2.5 (section 9)."""
    ident = model_id(resource_name) or resource_name
    return ident.startswith("gemini-3")
