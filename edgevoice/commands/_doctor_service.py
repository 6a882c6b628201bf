"""The checks of `edgevoice doctor` about the machine and the service: the clock, the state
and runtime directories (writable for the service, inside its sandbox too), the unit and the
service user.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import stat

from edgevoice.commands import _reach, _unit_state
from edgevoice.commands._doctor_checks import (
    ROOT_HINT,
    SET_KEY,
    Check,
    Environment,
    Verdict,
    failing,
    from_step,
    passing,
)
from edgevoice.commands._unit_state import Account, ServiceState, UnitFile
from edgevoice.errors import ConfigError
from edgevoice.redact import printable


def check_clock(server_time: float | None, env: Environment, server: str) -> Check:
    step = _reach.clock_step(env.now(), server_time, floor=env.clock_floor, server=server)
    check = from_step("clock", step)
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
            return failing(
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
            made = f"{shown}: systemd makes it as the service starts ({kind}Directory=)"
            return passing(name, made)
        mode = "0700" if kind == "State" else "0750"
        owner = account.name if account is not None else "$USER"
        return failing(
            name, f"{shown} does not exist", f"sudo install -d -m {mode} -o {owner} {shown}"
        )
    except OSError as error:
        return failing(name, f"cannot check {shown}: {error.strerror}", ROOT_HINT)
    if not stat.S_ISDIR(info.st_mode):
        return failing(name, f"{shown} is not a directory", f"remove it, or change {key}")
    if managed is not None and path == managed:
        return passing(name, f"{shown} ({_unit_state.describe_owner(info)}; systemd keeps it the "
                         "service's)")  # fmt: skip
    if account is not None and env.euid() != account.uid:
        writable = _unit_state.may_access(account, info, "wx")
        who = account.name
    else:
        writable = os.access(path, os.W_OK | os.X_OK)
        who = "this user"
    if not writable:
        return failing(
            name,
            f"{shown} is not writable by {who} ({_unit_state.describe_owner(info)})",
            f"sudo chown {account.name if account else '$USER'} {shown}",
        )
    return passing(name, f"{shown} is writable by {who}")


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
        return failing("unit", f"no {_unit_state.UNIT_NAME} in {where}", "sudo deploy/install.sh")
    path = printable(str(unit.path), 200) if unit is not None else "(loaded)"
    if not running_systemd or state is None:
        return Check(
            "unit", Verdict.WARN, f"installed at {path}; systemd is not running here (no status)",
            "boot the device with systemd to run the service",
        )  # fmt: skip
    if not state.installed:
        return failing("unit", f"{path} exists but systemd has not loaded it",
                     "sudo systemctl daemon-reload")  # fmt: skip
    described = state.describe()
    active, sub = state["ActiveState"], state["SubState"]
    if active in ("active", "reloading"):
        if state["UnitFileState"] not in ("enabled", "enabled-runtime", "static", "alias"):
            return Check("unit", Verdict.WARN, described, "sudo systemctl enable edgevoice")
        return passing("unit", described)
    if active == "activating" and sub == "auto-restart":
        return failing("unit", f"restarting again and again: {described}",
                     "`journalctl -u edgevoice -n 50` says why")  # fmt: skip
    if active == "failed":
        status = state["ExecMainStatus"]
        if status == str(ConfigError.exit_status):
            fix = "fix the config (`edgevoice check-config`), then sudo systemctl restart edgevoice"
        elif status == "243":
            fix = f"the key file is missing: {SET_KEY}"
        else:
            fix = "`journalctl -u edgevoice -n 50` says why; then sudo systemctl restart edgevoice"
        return failing("unit", described, fix)
    return Check("unit", Verdict.WARN, f"installed, not running: {described}",
                 "sudo systemctl enable --now edgevoice")  # fmt: skip


def check_user(unit: UnitFile | None, account: Account | None) -> Check:
    """The unit's user exists (the unit itself adds the groups audio and gpio)."""
    wanted = unit.get("Service", "User") if unit is not None else None
    name = wanted or _unit_state.SERVICE_USER
    if account is None or account.name != name:
        if unit is None:
            return Check("user", Verdict.SKIP, f"no service user {name} (no unit installed)")
        missing = f"the unit's user {name} does not exist"
        return failing("user", missing, "sudo deploy/install.sh")
    groups = ", ".join(sorted(_unit_state.group_name(g) for g in account.gids))
    return passing("user", f"{name} (uid {account.uid}), groups {groups}")


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
