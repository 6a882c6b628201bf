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
import asyncio
import dataclasses
import enum
import glob
import grp
import os
import ssl
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import pyaudio

from edgevoice.adapters.audio_devices import Kind, close_stream, open_in_thread, open_stream
from edgevoice.adapters.config_file import LoadedConfig, load_config_from_args
from edgevoice.adapters.control_client import ControlClient, ControlClientError
from edgevoice.adapters.control_socket import socket_path
from edgevoice.adapters.credential_lookup import (
    CREDENTIAL_NAME,
    KEY_FILE_LIMIT,
    CredentialSource,
)
from edgevoice.adapters.portaudio_startup import STARTUP_TIMEOUT, PortAudio
from edgevoice.app.log_setup import setup_logging
from edgevoice.app.session_config import live_plan
from edgevoice.commands import _reach, _unit_state
from edgevoice.commands._unit_state import Account, Runner, ServiceState, UnitFile
from edgevoice.config import Config
from edgevoice.control_protocol import Status as StatusRequest
from edgevoice.credentials import CredentialKind, value_problem
from edgevoice.errors import (
    AudioDeviceError,
    ConfigError,
    CredentialError,
    DeviceBusyError,
    DeviceNotFoundError,
)
from edgevoice.redact import printable

NAME = "doctor"
EXIT_FAILED = 1
# The clock is surely wrong before this edgevoice was made (2026-11-01T00:00:00Z).
CLOCK_FLOOR = 1793491200.0
SET_KEY = "store it: sudo deploy/install.sh --set-key"
ROOT_HINT = "run `sudo edgevoice doctor`"


class Verdict(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    """One line of the report: which check, its verdict, what was found, and the fix."""

    name: str
    verdict: Verdict
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.verdict.value:<5} {self.name:<11} {self.detail}"
        if self.fix and self.verdict in (Verdict.FAIL, Verdict.WARN):
            text += f". Fix: {self.fix}"
        return printable(text)


def _ok(name: str, detail: str) -> Check:
    return Check(name, Verdict.OK, detail)


def _fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, Verdict.FAIL, detail, fix)


@dataclass
class Environment:
    """What the checks look at, injectable: where units and devices are, how programs run,
    the service user, the TLS trust, the clock."""

    unit_dirs: Sequence[str] = _unit_state.UNIT_DIRS
    dev_dir: str = "/dev"
    runner: Runner = _unit_state.run_program
    systemd_mark: str = _unit_state.SYSTEMD_RUNNING_MARK
    service_account: Callable[[], Account | None] = _unit_state.account
    context_factory: _reach.ContextFactory = ssl.create_default_context
    now: Callable[[], float] = time.time
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    pyaudio_factory: Callable[[], PortAudio] = pyaudio.PyAudio
    euid: Callable[[], int] = os.geteuid
    timeout: float = 5.0  # s for each network step
    device_timeout: float = STARTUP_TIMEOUT  # s for PortAudio to open one device
    clock_floor: float = CLOCK_FLOOR


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
        type=_seconds,
        default=5.0,
        metavar="S",
        help="seconds allowed for each network step (default 5)",
    )
    parser.set_defaults(func=run_doctor)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 120:
        raise argparse.ArgumentTypeError("give more than 0 and at most 120 seconds")
    return value


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
        for name in ("key", "microphone", "speaker", "gpio", "dns", "reach"):
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
        checks.append(_from_step("dns", result.dns))
        if result.connect is None:
            checks.append(Check("reach", Verdict.SKIP, "needs DNS"))
        else:
            checks.append(_from_step("tls" if "TLS" in result.connect.detail else "reach",
                                     result.connect))  # fmt: skip
        host = _reach.endpoint_target(config.live.endpoint).host
        checks.append(check_clock(result.server_time, env, printable(host, 100)))
        checks.append(check_dir("state dir", config.paths.state_dir, "State", "/var/lib", unit,
                                account, env))  # fmt: skip
        checks.append(check_dir("runtime dir", config.paths.runtime_dir, "Runtime", "/run", unit,
                                account, env))  # fmt: skip
    checks.append(check_unit(unit, state, running_systemd, env))
    checks.append(check_user(unit, user))
    return checks


def _from_step(name: str, step: _reach.Step) -> Check:
    return _ok(name, step.detail) if step.ok else _fail(name, step.detail, step.fix)


def _answers(config: Config) -> bool:
    """Whether a daemon answers on the control socket (so it holds the audio devices)."""
    try:
        ControlClient(socket_path(config.paths.runtime_dir), timeout_s=1.0).send(StatusRequest())
    except ControlClientError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Config and key


