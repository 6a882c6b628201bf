"""deploy/install.sh and deploy/uninstall.sh run for real, into a temporary root (`--root DIR`).

The scripts run as root (they chown and add users), so these tests need root; they touch only
DIR, which the tests check by comparing the machine's own files before and after.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import stat
import subprocess
import termios
import time
from pathlib import Path

import pytest

from edgevoice import __version__

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "deploy" / "install.sh"
UNINSTALL = REPO / "deploy" / "uninstall.sh"
# Shaped like a Google API key ("AIza" + 35 characters), and like nothing else in the output.
KEY = "test-install-key-q7Xw2ZpL9mK4vB8nR1sD6fH"
OTHER_KEY = "test-other-key-a1b2c3d4e5f6g7h8i9j0k1l2m"
RUN_TIMEOUT = 900  # s: a hang guard for a venv built on a busy machine
HOST_PATHS = (
    "/opt/edgevoice",
    "/etc/edgevoice",
    "/var/lib/edgevoice",
    "/usr/local/bin/edgevoice",
    "/etc/systemd/system/edgevoice.service",
)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the installer runs as root (it chowns)"),
    pytest.mark.skipif(shutil.which("useradd") is None, reason="no useradd (passwd package)"),
]


def make_root(directory: Path, *, service_group: bool = False) -> Path:
    """A minimal system tree: the /etc files a Debian system has before edgevoice."""
    etc = directory / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    groups = "root:x:0:\naudio:x:29:\n" + ("edgevoice:x:990:\n" if service_group else "")
    (etc / "group").write_text(groups)
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (etc / "gshadow").write_text("root:*::\naudio:*::\n")
    for name in ("shadow", "gshadow"):
        (etc / name).chmod(0o640)
    return directory


def run(
    script: Path, *args: str, input: str | None = None, stdin: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SUDO_USER"}
    return subprocess.run(
        ["bash", str(script), *args],
        input=input,
        stdin=stdin if input is None else None,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=RUN_TIMEOUT,
    )


def database(root: Path, name: str) -> dict[str, list[str]]:
    """passwd or group under `root`, by entry name."""
    rows = [line.split(":") for line in (root / "etc" / name).read_text().splitlines() if line]
    return {row[0]: row for row in rows}


def members(root: Path, group: str) -> list[str]:
    return [m for m in database(root, "group")[group][3].split(",") if m]


def owner_mode(path: Path) -> tuple[int, int, int]:
    info = path.lstat()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def fingerprint(path: Path) -> tuple[bytes, int, int, int, int]:
    """What a re-install must not change about a file: content, owner, mode, mtime."""
    info = path.lstat()
    return path.read_bytes(), info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), info.st_mtime_ns


def host_snapshot() -> tuple[bytes, bytes, tuple[bool, ...]]:
    return (
        Path("/etc/passwd").read_bytes(),
        Path("/etc/group").read_bytes(),
        tuple(os.path.lexists(p) for p in HOST_PATHS),
    )


def assert_quiet_about_key(done: subprocess.CompletedProcess[str], *keys: str) -> None:
    for key in keys:
        assert key not in done.stdout and key not in done.stderr


# --------------------------------------------------------------------------------------------
# The whole life: install, use, upgrade, a bad config, uninstall, purge


@pytest.mark.slow
def test_install_upgrade_uninstall_purge(tmp_path: Path) -> None:
    host = host_snapshot()
    checkout = sorted(p.name for p in REPO.iterdir())
    root = make_root(tmp_path / "root")
    r = str(root)

    done = run(INSTALL, "--root", r, "--key-stdin", input=KEY + "\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_quiet_about_key(done, KEY)
    assert sorted(p.name for p in REPO.iterdir()) == checkout  # no build/ left in the checkout

    # The user and groups, in the root's own files.
    users, groups = database(root, "passwd"), database(root, "group")
    user = users["edgevoice"]
    assert user[5:] == ["/var/lib/edgevoice", "/usr/sbin/nologin"]
    uid, gid = int(user[2]), int(user[3])
    assert int(groups["edgevoice"][2]) == gid
    assert "edgevoice" in members(root, "audio") and "edgevoice" in members(root, "gpio")
    assert uid < 1000  # a system user

    # The program.
    venv_bin = root / "opt/edgevoice/venv/bin/edgevoice"
    version = subprocess.run(
        [str(venv_bin), "--version"], capture_output=True, text=True, check=True, timeout=120
    )
    assert version.stdout.strip() == f"edgevoice {__version__}"
    link = root / "usr/local/bin/edgevoice"
    assert link.is_symlink() and os.readlink(link) == "/opt/edgevoice/venv/bin/edgevoice"

    # Config, key, unit: contents, owners and modes.
    etc = root / "etc/edgevoice"
    assert owner_mode(etc) == (0, 0, 0o755)
    config = etc / "edgevoice.toml"
    assert config.read_bytes() == (REPO / "deploy/edgevoice.toml").read_bytes()
    assert owner_mode(config) == (0, 0, 0o644)
    key = etc / "api-key"
    assert key.read_text() == KEY + "\n"
    assert owner_mode(key) == (0, gid, 0o640)
    assert [p.name for p in etc.iterdir() if p.name.startswith(".")] == []  # no temp file left
    unit = root / "etc/systemd/system/edgevoice.service"
    assert unit.read_bytes() == (REPO / "systemd/edgevoice.service").read_bytes()
    assert owner_mode(unit) == (0, 0, 0o644)
    wants = root / "etc/systemd/system/multi-user.target.wants/edgevoice.service"
    assert wants.is_symlink() and os.readlink(wants) == "/etc/systemd/system/edgevoice.service"

    # The device is used: the config is edited, the daemon saved its state, and the key file
    # has the mode an older installer gave it.
    edited = config.read_text().replace('input_device = "default"', 'input_device = "hw:1,0"')
    assert 'input_device = "hw:1,0"' in edited
    config.write_text(edited + "# edited by a person\n")
    state_dir = root / "var/lib/edgevoice"
    state_dir.mkdir(parents=True)
    os.chown(state_dir, uid, gid)
    state_dir.chmod(0o700)
    state = state_dir / "state.json"
    state.write_text('{"version": 1, "muted": true}')
    os.chown(state, uid, gid)
    state.chmod(0o600)
    os.chown(key, 0, 0)
    key.chmod(0o600)
    kept = {path: fingerprint(path) for path in (config, state)}
    key_text = key.read_bytes()
    user_line, group_lines = users["edgevoice"], database(root, "group")

    done = run(INSTALL, "--root", r, stdin=subprocess.DEVNULL)  # an upgrade: nobody to ask
    assert done.returncode == 0, done.stdout + done.stderr
    assert {path: fingerprint(path) for path in kept} == kept
    assert key.read_bytes() == key_text
    assert owner_mode(key) == (0, gid, 0o640)  # the old mode is corrected, the key kept
    assert database(root, "passwd")["edgevoice"] == user_line
    assert database(root, "group") == group_lines  # no duplicate member, no new group
    assert (
        sum(1 for line in (root / "etc/passwd").read_text().splitlines() if "edgevoice" in line)
        == 1
    )
    assert "kept /etc/edgevoice/edgevoice.toml" in done.stdout
    assert venv_bin.exists() and wants.is_symlink()

    # A config with an error: installed, nothing started, status 78, the problem named.
    good = config.read_bytes()
    config.write_text(good.decode().replace("volume = 80", "volum = 80"))
    done = run(INSTALL, "--root", r, stdin=subprocess.DEVNULL)
    assert done.returncode == 78, done.stdout + done.stderr
    assert "volum" in done.stderr
    config.write_bytes(good)

    # Uninstall: the program and the unit go; config, key, state and user stay.
    done = run(UNINSTALL, "--root", r)
    assert done.returncode == 0, done.stdout + done.stderr
    for gone in (root / "opt/edgevoice", link, unit, wants):
        assert not os.path.lexists(gone), gone
    assert config.read_bytes() == good and key.read_bytes() == key_text
    assert fingerprint(state) == kept[state]
    assert "edgevoice" in database(root, "passwd")
    assert run(UNINSTALL, "--root", r).returncode == 0  # again: nothing left to do

    # Purge: config, key, state, the user and its group go; audio and gpio stay.
    done = run(UNINSTALL, "--root", r, "--purge")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not etc.exists() and not state_dir.exists()
    assert "edgevoice" not in database(root, "passwd")
    groups = database(root, "group")
    assert "edgevoice" not in groups
    assert {"audio", "gpio"} <= set(groups)
    assert members(root, "audio") == [] and members(root, "gpio") == []

    assert host_snapshot() == host  # the machine itself was never touched


# --------------------------------------------------------------------------------------------
# The key (--set-key: only the key, on a root where edgevoice's group exists)


def service_gid(root: Path) -> int:
    return int(database(root, "group")["edgevoice"][2])


def test_set_key_from_stdin_replaces_the_key(tmp_path: Path) -> None:
    root = make_root(tmp_path, service_group=True)
    done = run(INSTALL, "--root", str(root), "--set-key", "--key-stdin", input=f"  {KEY}\r\n")
    assert done.returncode == 0, done.stderr
    key = root / "etc/edgevoice/api-key"
    assert key.read_text() == KEY + "\n"  # blanks and CR trimmed
    assert owner_mode(key) == (0, service_gid(root), 0o640)
    done = run(INSTALL, "--root", str(root), "--set-key", "--key-stdin", input=OTHER_KEY)
    assert done.returncode == 0, done.stderr
    assert key.read_text() == OTHER_KEY + "\n"
    assert_quiet_about_key(done, KEY, OTHER_KEY)


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("", "no key on stdin"),
        ("   \n", "empty"),
        ("AIzaTEST with-a-space\n", "space"),
        ("AIzaTEST\twith-a-tab\n", "space"),
        ("AIzaTEST\u00e9accent\n", "not visible ASCII"),
        ("AIzaTEST\x1b[2Jescape\n", "not visible ASCII"),
        ("A" * 5000 + "\n", "longer than 4096"),
    ],
)
def test_a_bad_key_is_refused_without_being_shown(tmp_path: Path, given: str, why: str) -> None:
    root = make_root(tmp_path, service_group=True)
    assert run(INSTALL, "--root", str(root), "--set-key", "--key-stdin", input=KEY).returncode == 0
    done = run(INSTALL, "--root", str(root), "--set-key", "--key-stdin", input=given)
    assert done.returncode == 1
    assert why in done.stderr
    assert len(done.stderr.splitlines()) == 1
    for part in given.split():
        if len(part) > 8:
            assert part not in done.stderr and part not in done.stdout
    assert (root / "etc/edgevoice/api-key").read_text() == KEY + "\n"  # the old key stays


def test_set_key_needs_an_installed_service_group(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    done = run(INSTALL, "--root", str(root), "--set-key", "--key-stdin", input=KEY)
    assert done.returncode == 1
    assert "not installed" in done.stderr
    assert not (root / "etc/edgevoice").exists()


def test_set_key_without_a_terminal_or_key_stdin_says_how(tmp_path: Path) -> None:
    root = make_root(tmp_path, service_group=True)
    done = run(INSTALL, "--root", str(root), "--set-key", stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert "--key-stdin" in done.stderr


def read_until(master: int, wanted: bytes, seen: bytearray, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"never saw {wanted!r} in {bytes(seen)!r}"
        ready, _, _ = select.select([master], [], [], left)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the other side is closed
                chunk = b""
            assert chunk, f"the terminal closed before {wanted!r}: {bytes(seen)!r}"
            seen += chunk


def test_the_prompt_does_not_echo_the_key(tmp_path: Path) -> None:
    """On a terminal the key is asked for with echo off: what is typed never shows."""
    root = make_root(tmp_path, service_group=True)
    master, slave = pty.openpty()
    process = subprocess.Popen(
        ["bash", str(INSTALL), "--root", str(root), "--set-key"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    seen = bytearray()
    try:
        read_until(master, b"input hidden", seen)
        # Type only once the terminal's echo is off (bash turns it off for `read -s`).
        deadline = time.monotonic() + 30
        while termios.tcgetattr(master)[3] & termios.ECHO:
            assert time.monotonic() < deadline, "the terminal's echo was never turned off"
            time.sleep(0.01)
        os.write(master, KEY.encode() + b"\n")
        read_until(master, b"stored the key", seen)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    assert KEY.encode() not in seen
    assert (root / "etc/edgevoice/api-key").read_text() == KEY + "\n"


# --------------------------------------------------------------------------------------------
# Command lines


@pytest.mark.parametrize("script", [INSTALL, UNINSTALL])
def test_help_and_bad_options(script: Path, tmp_path: Path) -> None:
    done = run(script, "--help")
    assert done.returncode == 0 and "--root DIR" in done.stdout
    done = run(script, "--frobnicate")
    assert done.returncode == 2 and "unknown option" in done.stderr
    assert len(done.stderr.splitlines()) == 1
    done = run(script, "--root", "relative/dir")
    assert done.returncode == 2 and "absolute" in done.stderr
    done = run(script, "--root", str(tmp_path / "missing"))
    assert done.returncode == 2 and "not a directory" in done.stderr


def test_install_refuses_a_root_without_system_files(tmp_path: Path) -> None:
    done = run(INSTALL, "--root", str(tmp_path), stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert "etc/passwd" in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was made
