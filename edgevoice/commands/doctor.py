"""`edgevoice doctor`: check everything the service needs, one line per check, each failure with
its fix.

Checks, in order: the config (through `live_plan`, as `run` starts it); the key (present and
well-formed, never printed); the microphone and the speaker (each opens at the configured rate,
through the daemon's own bounded PortAudio path); the GPIO chip (when a button or LED is used,
and whether the service user may open it); DNS and TLS reach of `live.endpoint` (short
timeouts); the clock (TLS fails with a wrong one); the state and runtime directories (writable
for the service, also inside its sandbox); the unit (installed, loaded, running) and its user.

Run it as root (`sudo edgevoice doctor`) on the device: the key file and the service's view are
root's to read. Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed,
2 for a bad option.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, TextIO

from edgevoice.adapters.config_file import LoadedConfig, load_config_from_args
from edgevoice.adapters.control_client import ControlClient, ControlClientError
from edgevoice.adapters.control_socket import socket_path
from edgevoice.app.log_setup import setup_logging
from edgevoice.commands import _reach, _unit_state
from edgevoice.commands._common import seconds_type
from edgevoice.commands._doctor_checks import (
    Check,
    Environment,
    Verdict,
    check_config,
    check_device,
    check_gpio,
    check_key,
    from_step,
)
from edgevoice.commands._doctor_service import (
    check_clock,
    check_dir,
    check_unit,
    check_user,
    service_account,
)
from edgevoice.config import Config
from edgevoice.control_protocol import Status as StatusRequest
from edgevoice.errors import ConfigError
from edgevoice.redact import printable

NAME = "doctor"
EXIT_FAILED = 1


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="check config, key, audio devices, GPIO, network, clock and the service",
        description=(
            "Check everything the service needs, one line per check; each failure says how to "
            "fix it. Run it as root on the device (the key file and the service are root's). "
            "Exit status 0 when nothing failed, 1 when a check failed."
        ),
    )
    parser.add_argument(
        "--timeout",
        type=seconds_type("--timeout", 120),
        default=5.0,
        metavar="S",
        help="seconds allowed for each network step (default 5)",
    )
    parser.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    setup_logging("debug" if args.verbose else "error", "stderr")
    env = Environment(timeout=args.timeout)
    try:
        loaded: LoadedConfig | ConfigError = load_config_from_args(args)
    except ConfigError as error:
        loaded = error
    return report(diagnose(loaded, env))


def report(checks: Sequence[Check], out: TextIO | None = None) -> int:
    """Print one line per check and a summary; the exit status."""
    for check in checks:
        print(check.line(), file=out, flush=True)
    failed = sum(c.verdict is Verdict.FAIL for c in checks)
    warned = sum(c.verdict is Verdict.WARN for c in checks)
    tail = f" ({warned} warning{'s' if warned != 1 else ''})" if warned else ""
    if failed:
        print(f"doctor: {failed} of {len(checks)} checks failed{tail}", file=out)
        return EXIT_FAILED
    print(f"doctor: no check failed{tail}", file=out)
    return 0


def diagnose(loaded: LoadedConfig | ConfigError, env: Environment) -> list[Check]:
    """Run every check; a check that needs a valid config is skipped without one."""
    unit = _unit_state.find_unit(env.unit_dirs)
    running_systemd = _unit_state.systemd_running(env.systemd_mark)
    state = _unit_state.service_state(env.runner) if running_systemd else None
    user = env.service_account()
    account = service_account(user, unit)
    checks = [check_config(loaded)]
    if isinstance(loaded, ConfigError):
        needs = "needs a valid config"
        for name in ("key", "microphone", "speaker", "gpio", "dns", "tls"):
            checks.append(Check(name, Verdict.SKIP, needs))
        checks.append(check_clock(None, env, "the endpoint"))
    else:
        config = loaded.config
        checks.append(check_key(config, unit, account, env))
        running = (state is not None and state.running) or _answers(config)
        checks.append(check_device("input", config, env, running))
        checks.append(check_device("output", config, env, running))
        checks.append(check_gpio(config, account, env))
        result = _reach.reach(
            config.live.endpoint,
            timeout=env.timeout,
            context_factory=env.context_factory,
            now=env.now,
        )
        target = _reach.endpoint_target(config.live.endpoint)
        reach_name = "tls" if target.tls else "reach"  # ws:// (the simulator) has no TLS
        checks.append(from_step("dns", result.dns))
        if result.connect is None:
            checks.append(Check(reach_name, Verdict.SKIP, "needs DNS"))
        else:
            checks.append(from_step(reach_name, result.connect))
        checks.append(check_clock(result.server_time, env, printable(target.host, 100)))
        checks.append(check_dir("state dir", config.paths.state_dir, "State", "/var/lib", unit,
                                account, env))  # fmt: skip
        checks.append(check_dir("runtime dir", config.paths.runtime_dir, "Runtime", "/run", unit,
                                account, env))  # fmt: skip
    checks.append(check_unit(unit, state, running_systemd, env))
    checks.append(check_user(unit, user))
    return checks


def _answers(config: Config) -> bool:
    """Whether a daemon answers on the control socket (so it holds the audio devices)."""
    try:
        ControlClient(socket_path(config.paths.runtime_dir), timeout_s=1.0).send(StatusRequest())
    except ControlClientError:
        return False
    return True
