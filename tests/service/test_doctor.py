"""`edgevoice doctor`: every check made to pass and to fail on this machine, with real things
where they exist here (file-backed ALSA devices through pyaudio, a loopback TLS server with
test certificates, the Live simulator, files and directories with real owners and modes).

What cannot exist here is injected at the leaf: systemd is not PID 1, so `systemctl show` is
answered by a scripted runner; there is no GPIO, so the chip is a file in a test /dev.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from edgevoice.adapters.config_file import LoadedConfig, load_config
from edgevoice.commands import _reach
from edgevoice.commands._doctor_checks import (
    CLOCK_FLOOR,
    Check,
    Environment,
    Verdict,
    check_config,
    check_device,
    check_gpio,
    check_key,
)
from edgevoice.commands._doctor_service import check_clock, check_dir, check_unit, check_user
from edgevoice.commands._unit_state import (
    Account,
    ServiceState,
    UnitFile,
    find_unit,
    last_log_line,
    service_state,
)
from edgevoice.commands.doctor import diagnose, report
from edgevoice.errors import ConfigError
from edgevoice.sim import SimOptions

KEY = "test-doctor-key-q7Xw2ZpL9mK4vB8nR1sD6fH3"
REPO = Path(__file__).resolve().parents[2]
UNIT_TEXT = (REPO / "systemd" / "edgevoice.service").read_text()
NOBODY = Account("edgevoice", 4242, frozenset({4242}))
Server = Callable[..., contextlib.AbstractContextManager[Any]]
Trust = Callable[[Path], ssl.SSLContext]


def config(*sets: str) -> LoadedConfig:
    return load_config("/dev/null", list(sets), environ={})


def env(tmp_path: Path, **kw: object) -> Environment:
    """An environment that looks only inside tmp_path: no unit, no GPIO, systemd not running."""
    defaults: dict[str, object] = {
        "unit_dirs": [str(tmp_path / "units")],
        "dev_dir": str(tmp_path / "dev"),
        "runner": lambda argv: None,
        "systemd_mark": str(tmp_path / "no-systemd"),
        "service_account": lambda: None,
        "environ": {},
        "timeout": 3.0,
    }
    defaults.update(kw)
    return Environment(**defaults)  # type: ignore[arg-type]


def install_unit(tmp_path: Path, text: str = UNIT_TEXT, dropin: str | None = None) -> UnitFile:
    units = tmp_path / "units"
    units.mkdir(exist_ok=True)
    (units / "edgevoice.service").write_text(text)
    if dropin is not None:
        (units / "edgevoice.service.d").mkdir(exist_ok=True)
        (units / "edgevoice.service.d" / "override.conf").write_text(dropin)
    unit = find_unit([str(units)])
    assert unit is not None
    return unit


def with_key_file(unit_text: str, path: Path) -> str:
    return unit_text.replace("/etc/edgevoice/api-key", str(path))


# --------------------------------------------------------------------------------------------
# config


def test_config_ok_names_the_model() -> None:
    check = check_config(config())
    assert check.verdict is Verdict.OK
    assert "gemini-3.8-live" in check.detail


def test_config_problem_names_the_key_and_counts_the_rest() -> None:
    with pytest.raises(ConfigError) as caught:
        config("audio.volum=3", "live.voice=Nobody")
    check = check_config(caught.value)
    assert check.verdict is Verdict.FAIL
    assert "audio.volum" in check.detail and "1 more problem" in check.detail
    assert "check-config" in check.fix


def test_a_bad_config_skips_what_needs_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config("audio.volum=3")
    checks = diagnose(caught.value, env(tmp_path))
    verdicts = {c.name: c.verdict for c in checks}
    assert verdicts["config"] is Verdict.FAIL
    assert verdicts["key"] is verdicts["microphone"] is verdicts["dns"] is Verdict.SKIP
    assert verdicts["clock"] is Verdict.OK


# --------------------------------------------------------------------------------------------
# key


def key_file(tmp_path: Path, text: str, mode: int = 0o640, gid: int = 4242) -> Path:
    path = tmp_path / "api-key"
    path.write_text(text)
    os.chown(path, 0, gid) if os.geteuid() == 0 else None
    path.chmod(mode)
    return path


def test_key_file_of_the_unit_ok_and_never_shown(tmp_path: Path) -> None:
    path = key_file(tmp_path, KEY + "\n")
    unit = install_unit(tmp_path, with_key_file(UNIT_TEXT, path))
    check = check_key(config().config, unit, NOBODY, env(tmp_path))
    assert check.verdict is Verdict.OK, check
    assert KEY not in check.line()
    assert "not shown" in check.detail


@pytest.mark.parametrize(
    ("text", "mode", "why"),
    [
        ("", 0o640, "is empty"),
        ("AIza with space\n", 0o640, "a space"),
        (KEY + "\n", 0o644, "readable by other users"),
    ],
)
def test_key_file_problems(tmp_path: Path, text: str, mode: int, why: str) -> None:
    path = key_file(tmp_path, text, mode)
    unit = install_unit(tmp_path, with_key_file(UNIT_TEXT, path))
    check = check_key(config().config, unit, NOBODY, env(tmp_path))
    assert check.verdict is Verdict.FAIL
    assert why in check.detail
    assert "--set-key" in check.fix or "chmod" in check.fix
    assert KEY not in check.line()


def test_missing_key_file_says_the_unit_cannot_start(tmp_path: Path) -> None:
    unit = install_unit(tmp_path, with_key_file(UNIT_TEXT, tmp_path / "gone"))
    check = check_key(config().config, unit, NOBODY, env(tmp_path))
    assert check.verdict is Verdict.FAIL
    assert "243" in check.detail and "--set-key" in check.fix


def test_key_from_the_environment_without_a_unit(tmp_path: Path) -> None:
    ok = check_key(config().config, None, None, env(tmp_path, environ={"GEMINI_API_KEY": KEY}))
    assert ok.verdict is Verdict.OK and KEY not in ok.line()
    missing = check_key(config().config, None, None, env(tmp_path))
    assert missing.verdict is Verdict.FAIL
    assert "no API key found" in missing.detail


def token_command(tmp_path: Path, body: str) -> str:
    script = tmp_path / "token.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_token_command_ok_and_failing(tmp_path: Path) -> None:
    token = "auth_tokens/doctor-test-token-0123456789"
    good = token_command(tmp_path, f"echo {token}")
    ok = check_key(config(f'auth.token_command="{good}"').config, None, None, env(tmp_path))
    assert ok.verdict is Verdict.OK and token not in ok.line()
    bad = token_command(tmp_path, "echo 'token server down' >&2; exit 3")
    failed = check_key(config(f'auth.token_command="{bad}"').config, None, None, env(tmp_path))
    assert failed.verdict is Verdict.FAIL
    assert "exited with status 3" in failed.detail and "token server down" in failed.detail


# --------------------------------------------------------------------------------------------
# microphone and speaker: real pyaudio over file-backed ALSA devices


def test_devices_open(tmp_path: Path, alsa_files: object) -> None:
    loaded = config('audio.input_device="filemic"', 'audio.output_device="filespk"')
    for kind, name in (("input", "microphone"), ("output", "speaker")):
        check = check_device(kind, loaded.config, env(tmp_path), service_running=False)  # type: ignore[arg-type]
        assert check.verdict is Verdict.OK, check
        assert check.name == name and "48000 Hz" in check.detail


def test_a_device_that_is_not_there(tmp_path: Path, alsa_files: object) -> None:
    loaded = config('audio.input_device="usb-mic-gone"')
    check = check_device("input", loaded.config, env(tmp_path), service_running=False)
    assert check.verdict is Verdict.FAIL
    assert "usb-mic-gone" in check.detail and "filemic" in check.detail
    assert "audio.input_device" in check.fix


class BusyPyAudio:
    """A device another program holds cannot be made here (file PCMs are never exclusive):
    the leaf, PyAudio, answers as PortAudio does for ALSA's EBUSY."""

    def __init__(self) -> None:
        import pyaudio

        self._real = pyaudio.PyAudio()

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)

    def open(self, **_: object) -> object:
        raise OSError(-9985, "Device unavailable")


