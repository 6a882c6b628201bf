"""`edgevoice check-config`: validate the config and print the effective values (no secret).

It takes the same path as `run` and `probe` (`edgevoice.app.session_config.live_plan`): the
setup of every model and the endpoint are built, so a config it accepts also starts.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgevoice.adapters.config_file import LoadedConfig
from edgevoice.adapters.credential_lookup import NO_CREDENTIAL, CredentialSource
from edgevoice.app.session_config import live_plan
from edgevoice.commands._common import print_warnings, with_loaded_config
from edgevoice.config import to_toml
from edgevoice.live.models import family_of

NAME = "check-config"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="validate the config file and print the effective configuration",
        description=(
            "Validate the configuration (file plus --set overrides) the way `run` starts it, and "
            "print the effective values as TOML. Exits 0 when it is valid, 78 when it is not. "
            "The API key is never printed; its source is checked (a key file must not be "
            "readable by others)."
        ),
    )
    parser.add_argument(
        "--require-key",
        action="store_true",
        help="also fail (78) when no credential can be found",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing when valid")
    parser.set_defaults(func=with_loaded_config(check, announce=False))


def check(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    config = loaded.config
    plan = live_plan(config)
    print_warnings(plan.warnings)
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
        print(f"# config: {loaded.describe()}")
        print(f"# credential: {where}")
        for index, model in enumerate(plan.models):
            family = family_of(model)
            role = "model" if index == 0 else f"fallback {index}"
            print(f"# {role}: {model} ({family.value if family else 'unknown family'})")
        print(to_toml(config), end="")
    return 0