def check_config(loaded: LoadedConfig | ConfigError) -> Check:
    fix = "edit the config file; `edgevoice check-config` lists every problem"
    if isinstance(loaded, ConfigError):
        first = loaded.problems[0]
        more = len(loaded.problems) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        return _fail("config", f"{first}{tail}", fix)
    try:
        plan = live_plan(loaded.config)
    except ConfigError as error:
        return _fail("config", str(error.problems[0]), fix)
    fallbacks = len(plan.models) - 1
    extra = f", {fallbacks} fallback{'s' if fallbacks > 1 else ''}" if fallbacks else ""
    warned = f"; warning: {plan.warnings[0]}" if plan.warnings else ""
    where = f"{loaded.describe()} is valid" if loaded.path else f"{loaded.describe()}: valid"
    return _ok("config", f"{where}; model {plan.models[0]}{extra}{warned}")


def check_key(
    config: Config, unit: UnitFile | None, account: Account | None, env: Environment
) -> Check:
    """The credential the service will use is there and well-formed. Never shows it."""
    source = CredentialSource(config.auth, env.environ)
    credential_file = unit.credential_path(CREDENTIAL_NAME) if unit is not None else None
    if not source.uses_tokens and credential_file and not env.environ.get("CREDENTIALS_DIRECTORY"):
        return check_key_file(credential_file, account, env)
    try:
        credential = source.resolve()
    except CredentialError as error:
        return _fail(
            "key",
            printable(str(error), 300),
            "run the token command by hand to see why it fails; the service retries it",
        )
    except ConfigError as error:
        fix = SET_KEY if unit is not None else "see the message; README, The API key"
        return _fail("key", printable(str(error.problems[0]), 300), fix)
    what = "a token" if credential.kind is CredentialKind.TOKEN else "an API key"
    return _ok("key", f"{credential.source} gives {what} (not shown)")


