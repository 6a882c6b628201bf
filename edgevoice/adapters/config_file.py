"""Read the config file from disk and turn CLI arguments into a Config.

The path is `--config FILE`, else `$EDGEVOICE_CONFIG`, else /etc/edgevoice/edgevoice.toml. A
missing default file means "all defaults" (so a fresh install runs); a missing file that was
named explicitly is an error.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from edgevoice.config import DEFAULT_CONFIG_PATH, Config, parse_config
from edgevoice.errors import ConfigError

ENV_CONFIG = "EDGEVOICE_CONFIG"
MAX_CONFIG_BYTES = 1024 * 1024


def config_path(explicit: str | None, environ: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """The config path and whether a person chose it (explicit or environment)."""
    env = os.environ if environ is None else environ
    if explicit:
        return explicit, True
    if env.get(ENV_CONFIG):
        return env[ENV_CONFIG], True
    return DEFAULT_CONFIG_PATH, False


def read_config_text(path: str, required: bool) -> str | None:
    """The file's text, None when an optional default file is absent; ConfigError otherwise."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        if not required:
            return None
        raise ConfigError.single(
            "(file)", f"{path} does not exist; copy deploy/edgevoice.toml there or fix --config"
        ) from None
    except IsADirectoryError:
        raise ConfigError.single("(file)", f"{path} is a directory, not a TOML file") from None
    except PermissionError:
        raise ConfigError.single(
            "(file)", f"{path} is not readable by this user; chmod 0644 it or run as root"
        ) from None
    except OSError as exc:
        raise ConfigError.single("(file)", f"{path} cannot be read: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError.single("(file)", f"{path} is larger than 1 MiB; is it the right file?")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError.single(
            "(file)", f"{path} is not UTF-8 (bad byte at offset {exc.start})"
        ) from None


def load_config(
    explicit: str | None, overrides: list[str], environ: Mapping[str, str] | None = None
) -> Config:
    path, required = config_path(explicit, environ)
    text = read_config_text(path, required)
    return parse_config(text, path, overrides)


def load_config_from_args(args: argparse.Namespace) -> Config:
    """The Config for a subcommand's parsed arguments (`--config`, `--set`)."""
    return load_config(args.config, list(args.overrides))
