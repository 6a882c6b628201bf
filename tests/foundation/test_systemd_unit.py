"""The shipped unit: `systemd-analyze verify` clean, `systemd-analyze security` exposure <= 2.5,
and a restart policy that fits the exit statuses the daemon uses.

Each gate is also run on a broken or weakened copy of the unit, to show it can fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgevoice.cli import EX_INTERRUPTED
from edgevoice.commands._common import EX_TEMPFAIL, EX_UNAVAILABLE
from edgevoice.errors import ConfigError

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "edgevoice.service"
EXEC = "/opt/edgevoice/venv/bin/edgevoice"
MAX_EXPOSURE = 2.5
EX_SIGTERM = 143  # 128 + SIGTERM: how `edgevoice run` ends on `systemctl stop`
EXIT_CREDENTIALS = 243  # systemd's own: LoadCredential= could not read the key file

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)


# --------------------------------------------------------------------------------------------
# Reading a unit file (repeated keys kept, in order, as systemd reads them)


def unit_entries(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, continuation lines joined."""
    entries: list[tuple[str, str, str]] = []
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
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment: {line!r}"
        entries.append((section, key.strip(), value.strip()))
    return entries


def values(text: str, section: str, key: str) -> list[str]:
    return [v for s, k, v in unit_entries(text) if s == section and k == key]


def one(text: str, section: str, key: str) -> str:
    found = values(text, section, key)
    assert len(found) == 1, f"[{section}] {key}= appears {len(found)} times"
    return found[0]


def words(text: str, section: str, key: str) -> set[str]:
    """The space-separated items of every assignment of a list setting (empty resets)."""
    items: set[str] = set()
    for value in values(text, section, key):
        if not value:
            items.clear()
        items.update(value.split())
    return items


def restarts_after(text: str, status: int) -> bool:
    """Whether systemd restarts the unit when `edgevoice run` exits with `status`
    (systemd.service(5): Restart=on-failure, SuccessExitStatus=, RestartPreventExitStatus=)."""
    assert one(text, "Service", "Restart") == "on-failure"
    clean = {0} | {int(w) for w in words(text, "Service", "SuccessExitStatus") if w.isdigit()}
    prevent = {int(w) for w in words(text, "Service", "RestartPreventExitStatus") if w.isdigit()}
    return status not in clean and status not in prevent


# --------------------------------------------------------------------------------------------
# The two systemd-analyze gates


def runnable_copy(text: str, directory: Path) -> Path:
    """The unit with ExecStart pointing at a binary that exists here (verify checks it)."""
    assert f"{EXEC} run" in text
    copy = directory / "edgevoice.service"
    copy.write_text(text.replace(EXEC, shutil.which("true") or "/bin/true"))
    return copy


def verify_complaints(text: str, directory: Path) -> str:
    """What `systemd-analyze verify` says about the unit ("" when it is clean).

    Unknown keys and bad values are only warnings with status 0, so stderr is what counts.
    """
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "--recursive-errors=no",
         runnable_copy(text, directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )  # fmt: skip
    return (done.stderr + (f"\nexit status {done.returncode}" if done.returncode else "")).strip()


def exposure(text: str, directory: Path) -> tuple[float, int]:
    """(overall exposure score 0-10, exit status with --threshold at MAX_EXPOSURE)."""
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true",
         f"--threshold={round(MAX_EXPOSURE * 10)}", runnable_copy(text, directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", done.stdout)
    assert found, done.stdout[-2000:] + done.stderr
    return float(found.group(1)), done.returncode


@needs_analyze
def test_unit_verifies_without_warnings(tmp_path: Path) -> None:
    assert verify_complaints(UNIT.read_text(), tmp_path) == ""


@needs_analyze
@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("WatchdogSec=30s", "WatchdogSecs=30s"),  # a misspelt key
        ("Type=notify", "Type=notfy"),  # a bad value
        ("RestartSec=5s", "RestartSec=soon"),
    ],
)
def test_verify_gate_catches_a_broken_unit(tmp_path: Path, old: str, new: str) -> None:
    text = UNIT.read_text()
    assert old in text
    assert verify_complaints(text.replace(old, new), tmp_path) != ""


@needs_analyze
def test_unit_exposure_is_at_most_2_5(tmp_path: Path) -> None:
    score, status = exposure(UNIT.read_text(), tmp_path)
    assert score <= MAX_EXPOSURE
    assert status == 0


