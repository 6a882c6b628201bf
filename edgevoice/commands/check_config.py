"""`edgevoice check-config`: validate the config and print the effective values (no secret)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgevoice.adapters.credential_lookup import NO_CREDENTIAL, CredentialSource
from edgevoice.commands._common import with_config
from edgevoice.config import Config, to_toml

NAME = "check-config"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="validate the config file and print the effective configuration",
        description=(
            "Validate the configuration (file plus --set overrides) and print the effective "
            "values as TOML. Exits 0 when it is valid, 78 when it is not. The API key is never "
            "printed; its source is checked (a key file must not be readable by others)."
        ),
    )
    parser.add_argument(
        "--require-key",
        action="store_true",
        help="also fail (78) when no credential can be found",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing when valid")
    parser.set_defaults(func=with_config(check))


def check(args: argparse.Namespace, config: Config) -> int:
    credentials = CredentialSource(config.auth)
    where = credentials.describe()
    if where == NO_CREDENTIAL and not args.require_key:
        print(
            "edgevoice: warning: no API key found yet; `edgevoice run` needs one "
            "(auth.api_key_file, the systemd credential gemini-api-key, or GEMINI_API_KEY)",
            file=sys.stderr,
        )
    elif not credentials.uses_tokens or args.require_key:
        # Read it now so a missing, empty or too-open key file fails here (78), not at run time.
        # A token command is run only with --require-key: it may cost a server round trip.
        where = credentials.resolve().source
    if not args.quiet:
        print(f"# credential: {where}")
        print(to_toml(config), end="")
    return 0
