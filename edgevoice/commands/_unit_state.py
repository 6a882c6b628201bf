"""What `doctor` and `status` learn about the installed service: the unit file, systemd's view
of the unit (`systemctl show`), its last journal line, and the service user.

Everything here asks the outside world through an injected `Runner` (the programs systemctl and
journalctl) and injected paths, so the tests run it on this machine, where systemd is installed
but not running. A program that is missing, fails or hangs gives "unknown", never an exception:
a diagnosis must finish.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgevoice.redact import printable

UNIT_NAME = "edgevoice.service"
SERVICE_USER = "edgevoice"
# Where an installed unit can be, first match wins (systemd's own search order, admin first).
UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)
SYSTEMD_RUNNING_MARK = "/run/systemd/system"  # sd_booted(3): exists when systemd is PID 1
COMMAND_TIMEOUT = 10.0  # s for one systemctl/journalctl call
SHOW_PROPERTIES = (
    "LoadState", "ActiveState", "SubState", "Result", "UnitFileState", "ExecMainStatus",
    "ExecMainCode", "NRestarts", "StatusText", "ActiveEnterTimestamp", "FragmentPath",
)  # fmt: skip

# (status, stdout) of a program run with a timeout; None when it cannot be run at all.
Runner = Callable[[Sequence[str]], "tuple[int, str] | None"]


def run_program(argv: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> tuple[int, str] | None:
    """Run `argv` (no shell, stdin closed, C locale, no pager); None when it is missing or does
    not finish within `timeout` seconds."""
    if shutil.which(argv[0]) is None:
        return None
    env = {**os.environ, "LC_ALL": "C", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}
    try:
        done = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.returncode, done.stdout


def systemd_running(mark: str = SYSTEMD_RUNNING_MARK) -> bool:
    return os.path.isdir(mark)


# --------------------------------------------------------------------------------------------
# The unit file


@dataclass(frozen=True)
class UnitFile:
    """The installed unit as its files say (the main file, then its drop-ins in order)."""

    path: Path
    settings: Mapping[str, tuple[str, ...]]  # "[Service] key" -> values, list resets applied
    dropins: tuple[Path, ...] = ()

    def get(self, section: str, key: str) -> str | None:
        """The last value of a single-valued setting, or None when it is not set."""
        values = self.settings.get(f"{section} {key}", ())
        return values[-1] if values else None

    def all(self, section: str, key: str) -> tuple[str, ...]:
        return self.settings.get(f"{section} {key}", ())

    def credential_path(self, name: str) -> str | None:
        """The file `LoadCredential=name:path` loads, or None."""
        for value in self.all("Service", "LoadCredential"):
            cred, sep, path = value.partition(":")
            if sep and cred == name and path:
                return path
        return None

    def managed_dir(self, kind: str, base: str) -> str | None:
        """The directory `<kind>Directory=` makes (`StateDirectory=edgevoice` ->
        /var/lib/edgevoice), or None when the unit sets none."""
        names = " ".join(self.all("Service", f"{kind}Directory")).split()
        return f"{base}/{names[0]}" if names else None

    def writable_paths(self) -> tuple[str, ...]:
        """Paths the sandbox leaves writable beyond the managed directories (ReadWritePaths=)."""
        return tuple(
            p.lstrip("-+") for v in self.all("Service", "ReadWritePaths") for p in v.split()
        )


def parse_unit_text(text: str, into: dict[str, list[str]]) -> None:
    """Add the assignments in `text` to `into` ("Section key" -> values); an empty assignment
    resets a list, as systemd does."""
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        values = into.setdefault(f"{section} {key.strip()}", [])
        if value.strip():
            values.append(value.strip())
        else:
            values.clear()


def find_unit(dirs: Sequence[str | Path] = UNIT_DIRS, name: str = UNIT_NAME) -> UnitFile | None:
    """The installed unit, read with its drop-ins (`<name>.d/*.conf` in any of `dirs`), or
    None when no directory has it. An unreadable file counts as absent."""
    main = next((Path(d) / name for d in dirs if (Path(d) / name).is_file()), None)
    if main is None:
        return None
    settings: dict[str, list[str]] = {}
    try:
        parse_unit_text(main.read_text(errors="replace"), settings)
    except OSError:
        return None
    confs: dict[str, Path] = {}
    for d in reversed(list(dirs)):  # a drop-in in an earlier directory overrides a later one
        folder = Path(d) / f"{name}.d"
        if folder.is_dir():
            for conf in folder.glob("*.conf"):
                confs[conf.name] = conf
    used = []
    for conf_name in sorted(confs):
        try:
            parse_unit_text(confs[conf_name].read_text(errors="replace"), settings)
            used.append(confs[conf_name])
        except OSError:
            continue
    frozen = {key: tuple(values) for key, values in settings.items()}
    return UnitFile(main, frozen, tuple(used))


# --------------------------------------------------------------------------------------------
# systemd's view of the unit


@dataclass(frozen=True)
class ServiceState:
    """`systemctl show edgevoice.service` (only what doctor and status use)."""

    properties: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> str:
        return self.properties.get(key, "")

    @property
    def installed(self) -> bool:
        return self["LoadState"] not in ("", "not-found")

    @property
    def running(self) -> bool:
        return self["ActiveState"] in ("active", "reloading")

    def describe(self) -> str:
        """One line: "active (running) since ..., enabled, 2 restarts: Listening"."""
        active, sub = self["ActiveState"] or "unknown", self["SubState"]
        text = f"{active} ({sub})" if sub else active
        since = self["ActiveEnterTimestamp"]
        if self.running and since:
            text += f" since {since}"
        if active == "failed" or (self["Result"] not in ("", "success")):
            text += f", result {self['Result'] or 'unknown'}"
            if self["ExecMainStatus"] not in ("", "0"):
                text += f" (exit status {self['ExecMainStatus']})"
        if self["UnitFileState"]:
            text += f", {self['UnitFileState']}"
        restarts = self["NRestarts"]
        if restarts not in ("", "0"):
            text += f", {restarts} restart{'s' if restarts != '1' else ''}"
        if self["StatusText"]:
            text += f": {self['StatusText']}"
        return printable(text, 300)


def service_state(run: Runner = run_program, name: str = UNIT_NAME) -> ServiceState | None:
    """systemd's view of the unit, or None when it cannot be asked (systemd not running, no
    systemctl, an error)."""
    done = run(["systemctl", "show", name, "--no-pager", f"--property={','.join(SHOW_PROPERTIES)}"])
    if done is None or done[0] != 0:
        return None
    properties: dict[str, str] = {}
    for line in done[1].splitlines():
        key, sep, value = line.partition("=")
        if sep and key in SHOW_PROPERTIES:
            properties[key] = value.strip()
    if not properties.get("LoadState"):
        return None
    return ServiceState(properties)


def last_log_line(run: Runner = run_program, name: str = UNIT_NAME) -> str | None:
    """The unit's newest journal line (time and message, escaped), or None when there is none
    to see (no journalctl, no journal, or this user may not read it)."""
    done = run(["journalctl", "--unit", name, "--lines=1", "--no-pager", "--quiet",
                "--output=short-iso"])  # fmt: skip
    if done is None or done[0] != 0:
        return None
    lines = [line for line in done[1].splitlines() if line.strip()]
    return printable(lines[-1], 400) if lines else None


# --------------------------------------------------------------------------------------------
# The service user, and what it may open


@dataclass(frozen=True)
class Account:
    """A user and every group it is in (primary and supplementary)."""

    name: str
    uid: int
    gids: frozenset[int]


def account(name: str = SERVICE_USER) -> Account | None:
    """The account `name` from this system's user database, or None when there is none."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    gids = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
    return Account(name, entry.pw_uid, frozenset(gids))


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def may_access(who: Account, info: os.stat_result, want: str) -> bool:
    """Whether `who` may do `want` ("r", "w", "x" or several) to a file with `info`, by its
    mode bits alone, as the kernel decides for a user without capabilities: the owner's bits,
    else the group's, else the others'."""
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid == who.uid:
        bits = (mode >> 6) & 7
    elif info.st_gid in who.gids:
        bits = (mode >> 3) & 7
    else:
        bits = mode & 7
    needed = (4 if "r" in want else 0) | (2 if "w" in want else 0) | (1 if "x" in want else 0)
    return bits & needed == needed


def describe_owner(info: os.stat_result) -> str:
    """ "root:gpio 0660" for the owner, group and mode of a file."""
    return f"{user_name(info.st_uid)}:{group_name(info.st_gid)} {stat.S_IMODE(info.st_mode):04o}"
