"""What every subcommand does first: load the config and set up logging, or refuse a config.

A bad config is reported on stderr, one problem per line with its key and where the value came
from, and the command returns 78 (EX_CONFIG) before anything else starts. A credential that
cannot be fetched right now (the token command failed: `CredentialError`) is one line and 75
(EX_TEMPFAIL), never 78, so systemd restarts a unit whose token server was down
(edgevoice.errors policy); any other edgevoice error escaping a command is one line and 69. A
command that reads no config (`version`, `bench`, `simulator`) refuses `--config` and `--set` in
one line instead of ignoring them, so nobody believes a setting took effect.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import signal
import sys
import threading
from collections.abc import Awaitable, Callable

from edgevoice.adapters.config_file import LoadedConfig, load_config_from_args
from edgevoice.app.log_setup import setup_logging
from edgevoice.config import Config
from edgevoice.errors import (
    ConfigError,
    ConfigProblem,
    CredentialError,
    EdgevoiceError,
    error_class_of,
)
from edgevoice.redact import printable

CommandBody = Callable[[argparse.Namespace, Config], int]
EX_USAGE = 2  # what argparse returns for a command line it cannot use
EX_UNAVAILABLE = 69  # a service (network) or a device is not there now
EX_TEMPFAIL = 75  # sysexits.h: try again later (the token command failed)
log = logging.getLogger("edgevoice")


def report_config_error(error: ConfigError) -> int:
    for problem in error.problems:
        print(f"edgevoice: config error: {problem}", file=sys.stderr)
    return error.exit_status


def print_warnings(warnings: tuple[ConfigProblem, ...] | list[ConfigProblem]) -> None:
    """Config warnings (e.g. a model edgevoice does not know) as one stderr line each."""
    for warning in warnings:
        print(f"edgevoice: warning: {warning}", file=sys.stderr)


def log_level(args: argparse.Namespace, config: Config) -> str:
    if args.verbose:
        return "debug"
    return str(args.log_level or config.log.level)


def with_config(body: CommandBody, *, announce: bool = True) -> Callable[[argparse.Namespace], int]:
    """Wrap a command body so it receives a validated Config, with logging set up.

    With `announce`, the file read is logged at info ("config: /etc/edgevoice/edgevoice.toml").
    A ConfigError raised by the body (a key file found too open, a setup frame the config cannot
    make) is reported like one found while loading: exit 78. Any other edgevoice error that
    escapes the body (a token command that failed) is one line with its class: exit 69.
    """
    return with_loaded_config(lambda args, loaded: body(args, loaded.config), announce=announce)


def with_loaded_config(
    body: Callable[[argparse.Namespace, LoadedConfig], int], *, announce: bool = True
) -> Callable[[argparse.Namespace], int]:
    """`with_config` for a body that also needs to know which file was read."""

    def run(args: argparse.Namespace) -> int:
        try:
            loaded = load_config_from_args(args)
        except ConfigError as error:
            return report_config_error(error)
        setup_logging(log_level(args, loaded.config), loaded.config.log.target)
        if announce:
            log.info("config: %s", loaded.describe())
        try:
            return body(args, loaded)
        except ConfigError as error:
            return report_config_error(error)
        except CredentialError as error:  # the token command failed: transient
            print(
                f"edgevoice: credential unavailable: {printable(str(error), 500)}; try again later",
                file=sys.stderr,
            )
            return EX_TEMPFAIL
        except EdgevoiceError as error:  # anything else of ours: one line, no traceback
            print(
                f"edgevoice: {error_class_of(error).value} error: {printable(str(error), 500)}",
                file=sys.stderr,
            )
            return EX_UNAVAILABLE

    return run


def without_config(
    body: Callable[[argparse.Namespace], int], command: str
) -> Callable[[argparse.Namespace], int]:
    """Wrap a command that reads no config: `--config` or `--set` is refused in one line."""

    def run(args: argparse.Namespace) -> int:
        refused = refuse_config_options(args, command)
        return refused if refused is not None else body(args)

    return run


def refuse_config_options(args: argparse.Namespace, command: str) -> int | None:
    """EX_USAGE with one line on stderr when `--config` or `--set` was given to a command that
    reads no config; None when neither was (go on)."""
    given = [
        option
        for option, name in (("--config", "config"), ("--set", "overrides"))
        if getattr(args, name, None)
    ]
    if not given:
        return None
    verb, pronoun = ("has", "it") if len(given) == 1 else ("have", "them")
    print(
        f"edgevoice {command}: {' and '.join(given)} {verb} no effect here ({command} reads no "
        f"config); drop {pronoun}",
        file=sys.stderr,
    )
    return EX_USAGE


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand takes (also accepted before the subcommand)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="config file (default: $EDGEVOICE_CONFIG or /etc/edgevoice/edgevoice.toml)",
    )
    group.add_argument(
        "--set",
        metavar="SECTION.KEY=VALUE",
        action="append",
        dest="overrides",
        default=argparse.SUPPRESS,
        help="override one config value, type-checked like the file (repeatable)",
    )
    group.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default=argparse.SUPPRESS,
        help="log level (default: log.level from the config, else info)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="same as --log-level debug",
    )
    return common


def seconds_type(option: str, high: float, *, low: float = 0.0) -> Callable[[str], float]:
    """An argparse type for `option`: a finite number of seconds above `low` (or exactly `low`
    when it is above 0) and at most `high`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        in_range = (low <= value if low > 0 else low < value) and value <= high
        if not (math.isfinite(value) and in_range):
            above = f"from {low:g}" if low > 0 else f"above {low:g}"
            raise argparse.ArgumentTypeError(
                f"{option} must be {above} and at most {high:g} seconds"
            )
        return value

    return parse


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def until_signal(work: Awaitable[int], stopped: Callable[[signal.Signals], str]) -> int:
    """`work`'s exit status; SIGINT or SIGTERM cancels it instead (its cleanup runs), prints
    `stopped(signal)` on stderr and gives 128 + the signal (130, 143), as a shell reports a
    command a signal ended. Off the main thread (tests) no handler is installed."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    received: list[signal.Signals] = []

    def stop(signum: signal.Signals) -> None:
        if not received:
            received.append(signum)
            task.cancel()

    signals = STOP_SIGNALS if threading.current_thread() is threading.main_thread() else ()
    for signum in signals:
        loop.add_signal_handler(signum, stop, signum)
    try:
        return await work
    except asyncio.CancelledError:
        if not received:
            raise
        task.uncancel()
        print(stopped(received[0]), file=sys.stderr)
        return 128 + int(received[0])
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
