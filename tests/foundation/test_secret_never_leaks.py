"""The API key never reaches a log record, a repr, an exception text or printed output."""

from __future__ import annotations

import logging
import os
import pickle
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from edgevoice.adapters.credential_lookup import CredentialSource
from edgevoice.app.log_setup import setup_logging
from edgevoice.config import AuthConfig
from edgevoice.credentials import CredentialKind
from edgevoice.errors import CredentialError
from edgevoice.redact import Secret

KEY = "AQ.test-key-7f3a9c1e5b2d4a6f8e0c"  # distinctive, not shaped like a real Google key
REPO = Path(__file__).resolve().parents[2]
HANG_GUARD = 20.0  # s; nothing asserts on time


def test_secret_repr_str_format_and_pickle() -> None:
    secret = Secret(KEY)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % (secret,)):  # noqa: UP031
        assert KEY not in text
    assert secret.reveal() == KEY
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_credential_repr_hides_key() -> None:
    credential = CredentialSource(AuthConfig(), environ={"GEMINI_API_KEY": KEY}).resolve()
    assert credential.kind is CredentialKind.API_KEY
    assert credential.secret.reveal() == KEY
    assert KEY not in repr(credential)
    assert KEY not in str(credential)


def test_cli_and_logs_never_show_the_key(
    cli: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    config = tmp_path / "edgevoice.toml"
    config.write_text(f'[auth]\napi_key_file = "{key_file}"\n')
    outputs: list[str] = []
    caplog.set_level(logging.DEBUG)
    for argv in (
        ["check-config", "--config", str(config), "-v"],
        ["check-config", "--config", str(config), "--require-key"],
        ["version", "--all"],
    ):
        result = cli(*argv)
        outputs += [result.out, result.err]
    # The daemon runs until SIGTERM: as a process, started and stopped.
    outputs.append(run_daemon(["--config", str(config), "--log-level", "debug"], tmp_path))
    env = {"GEMINI_API_KEY": KEY}
    outputs.append(
        run_daemon(["--config", str(REPO / "deploy/edgevoice.toml"), "-v"], tmp_path, env)
    )
    key_file.chmod(0o644)  # now refused: the refusal must not quote the key either
    result = cli("check-config", "--config", str(config))
    assert result.status == 78
    outputs += [result.out, result.err]
    outputs += [record.getMessage() for record in caplog.records]
    outputs += [repr(record.__dict__) for record in caplog.records]
    joined = "\n".join(outputs)
    assert "credential" in joined  # the runs above did log and print something
    assert KEY not in joined


def run_daemon(argv: list[str], directory: Path, env: dict[str, str] | None = None) -> str:
    """`edgevoice run ARGV` until it says it is running, then SIGTERM (it must exit 0); its
    output. State and socket go to `directory`."""
    paths = ["--set", f'paths.state_dir="{directory}/state"']
    paths += ["--set", f'paths.runtime_dir="{directory}/run"']
    process = subprocess.Popen(
        [sys.executable, "-m", "edgevoice", "run", *argv, *paths],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + HANG_GUARD
    for line in process.stdout:
        lines.append(line)
        if "edgevoice is running" in line:
            process.terminate()
        if time.monotonic() > deadline:  # a hang guard
            process.kill()
    assert process.wait(HANG_GUARD) == 0, "".join(lines)
    return "".join(lines)


def test_log_lines_are_scrubbed_even_when_code_passes_the_raw_key(tmp_path: Path) -> None:
    Secret(KEY)  # registering is what a credential lookup does
    out = tmp_path / "log.txt"
    with out.open("w") as stream:
        setup_logging("debug", "stderr", stream=stream)
        log = logging.getLogger("edgevoice.test")
        log.warning("server echoed %s back", KEY)
        log.info("url was wss://h/ws?key=" + KEY)
        try:
            raise ValueError(f"bad header x-goog-api-key: {KEY}")
        except ValueError:
            log.exception("handshake failed")
    text = out.read_text()
    assert "server echoed <redacted> back" in text
    assert "handshake failed" in text and "ValueError" in text
    assert KEY not in text


def test_token_command_output_is_never_quoted(tmp_path: Path) -> None:
    # stdout (which may hold a token) is never shown; the first stderr line is, with every
    # registered secret and anything token- or key-shaped scrubbed from it.
    Secret(KEY)
    script = tmp_path / "token.sh"
    script.write_text(
        f"#!/bin/sh\necho 'leaked {KEY} auth_tokens/zz9' >&2\necho 'not-a-token {KEY}'\nexit 0\n"
    )
    script.chmod(0o755)
    source = CredentialSource(AuthConfig(token_command=str(script)), environ={})
    with pytest.raises(CredentialError) as caught:
        source.resolve()
    assert "auth.token_command" in str(caught.value)
    assert KEY not in str(caught.value) and "auth_tokens/zz9" not in str(caught.value)
    assert KEY not in repr(caught.value)


def test_token_command_failure_and_success(tmp_path: Path) -> None:
    Secret(KEY)
    failing = tmp_path / "fail.sh"
    failing.write_text(f"#!/bin/sh\necho {KEY} >&2\nexit 3\n")
    failing.chmod(0o755)
    with pytest.raises(CredentialError, match="exited with status 3") as caught:
        CredentialSource(AuthConfig(token_command=str(failing)), environ={}).resolve()
    assert KEY not in str(caught.value)
    good = tmp_path / "good.sh"
    good.write_text("#!/bin/sh\necho auth_tokens/abc123def456\n")
    good.chmod(0o755)
    credential = CredentialSource(
        AuthConfig(token_command=f"{good} --fleet x"), environ={}
    ).resolve()
    assert credential.kind is CredentialKind.TOKEN
    assert credential.secret.reveal() == "auth_tokens/abc123def456"
    assert "abc123def456" not in repr(credential)


def test_systemd_credential_wins_over_file_and_environment(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "gemini-api-key").write_text("from-systemd-credential\n")
    key_file = tmp_path / "api-key"
    key_file.write_text("from-key-file\n")
    key_file.chmod(0o600)
    environ = {"CREDENTIALS_DIRECTORY": str(creds), "GEMINI_API_KEY": "from-environment"}
    auth = AuthConfig(api_key_file=str(key_file))
    assert CredentialSource(auth, environ).resolve().secret.reveal() == "from-systemd-credential"
    del environ["CREDENTIALS_DIRECTORY"]
    assert CredentialSource(auth, environ).resolve().secret.reveal() == "from-key-file"
    assert CredentialSource(AuthConfig(), environ).resolve().secret.reveal() == "from-environment"


# --------------------------------------------------------------------------------------------
# The process listing: every process that could carry the key


def _descendants(root: int) -> set[int]:
    """`root` and every process below it, from /proc/*/stat."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    return found


def listing_leaks(secret: str, root: int) -> list[str]:
    """Command lines (as `ps` shows them) under `root` that contain `secret`."""
    leaks = []
    for pid in sorted(_descendants(root)):
        try:
            cmdline = (
                Path(f"/proc/{pid}/cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(errors="replace")
            )
        except (FileNotFoundError, ProcessLookupError):
            continue
        if secret in cmdline:
            leaks.append(f"{pid}: {cmdline}")
    return leaks


def test_the_listing_check_finds_a_leaky_child() -> None:
    # The checker must be able to fail: a child that takes the key as an argument is found.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", KEY])
    try:
        deadline = time.monotonic() + HANG_GUARD
        while not listing_leaks(KEY, os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the child has exec'd
        leaks = listing_leaks(KEY, os.getpid())
    finally:
        child.kill()
        child.wait()
    assert [line.split(":", 1)[0] for line in leaks] == [str(child.pid)]


def test_the_token_command_carries_no_key(tmp_path: Path) -> None:
    """The token command's own command line and environment, as it sees them."""
    Secret(KEY)
    seen_cmdline, seen_environ = tmp_path / "cmdline", tmp_path / "environ"
    script = tmp_path / "token.sh"
    script.write_text(
        f"#!/bin/sh\ncat /proc/$$/cmdline > {seen_cmdline}\ncat /proc/$$/environ > {seen_environ}"
        "\necho auth_tokens/abc123\n"
    )
    script.chmod(0o755)
    environ = {"PATH": os.environ["PATH"], "GEMINI_API_KEY": KEY}
    CredentialSource(AuthConfig(token_command=f"{script} --fleet x"), environ).resolve()
    assert KEY.encode() not in seen_cmdline.read_bytes()
    assert b"--fleet" in seen_cmdline.read_bytes()  # it really recorded itself
    assert KEY.encode() not in seen_environ.read_bytes()
    # Control: the same script started with the key in its environment records it, so the
    # check above would catch a lookup that passed it on.
    subprocess.run([str(script)], env=environ, check=True, capture_output=True)
    assert KEY.encode() in seen_environ.read_bytes()


def test_a_probe_process_carries_no_key_on_its_command_line(tmp_path: Path) -> None:
    """`edgevoice probe`, mid-handshake with a server that never answers: the key is in its
    environment (where the operator put it) but not on any command line under it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        environ = {k: v for k, v in os.environ.items() if k != "EDGEVOICE_CONFIG"}
        empty = tmp_path / "empty.toml"
        empty.write_text("")
        environ.update(PYTHONPATH=str(REPO), GEMINI_API_KEY=KEY, EDGEVOICE_CONFIG=str(empty))
        probe = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edgevoice",
                "probe",
                "--set",
                f"live.endpoint=ws://127.0.0.1:{port}",
            ],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            server.settimeout(HANG_GUARD)
            connection, _ = server.accept()  # the probe is connecting: it holds the key now
            with connection:
                leaks = listing_leaks(KEY, probe.pid)
                own = Path(f"/proc/{probe.pid}/cmdline").read_bytes()
        finally:
            probe.kill()
            probe.wait()
    assert b"probe" in own
    assert leaks == []
