"""What every config-reading subcommand does first: load the config, then set up logging.

A bad config is reported on stderr, one problem per line with its key and file, and the command
returns 78 (EX_CONFIG) before anything else starts. A credential that cannot be fetched right now
(the token command failed: `CredentialError`) is one line and 75 (EX_TEMPFAIL), never 78, so
systemd restarts a unit whose token server was down (edgevoice.errors policy).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from edgevoice.adapters.config_file import load_config_from_args
from edgevoice.app.log_setup import setup_logging
from edgevoice.config import Config
from edgevoice.errors import ConfigError, CredentialError

CommandBody = Callable[[argparse.Namespace, Config], int]
EX_TEMPFAIL = 75  # sysexits.h: try again later


def report_config_error(error: ConfigError) -> int:
    for problem in error.problems:
        print(f"edgevoice: config error: {problem}", file=sys.stderr)
    return error.exit_status


def log_level(args: argparse.Namespace, config: Config) -> str:
    if args.verbose:
        return "debug"
    return str(args.log_level or config.log.level)


def with_config(body: CommandBody) -> Callable[[argparse.Namespace], int]:
    """Wrap a command body so it receives a validated Config, with logging set up."""

    def run(args: argparse.Namespace) -> int:
        try:
            config = load_config_from_args(args)
        except ConfigError as error:
            return report_config_error(error)
        setup_logging(log_level(args, config), config.log.target)
        try:
            return body(args, config)
        except ConfigError as error:  # e.g. a key file found to be too open
            return report_config_error(error)
        except CredentialError as error:  # the token command failed: transient
            print(f"edgevoice: credential unavailable: {error}; try again later", file=sys.stderr)
            return EX_TEMPFAIL

    return run


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
