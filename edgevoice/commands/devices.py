"""`edgevoice devices`: list the ALSA capture and playback devices and the rates they accept.

Exit status: 0 when the configured input and output devices were found, 1 when one of them
matches no device (or several), 69 when PortAudio itself cannot start.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import pyaudio

from edgevoice.adapters.audio_devices import (
    COMMON_RATES,
    DeviceInfo,
    Kind,
    PortAudio,
    find_device,
    list_devices,
    rate_supported,
)
from edgevoice.commands._common import with_config
from edgevoice.config import Config
from edgevoice.errors import DeviceNotFoundError

NAME = "devices"
EX_UNAVAILABLE = 69


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="list ALSA capture and playback devices and the rates they accept",
        description=(
            "List the ALSA capture and playback devices PortAudio sees, with their channel "
            "counts and which common rates (8000-48000 Hz) each accepts for 16-bit audio. "
            "The devices audio.input_device and audio.output_device resolve to are marked "
            "with '*'. A device held by another program may show no rates. Exits 1 when a "
            "configured device matches no device."
        ),
    )
    parser.set_defaults(func=with_config(run_devices))


def run_devices(args: argparse.Namespace, config: Config) -> int:
    return list_audio_devices(
        input_device=config.audio.input_device,
        output_device=config.audio.output_device,
        input_channels=config.audio.input_channels,
        output_channels=config.audio.output_channels,
    )


def list_audio_devices(
    *,
    input_device: str,
    output_device: str,
    input_channels: int = 1,
    output_channels: int = 1,
    pyaudio_factory: Callable[[], PortAudio] = pyaudio.PyAudio,
    out: Any = None,
) -> int:
    """Print the listing to `out` (stdout); returns the exit status."""
    stream = out if out is not None else sys.stdout
    try:
        pa = pyaudio_factory()
    except OSError as exc:
        print(f"edgevoice: PortAudio could not start: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    try:
        devices = list_devices(pa)
        status = 0
        sections: Sequence[tuple[Kind, str, str, int]] = (
            ("input", "Capture devices", input_device, input_channels),
            ("output", "Playback devices", output_device, output_channels),
        )
        for kind, title, wanted, channels in sections:
            chosen: DeviceInfo | None = None
            problem = ""
            try:
                chosen = find_device(devices, wanted, kind)
            except DeviceNotFoundError as exc:
                problem = str(exc)
                status = 1
            print(f"{title} (ALSA via PortAudio):", file=stream)
            usable = [d for d in devices if d.channels(kind) > 0]
            if not usable:
                print("    none", file=stream)
            for device in usable:
                mark = "*" if chosen is not None and device.index == chosen.index else " "
                probe_channels = min(channels, device.channels(kind))
                rates = [
                    rate
                    for rate in COMMON_RATES
                    if rate_supported(pa, device, kind, rate, probe_channels)
                ]
                shown = " ".join(str(r) for r in rates) if rates else "none (busy?)"
                print(
                    f"  {mark} {device.name}\n"
                    f"      index {device.index}, {device.channels(kind)} channel(s), "
                    f"default {device.default_rate} Hz\n"
                    f"      accepts ({probe_channels} ch, 16-bit): {shown}",
                    file=stream,
                )
            print(f"    configured: audio.{kind}_device = {wanted!r}", file=stream)
            if problem:
                print(f"    ! {problem}", file=stream)
            print(file=stream)
        return status
    finally:
        pa.terminate()
