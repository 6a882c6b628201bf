"""The `edgevoice` command line: argv -> config -> logging -> run -> exit status."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from edgevoice import __version__
from edgevoice.commands._common import common_options

EX_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command Ctrl-C ended

# Subcommand modules under edgevoice.commands, in the order `--help` lists them. A module's
# command name is its name with "-" for "_" (check_config -> check-config).
COMMAND_MODULES: tuple[str, ...] = (
    "demo",
    "run",
    "ctl",
    "status",
    "check_config",
    "doctor",
    "version",
    "devices",
    "test_audio",
    "probe",
    "simulator",
    "bench",
    "soak",
)


def command_name(module: str) -> str:
    return module.replace("_", "-")


def modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The command modules a command line needs: those named in it, else all of them.

    Importing a command module imports what the command runs (numpy, pyaudio, websockets,
    the simulator), which a Pi pays for at every start; `check-config` needs none of it. Every
    argv token that is a command name counts (an option value could look like one), so the
    real command is always among those built. Top-level `--help` or no command gets all.
    """
    named = set(argv)
    wanted = tuple(m for m in COMMAND_MODULES if command_name(m) in named)
    return wanted or COMMAND_MODULES


class OneLineErrors(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the usage block is in --help).

    Subcommand parsers inherit the class, so every command's bad option is one line: what is
    wrong and where the help is, exit status 2.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    common = common_options()
    parser = OneLineErrors(
        prog="edgevoice",
        description="Push-to-talk and voice-triggered Gemini Live assistant for Raspberry Pi.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"edgevoice {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        module = importlib.import_module(f"edgevoice.commands.{name}")
        module.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(modules_for(argv))
    args = parser.parse_args(argv)
    # Defaults live here, not on the parsers, so an option given before the subcommand is not
    # overwritten by the subparser's default (argparse's parent-parser pitfall).
    for name, default in (("config", None), ("overrides", []), ("log_level", None)):
        if not hasattr(args, name):
            setattr(args, name, default)
    if not hasattr(args, "verbose"):
        args.verbose = False
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:  # Ctrl-C outside a command's own handling: one line, no traceback
        print("edgevoice: interrupted", file=sys.stderr)
        return EX_INTERRUPTED
    return status
