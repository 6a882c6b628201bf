"""`edgevoice run`: the voice daemon, in the foreground (what systemd starts).

Before anything opens, it validates what `check-config` validates (the config, the setup of
every model and the endpoint: `live_plan`) and reads the credential once: a bad config or a
missing key exits 78, a failing token command 75 (systemd restarts the unit later). Then the
daemon runs (`edgevoice.app.daemon`) until SIGINT or SIGTERM, which stop it cleanly: the
connection closes with 1000, playback stops, the state is written; exit status 0.

After start-up no error ends the process: a failed connection, a missing microphone or a fatal
answer from the service is logged and the daemon stays up (the needs-attention state says what
to fix).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import threading
from typing import Any

from edgevoice.adapters.credential_lookup import CredentialSource
from edgevoice.app.daemon import build_daemon
from edgevoice.app.session_config import LivePlan, live_plan
from edgevoice.commands._common import with_config
from edgevoice.config import Config

NAME = "run"
SIGNALS = (signal.SIGINT, signal.SIGTERM)
log = logging.getLogger("edgevoice")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="run the voice daemon (what systemd starts)",
        description=(
            "Run the voice daemon in the foreground; systemd starts it this way. SIGINT or "
            "SIGTERM stop it cleanly (exit 0)."
        ),
    )
    parser.set_defaults(func=with_config(run))


def run(args: argparse.Namespace, config: Config) -> int:
    plan = live_plan(config)  # 78 when a setup or the endpoint cannot be built
    for warning in plan.warnings:
        log.warning("%s", warning)
    credentials = CredentialSource(config.auth)
    credential = credentials.resolve()  # 78 when missing or unsafe, 75 when a token failed
    log.info(
        "config valid; credential from %s; model %s; trigger %s",
        credential.source,
        ", ".join(plan.models),
        config.trigger.mode,
    )
    asyncio.run(_serve(config, plan, credentials))
    return 0


async def _serve(config: Config, plan: LivePlan, credentials: CredentialSource) -> None:
    daemon = build_daemon(config, plan=plan, credentials=credentials)
    loop = asyncio.get_running_loop()
    # Signal handlers belong to the main thread (a daemon run from another thread, as some
    # tests do, is stopped by its caller).
    signals = SIGNALS if threading.current_thread() is threading.main_thread() else ()

    def stop(signum: signal.Signals) -> None:
        log.info("%s received", signum.name)
        daemon.stop()

    for signum in signals:
        loop.add_signal_handler(signum, stop, signum)
    try:
        await daemon.run()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