@needs_analyze
def test_exposure_gate_catches_a_weakened_unit(tmp_path: Path) -> None:
    """Without its sandboxing the same unit scores far worse, and the gate says so."""
    text = UNIT.read_text()
    hardening = (
        "ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges",
        "CapabilityBoundingSet", "SystemCallFilter", "RestrictAddressFamilies", "DevicePolicy",
        "DeviceAllow", "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups",
        "RestrictNamespaces",
    )  # fmt: skip
    weak = "\n".join(line for line in text.splitlines() if line.partition("=")[0] not in hardening)
    score, status = exposure(weak, tmp_path)
    assert score > MAX_EXPOSURE
    assert status != 0


# --------------------------------------------------------------------------------------------
# What the unit must say (issue #10, item 4)


def test_notify_watchdog_and_reload() -> None:
    text = UNIT.read_text()
    assert one(text, "Service", "Type") == "notify"
    assert one(text, "Service", "NotifyAccess") == "main"
    watchdog = one(text, "Service", "WatchdogSec")
    assert re.fullmatch(r"\d+s", watchdog) and int(watchdog[:-1]) >= 10
    reload = one(text, "Service", "ExecReload").split()
    assert reload[0].endswith("kill") and "-HUP" in reload and "$MAINPID" in reload


def test_restart_policy_fits_the_exit_statuses() -> None:
    text = UNIT.read_text()
    assert not restarts_after(text, ConfigError.exit_status)  # 78: a person must fix the file
    assert not restarts_after(text, EXIT_CREDENTIALS)  # the key file is missing
    assert restarts_after(text, EX_TEMPFAIL)  # 75: the token command failed; try again
    assert restarts_after(text, EX_UNAVAILABLE)  # 69
    assert restarts_after(text, 1)  # a crash
    assert not restarts_after(text, EX_SIGTERM)  # systemctl stop: a clean end
    assert not restarts_after(text, EX_INTERRUPTED)
    assert not restarts_after(text, 0)
    restart_sec = one(text, "Service", "RestartSec")
    assert re.fullmatch(r"\d+s", restart_sec) and int(restart_sec[:-1]) >= 1


def test_restart_policy_check_can_fail() -> None:
    text = UNIT.read_text().replace("RestartPreventExitStatus=78 243", "RestartPreventExitStatus=")
    assert restarts_after(text, ConfigError.exit_status)


def test_never_gives_up_for_good() -> None:
    """A start limit would leave the unit failed for good after a burst of transient faults."""
    text = UNIT.read_text()
    assert one(text, "Unit", "StartLimitIntervalSec") == "0"
    assert not values(text, "Service", "StartLimitBurst")
    assert not values(text, "Unit", "StartLimitAction")


def test_ordering_without_sleeps() -> None:
    text = UNIT.read_text()
    assert "network-online.target" in words(text, "Unit", "Wants")
    after = words(text, "Unit", "After")
    assert {"network-online.target", "sound.target"} <= after
    for _section, key, value in unit_entries(text):
        if key.startswith("Exec"):
            assert "sleep" not in value, f"{key}= sleeps: {value}"


def test_identity_key_and_directories() -> None:
    text = UNIT.read_text()
    assert one(text, "Service", "User") == "edgevoice"
    assert words(text, "Service", "SupplementaryGroups") == {"audio", "gpio"}
    assert one(text, "Service", "LoadCredential") == "gemini-api-key:/etc/edgevoice/api-key"
    for key in ("ConfigurationDirectory", "StateDirectory", "RuntimeDirectory"):
        assert one(text, "Service", key) == "edgevoice"
    assert "GEMINI_API_KEY" not in text  # no key in the unit's environment
    assert one(text, "Service", "ExecStart").startswith(f"{EXEC} run ")


def test_sandbox_settings() -> None:
    text = UNIT.read_text()
    assert one(text, "Service", "ProtectSystem") == "strict"
    assert one(text, "Service", "PrivateTmp") == "yes"
    assert one(text, "Service", "NoNewPrivileges") == "yes"
    assert one(text, "Service", "CapabilityBoundingSet") == ""
    assert words(text, "Service", "RestrictAddressFamilies") <= {
        "AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK",
    }  # fmt: skip
    assert one(text, "Service", "DevicePolicy") == "closed"
    assert {v.split()[0] for v in values(text, "Service", "DeviceAllow")} == {
        "char-alsa", "char-gpiochip",
    }  # fmt: skip
    assert values(text, "Service", "SystemCallFilter")[0] == "@system-service"
