"""`edgevoice run`: the daemon.

Today it validates everything the daemon needs, through the same path as `check-config` (the
config, the setup of every model and the endpoint: `live_plan`; then the credential), and stops
with status 69 (EX_UNAVAILABLE), because the conversation loop (app + supervisor) is the next
issue. It does not pretend to run.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from edgevoice.adapters.credential_lookup import CredentialSource
from edgevoice.app.session_config import live_plan
from edgevoice.commands._common import with_config
from edgevoice.config import Config

NAME = "run"
EX_UNAVAILABLE = 69
log = logging.getLogger("edgevoice")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="run the voice daemon (what systemd starts)",
        description="Run the voice daemon in the foreground; systemd starts it this way.",
    )
    parser.set_defaults(func=with_config(run))


def run(args: argparse.Namespace, config: Config) -> int:
    plan = live_plan(config)  # 78 when a setup or the endpoint cannot be built
    for warning in plan.warnings:
        log.warning("%s", warning)
    credential = CredentialSource(config.auth).resolve()  # 78 when missing or unsafe
    log.info(
        "config valid; credential from %s; models %s", credential.source, ", ".join(plan.models)
    )
    print(
        "edgevoice run: the conversation loop is not built yet (see README, Status); "
        "use `edgevoice check-config` to validate a setup",
        file=sys.stderr,
    )
    return EX_UNAVAILABLE
