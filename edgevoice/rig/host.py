"""What the rig needs installed, and the one-line error when something is missing.

The rig runs a private PulseAudio server behind ALSA's `pulse` plugin and speaks with
espeak-ng. On Debian 12 / Raspberry Pi OS bookworm those are the apt packages in
`APT_PACKAGES`; `make deps` installs them (with the rest of the build dependencies).
"""

from __future__ import annotations

import glob
import shutil

TOOLS = ("pulseaudio", "pactl", "paplay", "parecord", "pacat", "espeak-ng")
APT_PACKAGES = ("pulseaudio", "pulseaudio-utils", "libasound2-plugins", "espeak-ng")
INSTALL_HINT = f"run `make deps` (or: sudo apt-get install {' '.join(APT_PACKAGES)})"
PLUGIN_PATTERNS = (
    "/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so",
    "/usr/lib/alsa-lib/libasound_module_pcm_pulse.so",
    "/usr/lib64/alsa-lib/libasound_module_pcm_pulse.so",
)


class RigError(Exception):
    """The rig could not do what it was asked; the message is one line naming the fix."""


class ToolsMissing(RigError):
    """A program or the ALSA pulse plugin is not installed."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"real-time audio devices need {', '.join(missing)}: {INSTALL_HINT}")


def pulse_alsa_plugin() -> str | None:
    """The path of ALSA's pulse PCM plugin (libasound2-plugins), or None."""
    for pattern in PLUGIN_PATTERNS:
        found = glob.glob(pattern)
        if found:
            return found[0]
    return None


def missing_tools() -> list[str]:
    """What the rig needs and cannot find (programs, the ALSA plugin)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if pulse_alsa_plugin() is None:
        missing.append("the ALSA pulse plugin (libasound2-plugins)")
    return missing


def require_tools() -> None:
    """Raise ToolsMissing (one line, naming the fix) when anything is missing."""
    missing = missing_tools()
    if missing:
        raise ToolsMissing(missing)
