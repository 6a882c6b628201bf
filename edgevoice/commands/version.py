"""`edgevoice version`: the edgevoice version and the versions of the libraries it drives."""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
from typing import Any

from edgevoice import __version__
from edgevoice.commands._common import without_config

NAME = "version"
LIBRARIES = ("websockets", "numpy", "PyAudio", "webrtcvad-wheels", "gpiozero", "systemd-python")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME, parents=[common], help="print versions", description="Print versions and exit."
    )
    parser.add_argument("--all", action="store_true", help="also list library versions")
    parser.set_defaults(func=without_config(run, NAME))


def run(args: argparse.Namespace) -> int:
    print(f"edgevoice {__version__}")
    if args.all:
        print(f"python {platform.python_version()}")
        for name in LIBRARIES:
            try:
                print(f"{name} {importlib.metadata.version(name)}")
            except importlib.metadata.PackageNotFoundError:
                print(f"{name} not installed")
    return 0
