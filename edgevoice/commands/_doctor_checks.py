"""The checks of `edgevoice doctor` about the config, the key, the audio devices and GPIO, and
the types every check shares: `Check` (one report line), `Verdict`, and `Environment` (what the
checks look at, injectable for tests).

Each check returns one `Check`; none raises. Failures carry the fix a person can act on.
"""

from __future__ import annotations

import asyncio
import enum
import glob
import os
import ssl
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyaudio

from edgevoice.adapters.audio_devices import Kind, close_stream, open_in_thread, open_stream
from edgevoice.adapters.config_file import LoadedConfig
from edgevoice.adapters.credential_lookup import (
    CREDENTIAL_NAME,
    KEY_FILE_LIMIT,
    CredentialSource,
)
from edgevoice.adapters.portaudio_startup import STARTUP_TIMEOUT, PortAudio
from edgevoice.app.session_config import live_plan
from edgevoice.commands import _reach, _unit_state
from edgevoice.commands._unit_state import Account, Runner, UnitFile
from edgevoice.config import Config
from edgevoice.credentials import CredentialKind, value_problem
from edgevoice.errors import (
    AudioDeviceError,
    ConfigError,
    CredentialError,
    DeviceBusyError,
    DeviceNotFoundError,
)
from edgevoice.redact import printable

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


def passing(name: str, detail: str) -> Check:
    return Check(name, Verdict.OK, detail)


def failing(name: str, detail: str, fix: str) -> Check:
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


def from_step(name: str, step: _reach.Step) -> Check:
    return passing(name, step.detail) if step.ok else failing(name, step.detail, step.fix)


# --------------------------------------------------------------------------------------------
# Config and key


def check_config(loaded: LoadedConfig | ConfigError) -> Check:
    fix = "edit the config file; `edgevoice check-config` lists every problem"
    if isinstance(loaded, ConfigError):
        first = loaded.problems[0]
        more = len(loaded.problems) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        return failing("config", f"{first}{tail}", fix)
    try:
        plan = live_plan(loaded.config)
    except ConfigError as error:
        return failing("config", str(error.problems[0]), fix)
    fallbacks = len(plan.models) - 1
    extra = f", {fallbacks} fallback{'s' if fallbacks > 1 else ''}" if fallbacks else ""
    warned = f"; warning: {plan.warnings[0]}" if plan.warnings else ""
    where = f"{loaded.describe()} is valid" if loaded.path else f"{loaded.describe()}: valid"
    return passing("config", f"{where}; model {plan.models[0]}{extra}{warned}")


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
        return failing(
            "key",
            printable(str(error), 300),
            "run the token command by hand to see why it fails; the service retries it",
        )
    except ConfigError as error:
        fix = SET_KEY if unit is not None else "see the message; README, The API key"
        return failing("key", printable(str(error.problems[0]), 300), fix)
    what = "a token" if credential.kind is CredentialKind.TOKEN else "an API key"
    return passing("key", f"{credential.source} gives {what} (not shown)")


def check_key_file(path: str, account: Account | None, env: Environment) -> Check:
    """The file the unit loads as the credential: root:edgevoice 0640, one well-formed key."""
    shown = printable(path, 200)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return failing(
            "key",
            f"{shown} (the unit's LoadCredential=) does not exist: the service cannot start "
            "(status 243/CREDENTIALS)",
            SET_KEY,
        )
    except OSError as error:
        return failing("key", f"cannot check {shown}: {error.strerror}", ROOT_HINT)
    owner = _unit_state.describe_owner(info)
    if not stat.S_ISREG(info.st_mode):
        fix = f"replace it with a file; {SET_KEY}"
        return failing("key", f"{shown} is not a regular file", fix)
    group_ok = {0} | (set(account.gids) if account is not None else set())
    mode = stat.S_IMODE(info.st_mode)
    fix_mode = f"sudo chown root:{_unit_state.SERVICE_USER} {shown}; sudo chmod 0640 {shown}"
    if mode & 0o007 or (mode & 0o070 and info.st_gid not in group_ok):
        return failing("key", f"{shown} is readable by other users ({owner})", fix_mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except PermissionError:
        detail = f"{shown} exists ({owner}) but this user may not read it"
        return Check("key", Verdict.WARN, detail, ROOT_HINT)
    except OSError as error:
        return failing("key", f"cannot open {shown}: {error.strerror}", SET_KEY)
    try:
        data = os.read(fd, KEY_FILE_LIMIT + 1)
    finally:
        os.close(fd)
    try:
        value = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return failing("key", f"{shown} is not UTF-8 text", SET_KEY)
    if not value:
        return failing("key", f"{shown} is empty: the service stops with a config error", SET_KEY)
    problem = value_problem(value) if len(data) <= KEY_FILE_LIMIT else "is too long"
    if problem:
        return failing("key", f"the key in {shown} {problem}", SET_KEY)
    return passing("key", f"{shown} holds a key (not shown), {owner}; `edgevoice probe` tries it")


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
        return failing(name, printable(str(error), 300), fix)
    except DeviceNotFoundError as error:
        if not error.candidates:
            what = "capture" if kind == "input" else "playback"
            return failing(
                name,
                f"no {what} device at all (looking for {shown!r})",
                f"plug one in; `{'arecord' if kind == 'input' else 'aplay'} -l` lists the cards",
            )
        listing = ", ".join(repr(printable(c, 60)) for c in error.candidates[:6])
        return failing(
            name,
            f"no {kind} device matches {shown!r} (there are: {listing})",
            f"set audio.{kind}_device to one of them; `edgevoice devices` shows their rates",
        )
    except AudioDeviceError as error:
        fix = f"`edgevoice devices` shows the devices and rates; check audio.{kind}_*"
        return failing(name, printable(str(error), 400), fix)
    key = f"audio.{kind}_rate"
    if got != rate:
        how = f"at {got} Hz ({key} {rate} refused; its default rate is used and resampled)"
    else:
        how = f"at {got} Hz"
    return passing(name, f"{shown!r} opens {how}, {channels} channel{'s' if channels > 1 else ''}")


def check_gpio(config: Config, account: Account | None, env: Environment) -> Check:
    """A GPIO chip exists when a button or an LED is configured, and the service may open it."""
    uses = []
    if config.trigger.mode in ("button", "both"):
        uses.append(f"the button (trigger.mode = {config.trigger.mode!r})")
    if config.led.enabled:
        uses.append("the LED")
    chips = sorted(glob.glob(os.path.join(glob.escape(env.dev_dir), "gpiochip*")))
    if not uses:
        return passing("gpio", "not used (trigger.mode = 'voice', no LED)")
    need = " and ".join(uses)
    if not chips:
        return failing(
            "gpio",
            f"no GPIO chip ({printable(env.dev_dir, 100)}/gpiochip*) for {need}",
            "on a Raspberry Pi check `ls /dev/gpiochip*` (the GPIO driver); a device without "
            "GPIO sets trigger.mode = 'voice' and led.enabled = false",
        )
    names = ", ".join(os.path.basename(c) for c in chips)
    if account is None:
        if all(os.access(c, os.R_OK | os.W_OK) for c in chips):
            return passing("gpio", f"{names} present, usable by this user")
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
        return failing(
            "gpio",
            f"the service user {account.name} may not open {', '.join(blocked)}",
            f"sudo usermod -aG gpio {account.name} (Pi OS gives /dev/gpiochip* to the group "
            "gpio), then restart the service",
        )
    return passing("gpio", f"{names} present, usable by {account.name}, for {need}")
