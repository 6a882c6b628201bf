"""`edgevoice devices`: list the ALSA capture and playback devices and the rates they accept.

The audio libraries' own messages (alsa-lib and libjack print dozens of lines while PortAudio
starts on a machine with the stock ALSA configuration) are kept off the terminal: `-v` logs each
of them, and a failed listing ends with a one-line summary of them.

Exit status: 0 when the configured input and output devices were found; 1 when one of them
matches no device (or several), including when there is no device at all; 69 when PortAudio
cannot start (an ALSA configuration it would abort on, or a device that blocks while it is
probed: the message names it and says what to check).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import pyaudio

from edgevoice.adapters import alsa_lib
from edgevoice.adapters.audio_devices import (
    COMMON_RATES,
    DeviceInfo,
    Kind,
    find_device,
    list_devices,
    rate_supported,
)
from edgevoice.adapters.portaudio_startup import (
    STARTUP_TIMEOUT,
    PortAudio,
    blocked_hint,
    fifo_backed,
    start_portaudio,
    stop_portaudio,
)
from edgevoice.commands._common import seconds_type, with_config
from edgevoice.config import Config
from edgevoice.errors import AudioDeviceError, DeviceNotFoundError
from edgevoice.redact import printable

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
            "configured device matches no device, 69 when PortAudio cannot start."
        ),
    )
    parser.add_argument(
        "--timeout",
        type=seconds_type("--timeout", 600),
        default=STARTUP_TIMEOUT,
        metavar="S",
        help=f"give up when probing the devices takes longer (default {STARTUP_TIMEOUT:g})",
    )
    parser.set_defaults(func=with_config(run_devices))


def run_devices(args: argparse.Namespace, config: Config) -> int:
    return list_audio_devices(
        input_device=config.audio.input_device,
        output_device=config.audio.output_device,
        input_channels=config.audio.input_channels,
        output_channels=config.audio.output_channels,
        timeout=args.timeout,
    )


@dataclass(frozen=True)
class Surveyed:
    """One device as listed: what it is and the rates it accepts for one direction."""

    device: DeviceInfo
    channels: int  # channel count the rates were probed with
    rates: tuple[int, ...] | None  # None: not probed (see `why`)
    why: str = ""


@dataclass(frozen=True)
class Survey:
    devices: list[DeviceInfo]
    probed: dict[Kind, list[Surveyed]]


def survey(pa: PortAudio, input_channels: int, output_channels: int) -> Survey:
    """List the devices and probe the common rates of each (blocking: PortAudio opens them).

    A device that reads or writes a FIFO is not probed: opening it waits for a program on the
    FIFO's other end, and pyaudio's is_format_supported holds the GIL while it waits, which
    would freeze this process beyond the reach of any timeout.
    """
    devices = list_devices(pa)
    fifos = fifo_backed()
    probed: dict[Kind, list[Surveyed]] = {}
    directions: tuple[tuple[Kind, int], ...] = (
        ("input", input_channels),
        ("output", output_channels),
    )
    for kind, channels in directions:
        rows = []
        for device in devices:
            if device.channels(kind) <= 0:
                continue
            count = min(channels, device.channels(kind))
            if device.name in fifos:
                paths = ", ".join(
                    sorted({printable(f.path, limit=200) for f in fifos[device.name]})
                )
                rows.append(Surveyed(device, count, None, f"not probed: it uses the FIFO {paths}"))
                continue
            rates = tuple(r for r in COMMON_RATES if rate_supported(pa, device, kind, r, count))
            rows.append(Surveyed(device, count, rates))
        probed[kind] = rows
    return Survey(devices, probed)


def list_audio_devices(
    *,
    input_device: str,
    output_device: str,
    input_channels: int = 1,
    output_channels: int = 1,
    pyaudio_factory: Callable[[], PortAudio] = pyaudio.PyAudio,
    timeout: float = STARTUP_TIMEOUT,
    out: TextIO | None = None,
) -> int:
    """Print the listing to `out` (stdout), problems to stderr; returns the exit status.

    PortAudio's start-up and the probing each get `timeout` seconds; a blocked one is left
    behind in its daemon thread (the process exits anyway).
    """
    stream = out if out is not None else sys.stdout
    mark = alsa_lib.MESSAGES.mark()
    try:
        pa = start_portaudio(pyaudio_factory, timeout=timeout)
    except AudioDeviceError as exc:
        print(f"edgevoice: devices: {exc}", file=sys.stderr)
        _library_summary(mark)
        return EX_UNAVAILABLE
    result: list[Survey | BaseException] = []
    worker = threading.Thread(
        target=lambda: result.append(_catch(lambda: survey(pa, input_channels, output_channels))),
        name="edgevoice-devices-survey",
        daemon=True,
    )
    worker.start()
    worker.join(timeout)
    if not result:
        print(
            f"edgevoice: devices: probing the devices took longer than {timeout:g} s: "
            f"{blocked_hint()}",
            file=sys.stderr,
        )
        return EX_UNAVAILABLE  # the handle stays with the stuck thread
    stop_portaudio(pa)
    found = result[0]
    if isinstance(found, BaseException):
        print(f"edgevoice: devices: listing the devices failed: {found}", file=sys.stderr)
        _library_summary(mark)
        return EX_UNAVAILABLE
    status = _print_listing(found, stream, (("input", input_device), ("output", output_device)))
    if status:
        _library_summary(mark)
    return status


def _catch(fn: Callable[[], Survey]) -> Survey | BaseException:
    try:
        return fn()
    except (OSError, ValueError) as exc:  # PortAudio's errors, as pyaudio raises them
        return exc


def _print_listing(found: Survey, stream: TextIO, wanted: Sequence[tuple[Kind, str]]) -> int:
    if not found.devices:
        print(
            "No audio devices: PortAudio sees no ALSA capture or playback device (no sound "
            f"card, and nothing usable in {alsa_lib.config_source()}); see `aplay -l` and "
            "`aplay -L`",
            file=stream,
        )
        return 1
    status = 0
    titles: dict[Kind, str] = {"input": "Capture devices", "output": "Playback devices"}
    for kind, name in wanted:
        chosen: DeviceInfo | None = None
        problem = ""
        try:
            chosen = find_device(found.devices, name, kind)
        except DeviceNotFoundError as exc:
            problem = str(exc)
            status = 1
        print(f"{titles[kind]} (ALSA via PortAudio):", file=stream)
        rows = found.probed[kind]
        if not rows:
            print("    none", file=stream)
        for row in rows:
            device = row.device
            mark = "*" if chosen is not None and device.index == chosen.index else " "
            if row.rates is None:
                shown = row.why
            else:
                shown = " ".join(str(r) for r in row.rates) if row.rates else "none (busy?)"
            print(
                f"  {mark} {device.name}\n"
                f"      index {device.index}, {device.channels(kind)} channel(s), "
                f"default {device.default_rate} Hz\n"
                f"      accepts ({row.channels} ch, 16-bit): {shown}",
                file=stream,
            )
        print(f"    configured: audio.{kind}_device = {name!r}", file=stream)
        if problem:
            print(f"    ! {problem}", file=stream)
        print(file=stream)
    return status


def _library_summary(mark: int) -> None:
    """One line on stderr about what the audio libraries said since `mark` (if anything)."""
    text = alsa_lib.summary(alsa_lib.MESSAGES.since(mark))
    if text:
        print(f"edgevoice: devices: {text} (-v shows them all)", file=sys.stderr)
