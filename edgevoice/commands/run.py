"""`edgevoice run`: the voice daemon, in the foreground (what systemd starts).

Before anything opens, it validates what `check-config` validates (the config, the setup of
every model and the endpoint: `live_plan`) and reads the credential once: a bad config or a
missing key exits 78, a failing token command 75 (systemd restarts the unit later). Then the
daemon runs (`edgevoice.app.daemon`) until a signal:

- **SIGTERM, SIGINT**: STOPPING=1, then a clean stop within the unit's TimeoutStopSec (the
  connection closed with 1000, playback stopped, the state written); exit status 0.
- **SIGHUP** (`systemctl reload edgevoice`): RELOADING=1 with MONOTONIC_USEC=, then the config
  file (and `--set`) is read and checked again, with the credential. A config that is not
  valid is refused: the running one stays, the journal names every problem, and READY=1 ends
  the reload (STATUS= says it was refused). A valid one replaces the running daemon: it stops
  as on SIGTERM (the state is saved, so the conversation resumes from its handle) and a new one
  is built from the new config, which sends READY=1 once its devices were tried. A reload
  clears a needs-attention state (a fixed key is used at once).

Under systemd (`$NOTIFY_SOCKET`) the daemon also sends READY=1, STATUS= and WATCHDOG=1 (see
`edgevoice.app.daemon`); elsewhere all of that is a no-op.

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
from dataclasses import dataclass
from typing import Any

from edgevoice.adapters.config_file import load_config_from_args
from edgevoice.adapters.credential_lookup import CredentialSource
from edgevoice.adapters.systemd_notify import SystemdNotifier
from edgevoice.app.daemon import Daemon, build_daemon
from edgevoice.app.session_config import LivePlan, live_plan
from edgevoice.commands._common import log_level, with_config
from edgevoice.config import Config
from edgevoice.errors import ConfigError, CredentialError, ErrorClass
from edgevoice.ports import ServiceNotifier
from edgevoice.redact import printable

NAME = "run"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
log = logging.getLogger("edgevoice")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="run the voice daemon (what systemd starts)",
        description=(
            "Run the voice daemon in the foreground; systemd starts it this way. SIGINT or "
            "SIGTERM stop it cleanly (exit 0); SIGHUP reloads the configuration."
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
    notifier = SystemdNotifier()
    try:
        asyncio.run(Service(args, Running(config, plan, credentials), notifier).serve())
    finally:
        notifier.close()
    return 0


@dataclass(frozen=True)
class Running:
    """What a daemon is built from: a checked config, its plan and its credential source."""

    config: Config
    plan: LivePlan
    credentials: CredentialSource


class Service:
    """The daemon under a service manager: signals, reloads, the notify messages of both."""

    def __init__(self, args: argparse.Namespace, running: Running, notifier: ServiceNotifier):
        self.args = args
        self.running = running
        self.notifier = notifier
        self.daemon: Daemon | None = None
        self._next: Running | None = None
        self._stopping = False
        self._reload: asyncio.Task[None] | None = None

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        # Signal handlers belong to the main thread (a daemon run from another thread, as some
        # tests do, is stopped by its caller).
        main = threading.current_thread() is threading.main_thread()
        handled = (*STOP_SIGNALS, signal.SIGHUP) if main else ()
        for signum in STOP_SIGNALS if main else ():
            loop.add_signal_handler(signum, self.stop, signum)
        if main:
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        try:
            while True:
                running = self.running
                self.daemon = build_daemon(
                    running.config,
                    plan=running.plan,
                    credentials=running.credentials,
                    notifier=self.notifier,
                )
                await self.daemon.run()
                if self._stopping or self._next is None:
                    return
                self.running, self._next = self._next, None
                log.info("running with the reloaded configuration")
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)
            if self._reload is not None:
                self._reload.cancel()

    def stop(self, signum: signal.Signals) -> None:
        log.info("%s received: stopping", signum.name)
        if not self._stopping:
            self.notifier.stopping("Stopping")
        self._stopping = True
        if self.daemon is not None:
            self.daemon.stop()

    def reload(self) -> None:
        """SIGHUP: reload in a task (one at a time; a second SIGHUP meanwhile is folded in)."""
        if self._stopping or (self._reload is not None and not self._reload.done()):
            return
        self._reload = asyncio.get_running_loop().create_task(self._reload_config())

    async def _reload_config(self) -> None:
        self.notifier.reloading("Reloading the configuration")
        log.info("SIGHUP received: reloading the configuration")
        try:
            loaded = await asyncio.to_thread(load_config_from_args, self.args)
            plan = live_plan(loaded.config)
            credentials = CredentialSource(loaded.config.auth)
            await credentials.resolve_async()
        except (ConfigError, CredentialError) as exc:
            problems = (
                "; ".join(str(p) for p in exc.problems)
                if isinstance(exc, ConfigError)
                else str(exc)
            )
            log.error(
                "reload refused, the running configuration stays: %s",
                printable(problems, 2000),
                extra={"ERROR_CLASS": ErrorClass.FATAL.value},
            )
            daemon = self.daemon
            status = daemon.conversation.status_line() if daemon is not None else "Running"
            self.notifier.ready(f"{status}; the last reload was refused (see the journal)")
            return
        for warning in plan.warnings:
            log.warning("%s", warning)
        logging.getLogger().setLevel(log_level(self.args, loaded.config).upper())
        log.info("config: %s (reloaded)", loaded.describe())
        if self._stopping:
            return
        self._next = Running(loaded.config, plan, credentials)
        if self.daemon is not None:
            self.daemon.stop()  # serve() builds the next one, which sends READY=1