def check_key_file(path: str, account: Account | None, env: Environment) -> Check:
    """The file the unit loads as the credential: root:edgevoice 0640, one well-formed key."""
    shown = printable(path, 200)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return _fail(
            "key",
            f"{shown} (the unit's LoadCredential=) does not exist: the service cannot start "
            "(status 243/CREDENTIALS)",
            SET_KEY,
        )
    except OSError as error:
        return _fail("key", f"cannot check {shown}: {error.strerror}", ROOT_HINT)
    owner = _unit_state.describe_owner(info)
    if not stat.S_ISREG(info.st_mode):
        return _fail("key", f"{shown} is not a regular file", f"replace it with a file; {SET_KEY}")
    group_ok = {0} | ({g for g in account.gids} if account is not None else set())
    mode = stat.S_IMODE(info.st_mode)
    fix_mode = f"sudo chown root:{_unit_state.SERVICE_USER} {shown}; sudo chmod 0640 {shown}"
    if mode & 0o007 or (mode & 0o070 and info.st_gid not in group_ok):
        return _fail("key", f"{shown} is readable by other users ({owner})", fix_mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except PermissionError:
        detail = f"{shown} exists ({owner}) but this user may not read it"
        return Check("key", Verdict.WARN, detail, ROOT_HINT)
    except OSError as error:
        return _fail("key", f"cannot open {shown}: {error.strerror}", SET_KEY)
    try:
        data = os.read(fd, KEY_FILE_LIMIT + 1)
    finally:
        os.close(fd)
    try:
        value = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return _fail("key", f"{shown} is not UTF-8 text", SET_KEY)
    if not value:
        return _fail("key", f"{shown} is empty: the service stops with a config error", SET_KEY)
    problem = value_problem(value) if len(data) <= KEY_FILE_LIMIT else "is too long"
    if problem:
        return _fail("key", f"the key in {shown} {problem}", SET_KEY)
    return _ok("key", f"{shown} holds a key (not shown), {owner}; `edgevoice probe` tries it")


# --------------------------------------------------------------------------------------------
# Devices


def _no_callback(*_: object) -> tuple[None, int]:
    return None, pyaudio.paComplete


def check_device(kind: Kind, config: Config, env: Environment, service_running: bool) -> Check:
    """The configured device opens (not started) at the configured rate and channel count."""
    audio = config.audio
    name = "microphone" if kind == "input" else "speaker"
    device = audio.input_device if kind == "input" else audio.output_device
    rate = audio.input_rate if kind == "input" else audio.output_rate
    channels = audio.input_channels if kind == "input" else audio.output_channels

    def open_blocking() -> Any:
        return open_stream(
            env.pyaudio_factory, kind, device, rate, channels, audio.period_ms, _no_callback,
            startup_timeout=env.device_timeout,
        )  # fmt: skip

    async def open_and_close() -> int:
        opened = await open_in_thread(open_blocking, kind, device, env.device_timeout)
        await close_stream(opened, env.device_timeout)
        return int(opened.rate)

    shown = printable(device, 100)
    try:
        got = asyncio.run(open_and_close())
    except DeviceBusyError as error:
        if service_running:
            return Check(name, Verdict.SKIP, f"{shown!r} is in use by the running service")
        fix = "stop the program that holds it (`fuser -v /dev/snd/*`)"
        return _fail(name, printable(str(error), 300), fix)
    except DeviceNotFoundError as error:
        if not error.candidates:
            what = "capture" if kind == "input" else "playback"
            return _fail(
                name,
                f"no {what} device at all (looking for {shown!r})",
                f"plug one in; `{'arecord' if kind == 'input' else 'aplay'} -l` lists the cards",
            )
        listing = ", ".join(repr(printable(c, 60)) for c in error.candidates[:6])
        return _fail(
            name,
            f"no {kind} device matches {shown!r} (there are: {listing})",
            f"set audio.{kind}_device to one of them; `edgevoice devices` shows their rates",
        )
    except AudioDeviceError as error:
        fix = f"`edgevoice devices` shows the devices and rates; check audio.{kind}_*"
        return _fail(name, printable(str(error), 400), fix)
    key = f"audio.{kind}_rate"
    if got != rate:
        how = f"at {got} Hz ({key} {rate} refused; its default rate is used and resampled)"
    else:
        how = f"at {got} Hz"
    return _ok(name, f"{shown!r} opens {how}, {channels} channel{'s' if channels > 1 else ''}")


def check_gpio(config: Config, account: Account | None, env: Environment) -> Check:
    """A GPIO chip exists when a button or an LED is configured, and the service may open it."""
    uses = []
    if config.trigger.mode in ("button", "both"):
        uses.append(f"the button (trigger.mode = {config.trigger.mode!r})")
    if config.led.enabled:
        uses.append("the LED")
    chips = sorted(glob.glob(os.path.join(glob.escape(env.dev_dir), "gpiochip*")))
    if not uses:
        return _ok("gpio", "not used (trigger.mode = 'voice', no LED)")
    need = " and ".join(uses)
    if not chips:
        return _fail(
            "gpio",
            f"no GPIO chip ({printable(env.dev_dir, 100)}/gpiochip*) for {need}",
            "on a Raspberry Pi check `ls /dev/gpiochip*` (the GPIO driver); a device without "
            "GPIO sets trigger.mode = 'voice' and led.enabled = false",
        )
    names = ", ".join(os.path.basename(c) for c in chips)
    if account is None:
        if all(os.access(c, os.R_OK | os.W_OK) for c in chips):
            return _ok("gpio", f"{names} present, usable by this user")
        return Check(
            "gpio",
            Verdict.WARN,
            f"{names} present, but not usable by this user and there is no service user",
            "install the service (sudo deploy/install.sh), or join the chip's group",
        )
    blocked = []
    for chip in chips:
        try:
            info = os.stat(chip)
        except OSError:
            continue
        if not _unit_state.may_access(account, info, "rw"):
            blocked.append(f"{os.path.basename(chip)} ({_unit_state.describe_owner(info)})")
    if blocked:
        return _fail(
            "gpio",
            f"the service user {account.name} may not open {', '.join(blocked)}",
            f"sudo usermod -aG gpio {account.name} (Pi OS gives /dev/gpiochip* to the group "
            "gpio), then restart the service",
        )
    return _ok("gpio", f"{names} present, usable by {account.name}, for {need}")


# --------------------------------------------------------------------------------------------
# Clock, directories, the unit


def check_clock(server_time: float | None, env: Environment, server: str) -> Check:
    step = _reach.clock_step(env.now(), server_time, floor=env.clock_floor, server=server)
    check = _from_step("clock", step)
    if check.verdict is Verdict.OK and server_time is None:
        done = env.runner(["timedatectl", "show", "--property=NTPSynchronized", "--value"])
        if done is not None and done[0] == 0 and done[1].strip() == "no":
            return Check(
                "clock", Verdict.WARN, f"{step.detail}; timedatectl: not synchronised",
                "sudo timedatectl set-ntp true",
            )  # fmt: skip
    return check


def check_dir(
    name: str,
    path: str,
    kind: str,
    base: str,
    unit: UnitFile | None,
    account: Account | None,
    env: Environment,
) -> Check:
    """`paths.state_dir` / `paths.runtime_dir`: writable by the service, also in its sandbox."""
    shown = printable(path, 200)
    key = "paths.state_dir" if kind == "State" else "paths.runtime_dir"
    managed = unit.managed_dir(kind, base) if unit is not None else None
    if unit is not None and path != managed:
        inside = any(
            path == w or path.startswith(w.rstrip("/") + "/") for w in unit.writable_paths()
        )
        if not inside:
            return _fail(
                name,
                f"{key} = {shown} is read-only for the service (ProtectSystem=strict; the unit "
                f"makes {managed or 'no directory'})",
                f"use {managed or 'the default'}, or `sudo systemctl edit edgevoice` and add "
                f"ReadWritePaths={shown}",
            )
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if managed is not None and path == managed:
            return _ok(name, f"{shown}: systemd makes it as the service starts ({kind}Directory=)")
        mode = "0700" if kind == "State" else "0750"
        owner = account.name if account is not None else "$USER"
        return _fail(
            name, f"{shown} does not exist", f"sudo install -d -m {mode} -o {owner} {shown}"
        )
    except OSError as error:
        return _fail(name, f"cannot check {shown}: {error.strerror}", ROOT_HINT)
    if not stat.S_ISDIR(info.st_mode):
        return _fail(name, f"{shown} is not a directory", f"remove it, or change {key}")
    if managed is not None and path == managed:
        return _ok(name, f"{shown} ({_unit_state.describe_owner(info)}; systemd keeps it the "
                         "service's)")  # fmt: skip
    if account is not None and env.euid() != account.uid:
        writable = _unit_state.may_access(account, info, "wx")
        who = account.name
    else:
        writable = os.access(path, os.W_OK | os.X_OK)
        who = "this user"
    if not writable:
        return _fail(
            name,
            f"{shown} is not writable by {who} ({_unit_state.describe_owner(info)})",
            f"sudo chown {account.name if account else '$USER'} {shown}",
        )
    return _ok(name, f"{shown} is writable by {who}")


def check_unit(
    unit: UnitFile | None, state: ServiceState | None, running_systemd: bool, env: Environment
) -> Check:
    where = ", ".join(env.unit_dirs[:1])
    if unit is None and (state is None or not state.installed):
        if not running_systemd:
            return Check(
                "unit", Verdict.WARN,
                f"no {_unit_state.UNIT_NAME} installed, and systemd is not running here",
                "on the device: sudo deploy/install.sh; here: run `edgevoice run` by hand",
            )  # fmt: skip
        return _fail("unit", f"no {_unit_state.UNIT_NAME} in {where}", "sudo deploy/install.sh")
    path = printable(str(unit.path), 200) if unit is not None else "(loaded)"
    if not running_systemd or state is None:
        return Check(
            "unit", Verdict.WARN, f"installed at {path}; systemd is not running here (no status)",
            "boot the device with systemd to run the service",
        )  # fmt: skip
    if not state.installed:
        return _fail("unit", f"{path} exists but systemd has not loaded it",
                     "sudo systemctl daemon-reload")  # fmt: skip
    described = state.describe()
    active, sub = state["ActiveState"], state["SubState"]
    if active in ("active", "reloading"):
        if state["UnitFileState"] not in ("enabled", "enabled-runtime", "static", "alias"):
            return Check("unit", Verdict.WARN, described, "sudo systemctl enable edgevoice")
        return _ok("unit", described)
    if active == "activating" and sub == "auto-restart":
        return _fail("unit", f"restarting again and again: {described}",
                     "`journalctl -u edgevoice -n 50` says why")  # fmt: skip
    if active == "failed":
        status = state["ExecMainStatus"]
        if status == str(ConfigError.exit_status):
            fix = "fix the config (`edgevoice check-config`), then sudo systemctl restart edgevoice"
        elif status == "243":
            fix = f"the key file is missing: {SET_KEY}"
        else:
            fix = "`journalctl -u edgevoice -n 50` says why; then sudo systemctl restart edgevoice"
        return _fail("unit", described, fix)
    return Check("unit", Verdict.WARN, f"installed, not running: {described}",
                 "sudo systemctl enable --now edgevoice")  # fmt: skip


def check_user(unit: UnitFile | None, account: Account | None) -> Check:
    """The unit's user exists (the unit itself adds the groups audio and gpio)."""
    wanted = unit.get("Service", "User") if unit is not None else None
    name = wanted or _unit_state.SERVICE_USER
    if account is None or account.name != name:
        if unit is None:
            return Check("user", Verdict.SKIP, f"no service user {name} (no unit installed)")
        return _fail("user", f"the unit's user {name} does not exist", "sudo deploy/install.sh")
    groups = ", ".join(sorted(_unit_state.group_name(g) for g in account.gids))
    return _ok("user", f"{name} (uid {account.uid}), groups {groups}")


def service_account(account: Account | None, unit: UnitFile | None) -> Account | None:
    """The service's identity as the kernel will see it: the user's groups plus the unit's
    SupplementaryGroups= (systemd adds them whether or not the user is a member)."""
    if account is None or unit is None:
        return account
    extra = set()
    for value in unit.all("Service", "SupplementaryGroups"):
        for group in value.split():
            try:
                extra.add(grp.getgrnam(group).gr_gid)
            except KeyError:
                continue
    return dataclasses.replace(account, gids=account.gids | frozenset(extra))