def test_a_busy_device(tmp_path: Path, alsa_files: object) -> None:
    loaded = config('audio.input_device="filemic"')
    busy = env(tmp_path, pyaudio_factory=BusyPyAudio)
    check = check_device("input", loaded.config, busy, service_running=False)
    assert check.verdict is Verdict.FAIL and "busy" in check.detail
    check = check_device("input", loaded.config, busy, service_running=True)
    assert check.verdict is Verdict.SKIP and "running service" in check.detail


# --------------------------------------------------------------------------------------------
# gpio


def test_gpio_not_needed_for_the_voice_trigger(tmp_path: Path) -> None:
    check = check_gpio(config("trigger.mode=voice").config, NOBODY, env(tmp_path))
    assert check.verdict is Verdict.OK and "not used" in check.detail


def test_gpio_chip_missing(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    check = check_gpio(config().config, NOBODY, env(tmp_path))
    assert check.verdict is Verdict.FAIL
    assert "gpiochip" in check.detail and "trigger.mode" in check.fix


def test_gpio_chip_usable_or_not_by_the_service(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    chip = dev / "gpiochip0"
    chip.write_bytes(b"")
    os.chown(chip, 0, 4343) if os.geteuid() == 0 else None
    chip.chmod(0o660)
    gpio_member = Account("edgevoice", 4242, frozenset({4242, os.stat(chip).st_gid}))
    ok = check_gpio(config("led.enabled=true").config, gpio_member, env(tmp_path))
    assert ok.verdict is Verdict.OK and "gpiochip0" in ok.detail
    outsider = Account("edgevoice", 4242, frozenset({4242}))
    failed = check_gpio(config().config, outsider, env(tmp_path))
    assert failed.verdict is Verdict.FAIL
    assert "usermod -aG gpio" in failed.fix


# --------------------------------------------------------------------------------------------
# dns, tls, clock: a loopback TLS server, the simulator


def test_dns_failure() -> None:
    found = _reach.reach("wss://edgevoice-doctor-test.invalid", timeout=3)
    assert not found.dns.ok and found.connect is None
    assert "edgevoice-doctor-test.invalid" in found.dns.detail and "DNS" in found.dns.fix


def test_tls_ok_with_a_trusted_certificate(
    tls_files: tuple[Path, Path], http_server: Server, trusting: Trust
) -> None:
    cert, key = tls_files
    with http_server(cert, key, skew=0) as server:
        found = _reach.reach(server.url, timeout=5, context_factory=lambda: trusting(cert))
    assert found.dns.ok and "127.0.0.1" in found.dns.detail
    assert found.connect is not None and found.connect.ok, found.connect
    assert "TLS" in found.connect.detail and "certificate valid until" in found.connect.detail
    assert found.server_time is not None and abs(found.server_time - time.time()) < 60


def test_tls_untrusted_certificate(tls_files: tuple[Path, Path], http_server: Server) -> None:
    cert, key = tls_files
    with http_server(cert, key) as server:
        found = _reach.reach(server.url, timeout=5)  # the system's trust store only
    assert found.connect is not None and not found.connect.ok
    assert "ca-certificates" in found.connect.fix


@pytest.mark.parametrize("which", ["expired", "future"])
def test_tls_certificate_out_of_date_points_at_the_clock(
    dated_certs: dict[str, tuple[Path, Path]], which: str, http_server: Server, trusting: Trust
) -> None:
    cert, key = dated_certs[which]
    with http_server(cert, key) as server:
        found = _reach.reach(server.url, timeout=5, context_factory=lambda: trusting(cert))
    assert found.connect is not None and not found.connect.ok
    assert "clock" in found.connect.fix and "timedatectl" in found.connect.fix


def test_not_tls_on_a_wss_endpoint(http_server: Server) -> None:
    with http_server(None) as server:
        url = server.url.replace("ws://", "wss://")
        found = _reach.reach(url, timeout=3)
    assert found.connect is not None and not found.connect.ok
    assert "TLS" in found.connect.detail


def test_nothing_listening(http_server: Server) -> None:
    with http_server(None) as server:
        url = server.url
    found = _reach.reach(url, timeout=3)  # closed again: refused
    assert found.connect is not None and not found.connect.ok
    assert "cannot reach" in found.connect.detail


async def test_the_simulator_as_the_endpoint(
    sim_factory: Any, tls_files: tuple[Path, Path], trusting: Trust
) -> None:
    """The Live simulator served over TLS: reached, and its clock agrees with ours."""
    cert, key = tls_files
    server_ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ssl.load_cert_chain(cert, key)
    async with sim_factory(SimOptions(pace=0), ssl_context=server_ssl) as sim:
        found = await asyncio.to_thread(
            _reach.reach, sim.url, timeout=5, context_factory=lambda: trusting(cert)
        )
    assert found.connect is not None and found.connect.ok, found.connect
    check = check_clock(found.server_time, Environment(runner=lambda argv: None), "the simulator")
    assert check.verdict is Verdict.OK and "within" in check.detail


def test_clock_against_the_server(
    tls_files: tuple[Path, Path], http_server: Server, trusting: Trust
) -> None:
    cert, key = tls_files
    cases = ((0.0, Verdict.OK), (-3 * 3600.0, Verdict.FAIL), (86400.0 * 3, Verdict.FAIL))
    for skew, verdict in cases:
        with http_server(cert, key, skew=skew) as server:
            found = _reach.reach(server.url, timeout=5, context_factory=lambda: trusting(cert))
        check = check_clock(found.server_time, Environment(runner=lambda argv: None), "it")
        assert check.verdict is verdict, (skew, check)
        if verdict is Verdict.FAIL:
            assert ("ahead of" if skew < 0 else "behind") in check.detail
            assert "timedatectl" in check.fix


def test_clock_before_this_release_is_wrong() -> None:
    stale = Environment(now=lambda: 0.0, runner=lambda argv: None)
    check = check_clock(None, stale, "the endpoint")
    assert check.verdict is Verdict.FAIL and "1970-01-01" in check.detail
    fine = check_clock(None, Environment(runner=lambda argv: None), "the endpoint")
    assert fine.verdict is Verdict.OK and time.time() > CLOCK_FLOOR


def test_clock_not_synchronised_is_a_warning(tmp_path: Path) -> None:
    def timedatectl(argv: Sequence[str]) -> tuple[int, str] | None:
        return (0, "no\n") if argv[0] == "timedatectl" else None

    check = check_clock(None, env(tmp_path, runner=timedatectl), "the endpoint")
    assert check.verdict is Verdict.WARN and "set-ntp" in check.fix


# --------------------------------------------------------------------------------------------
# directories


def test_dir_writable_without_a_unit(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    check = check_dir("state dir", str(state), "State", "/var/lib", None, None, env(tmp_path))
    assert check.verdict is Verdict.OK and "writable" in check.detail


def test_dir_missing_or_not_a_directory(tmp_path: Path) -> None:
    missing = check_dir("state dir", str(tmp_path / "nope"), "State", "/var/lib", None, None,
                        env(tmp_path))  # fmt: skip
    assert missing.verdict is Verdict.FAIL and "install -d" in missing.fix
    (tmp_path / "file").write_text("")
    not_dir = check_dir("state dir", str(tmp_path / "file"), "State", "/var/lib", None, None,
                        env(tmp_path))  # fmt: skip
    assert not_dir.verdict is Verdict.FAIL and "not a directory" in not_dir.detail


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a directory the service user cannot write")
def test_dir_not_writable_by_the_service_user(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    check = check_dir("state dir", str(state), "State", "/var/lib", None, NOBODY, env(tmp_path))
    assert check.verdict is Verdict.FAIL and "edgevoice" in check.detail
    os.chown(state, NOBODY.uid, -1)
    check = check_dir("state dir", str(state), "State", "/var/lib", None, NOBODY, env(tmp_path))
    assert check.verdict is Verdict.OK


def test_dir_outside_the_sandbox(tmp_path: Path) -> None:
    """ProtectSystem=strict makes everything but the unit's own directories read-only."""
    unit = install_unit(tmp_path)
    other = tmp_path / "elsewhere"
    other.mkdir()
    check = check_dir("state dir", str(other), "State", "/var/lib", unit, NOBODY, env(tmp_path))
    assert check.verdict is Verdict.FAIL
    assert "ProtectSystem=strict" in check.detail and "ReadWritePaths=" in check.fix
    unit = install_unit(tmp_path, dropin=f"[Service]\nReadWritePaths={tmp_path}\n")
    check = check_dir("state dir", str(other), "State", "/var/lib", unit, None, env(tmp_path))
    assert check.verdict is Verdict.OK, check


def test_managed_dir_made_by_systemd(tmp_path: Path) -> None:
    """RuntimeDirectory= exists only while the service runs: missing is fine."""
    unit = install_unit(tmp_path)
    base = tmp_path / "run"
    path = str(base / "edgevoice")
    check = check_dir("runtime dir", path, "Runtime", str(base), unit, NOBODY, env(tmp_path))
    assert check.verdict is Verdict.OK and "systemd makes it" in check.detail


# --------------------------------------------------------------------------------------------
# unit and user


def shown(**properties: str) -> ServiceState:
    base = {"LoadState": "loaded", "UnitFileState": "enabled", "SubState": "running"}
    return ServiceState({**base, **properties})


def running_env(tmp_path: Path) -> Environment:
    mark = tmp_path / "systemd-running"
    mark.mkdir(exist_ok=True)
    return env(tmp_path, systemd_mark=str(mark))


def test_unit_states(tmp_path: Path) -> None:
    unit = install_unit(tmp_path)
    e = running_env(tmp_path)
    active = check_unit(unit, shown(ActiveState="active", StatusText="Listening"), True, e)
    assert active.verdict is Verdict.OK and "Listening" in active.detail
    failed = check_unit(
        unit, shown(ActiveState="failed", SubState="failed", Result="exit-code",
                    ExecMainStatus="78"), True, e)  # fmt: skip
    assert failed.verdict is Verdict.FAIL and "check-config" in failed.fix
    looping = check_unit(unit, shown(ActiveState="activating", SubState="auto-restart",
                                     NRestarts="12"), True, e)  # fmt: skip
    assert looping.verdict is Verdict.FAIL and "12 restarts" in looping.detail
    stopped = check_unit(unit, shown(ActiveState="inactive", SubState="dead"), True, e)
    assert stopped.verdict is Verdict.WARN and "enable --now" in stopped.fix
    not_loaded = check_unit(unit, ServiceState({"LoadState": "not-found"}), True, e)
    assert not_loaded.verdict is Verdict.FAIL and "daemon-reload" in not_loaded.fix


def test_unit_missing(tmp_path: Path) -> None:
    check = check_unit(None, ServiceState({"LoadState": "not-found"}), True, running_env(tmp_path))
    assert check.verdict is Verdict.FAIL and "install.sh" in check.fix
    here = check_unit(None, None, False, env(tmp_path))
    assert here.verdict is Verdict.WARN and "systemd is not running" in here.detail


@pytest.mark.skipif(os.path.isdir("/run/systemd/system"), reason="systemd runs here")
def test_systemctl_and_journalctl_here_answer_nothing() -> None:
    """The real programs on this machine, where systemd is not PID 1: no state, no log line,
    no exception."""
    assert service_state() is None
    assert last_log_line() is None


def test_user(tmp_path: Path) -> None:
    unit = install_unit(tmp_path)
    assert check_user(unit, None).verdict is Verdict.FAIL
    assert check_user(unit, NOBODY).verdict is Verdict.OK
    assert check_user(None, None).verdict is Verdict.SKIP


def test_unit_file_with_dropins(tmp_path: Path) -> None:
    unit = install_unit(
        tmp_path,
        dropin="[Service]\nLoadCredential=\nLoadCredential=gemini-api-key:/srv/key\nUser=voice\n",
    )
    assert unit.credential_path("gemini-api-key") == "/srv/key"
    assert unit.get("Service", "User") == "voice"
    assert unit.managed_dir("State", "/var/lib") == "/var/lib/edgevoice"


# --------------------------------------------------------------------------------------------
# the whole command


def test_report_lines_and_status() -> None:
    checks = [
        Check("config", Verdict.OK, "fine"),
        Check("key", Verdict.FAIL, "bad\nline", "do this"),
        Check("unit", Verdict.WARN, "meh", "do that"),
    ]
    lines: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            lines.append(text)

        def flush(self) -> None:
            pass

    status = report(checks, Out())  # type: ignore[arg-type]
    text = "".join(lines).splitlines()
    assert status == 1
    assert text[1] == "FAIL  key         bad\\x0aline. Fix: do this"
    assert text[-1] == "doctor: 1 of 3 checks failed (1 warning)"
    assert report([Check("config", Verdict.OK, "fine")], Out()) == 0  # type: ignore[arg-type]


async def test_doctor_command_against_the_simulator(sim_factory: Any, tmp_path: Path) -> None:
    """`edgevoice doctor` as a person runs it: one line per check, the key never printed."""
    state = tmp_path / "state"
    runtime = tmp_path / "run"
    state.mkdir()
    runtime.mkdir()
    async with sim_factory(SimOptions(pace=0)) as sim:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edgevoice", "doctor", "--config", "/dev/null",
            "--set", f"live.endpoint={sim.url}", "--set", "trigger.mode=voice",
            "--set", f"paths.state_dir={state}", "--set", f"paths.runtime_dir={runtime}",
            "--set", 'audio.input_device="no-such-mic"',
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "GEMINI_API_KEY": KEY, "ALSA_CONFIG_PATH": "/dev/null"},
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 120)
    text = out.decode()
    lines = text.splitlines()
    assert process.returncode == 1, text + err.decode()
    names = [line[6:17].strip() for line in lines[:-1]]
    assert names[:5] == ["config", "key", "microphone", "speaker", "gpio"]
    assert {"dns", "reach", "clock", "state dir", "runtime dir", "unit", "user"} <= set(names)
    by_name = dict(zip(names, lines, strict=False))
    assert by_name["key"].startswith("ok") and KEY not in text + err.decode()
    assert by_name["microphone"].startswith("FAIL") and "Fix:" in by_name["microphone"]
    assert by_name["reach"].startswith("ok") and by_name["clock"].startswith("ok")
    assert by_name["state dir"].startswith("ok")
    assert lines[-1].startswith("doctor: ")
