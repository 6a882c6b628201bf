"""Credential lookup against real files, FIFOs, devices and token-command processes: what a
failure means (ConfigError = exit 78 at start-up, CredentialError = retry), what the token
command may do and see, and that no key value ever shows in an error (issue #7 sections 2, 4).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgevoice.adapters.credential_lookup import (
    TOKEN_OUTPUT_LIMIT,
    CredentialSource,
)
from edgevoice.config import AuthConfig
from edgevoice.credentials import CredentialKind, value_problem
from edgevoice.errors import (
    Action,
    ConfigError,
    CredentialError,
    ErrorClass,
    disposition,
)
from edgevoice.redact import MAX_SECRETS, REDACTED, Secret, SecretRegistry

KEY = "AQ.lookup-key-5e1c7b9a3d2f4e60"  # distinctive, so a leak is easy to find
HANG_GUARD = 20.0  # s: only stops a broken test from hanging; nothing asserts on time

Script = Callable[..., Path]


@pytest.fixture
def script(tmp_path: Path) -> Script:
    """`script(body, name="token.sh")`: an executable /bin/sh script."""

    def make(body: str, name: str = "token.sh") -> Path:
        path = tmp_path / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
        return path

    return make


def tokens(command: Path | str, timeout: float = HANG_GUARD, **environ: str) -> CredentialSource:
    auth = AuthConfig(token_command=str(command), token_command_timeout=timeout)
    return CredentialSource(auth, environ={"PATH": os.environ["PATH"], **environ})


def failure(source: CredentialSource) -> CredentialError:
    with pytest.raises(CredentialError) as caught:
        source.resolve()
    return caught.value


def in_thread(call: Callable[[], object]) -> BaseException | object:
    """Run `call` in a thread with a hang guard; its result or the exception it raised."""
    box: list[object] = []

    def run() -> None:
        try:
            box.append(call())
        except BaseException as exc:  # handed back to the test
            box.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD)
    assert not thread.is_alive(), "the lookup blocked"
    return box[0]


# --------------------------------------------------------------------------------------------
# The token command


def test_a_failing_token_command_is_a_transient_credential_error(script: Script) -> None:
    Secret(KEY)  # registered, as a key loaded elsewhere in the process would be
    command = script(
        f"echo 'token server unreachable (key {KEY})' >&2\necho 'second line' >&2\nexit 3\n"
    )
    error = failure(tokens(command))
    assert not isinstance(error, ConfigError)  # exit 78 would stop the unit for good
    assert str(error) == (
        f"auth.token_command: exited with status 3: token server unreachable (key {REDACTED})"
    )
    assert error.error_class is ErrorClass.TRANSIENT
    result = disposition(error, at_startup=True)
    assert result.action is Action.RETRY and result.exit_status is None


def test_stderr_line_is_scrubbed_of_credential_shapes_escaped_and_cut(script: Script) -> None:
    # A Google API key's shape ("AIza" + 35 characters), built here so that no string in the
    # tree looks like a real key.
    google_shaped = "AIza" + "-fake" * 7
    command = script(
        f"printf 'got auth_tokens/abc.DEF-123_x and {google_shaped} "
        "\\033[31mred\\342\\200\\250FAKE %0300d\\n' 7 >&2\nexit 1\n"
    )
    text = str(failure(tokens(command)))
    assert "auth_tokens/abc" not in text and "AIza" not in text and "-fake" not in text
    assert text.count(REDACTED) == 2
    assert "\x1b" not in text and "\\x1b[31m" in text
    assert "\u2028" not in text and "\\u2028" in text
    assert text.endswith("...") and len(text) < 250


def test_timeout_kills_the_whole_process_group(script: Script, tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    # The grandchild keeps stdout open, so waiting for EOF alone would never end.
    command = script(f"sleep 300 &\necho $! > {pid_file}\necho starting >&2\nsleep 300\n")
    error = in_thread(lambda: tokens(command, timeout=1.0).resolve())
    assert isinstance(error, CredentialError)
    assert "did not finish within 1 s and was killed with its process group: starting" in str(error)
    grandchild = int(pid_file.read_text())
    assert _gone(grandchild), "the token command's child survived the timeout"


def _gone(pid: int) -> bool:
    """The process no longer runs (a zombie waiting for its reaper counts as gone)."""
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def _written(path: Path) -> bool:
    """`path` exists with content (polled; the hang guard ends the wait)."""
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return True
        time.sleep(0.01)
    return False


def test_endless_output_is_cut_off_and_the_command_killed(script: Script) -> None:
    error = in_thread(lambda: tokens(script("while :; do echo auth_tokens/x; done\n")).resolve())
    assert isinstance(error, CredentialError)
    assert f"printed more than {TOKEN_OUTPUT_LIMIT} bytes" in str(error)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("printf '\\377\\376auth_tokens/x\\n'\n", "printed output that is not UTF-8 text"),
        ("echo hello\n", "did not print a single token starting with 'auth_tokens/'"),
        ("echo auth_tokens/a; echo auth_tokens/b\n", "on 2 lines"),
        ("printf 'auth_tokens/a\\342\\202\\254b\\n'\n", "did not print a single token"),
        ("echo 'auth_tokens/a b'\n", "did not print a single token"),
        ("kill -TERM $$\n", "was killed by signal SIGTERM"),
    ],
)
def test_output_that_is_not_a_token(script: Script, body: str, expected: str) -> None:
    error = failure(tokens(script(body)))
    assert expected in str(error)
    assert "\n" not in str(error)


def test_command_not_found_or_not_executable_is_a_config_error(
    script: Script, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="not found; give an absolute path"):
        tokens(tmp_path / "missing").resolve()
    not_executable = script("echo auth_tokens/x\n")
    not_executable.chmod(0o644)
    with pytest.raises(ConfigError, match="is not executable; chmod"):
        tokens(not_executable).resolve()
    with pytest.raises(ConfigError, match="cannot be parsed"):
        tokens("'unterminated").resolve()


def test_the_command_gets_no_api_key_variable(script: Script, tmp_path: Path) -> None:
    seen = tmp_path / "environ"
    command = script(f"env > {seen}\necho auth_tokens/from-the-fleet\n")
    credential = tokens(
        command, GEMINI_API_KEY=KEY, GOOGLE_API_KEY=KEY, FLEET_URL="https://f"
    ).resolve()
    assert credential.kind is CredentialKind.TOKEN
    assert credential.secret.reveal() == "auth_tokens/from-the-fleet"
    environ = seen.read_text()
    assert "FLEET_URL=https://f" in environ  # the rest of the environment is passed on
    assert KEY not in environ
    assert "GEMINI_API_KEY" not in environ and "GOOGLE_API_KEY" not in environ


async def test_resolve_async_keeps_the_event_loop_running(script: Script, tmp_path: Path) -> None:
    # The command waits for a file that only a task on the event loop creates: if the lookup
    # blocked the loop, the command would time out instead of printing its token.
    flag = tmp_path / "flag"
    command = script(
        f"while [ ! -e {flag} ]; do sleep 0.01; done\necho auth_tokens/after-the-loop-ran\n"
    )
    lookup = asyncio.create_task(tokens(command).resolve_async())
    await asyncio.sleep(0)
    flag.write_text("go")
    async with asyncio.timeout(HANG_GUARD):
        credential = await lookup
    assert credential.secret.reveal() == "auth_tokens/after-the-loop-ran"


async def test_cancelling_resolve_async_kills_the_command(script: Script, tmp_path: Path) -> None:
    # A daemon that stops or reloads must not wait out the token command's timeout.
    pid_file = tmp_path / "grandchild.pid"
    command = script(f"sleep 300 &\necho $! > {pid_file}\nsleep 300\n")
    lookup = asyncio.create_task(tokens(command, timeout=300).resolve_async())
    assert await asyncio.to_thread(_written, pid_file)  # the command is running
    lookup.cancel()
    with pytest.raises(asyncio.CancelledError):
        await lookup
    grandchild = int(pid_file.read_text())
    assert await asyncio.to_thread(_gone, grandchild)


# --------------------------------------------------------------------------------------------
# Key files, the systemd credential, the environment


def key_file(tmp_path: Path, content: bytes, name: str = "api-key") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("where", ["api_key_file", "systemd credential"])
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, where: str) -> None:
    credentials = tmp_path / "creds"
    credentials.mkdir()
    fifo = credentials / "gemini-api-key"
    os.mkfifo(fifo, 0o600)
    if where == "api_key_file":
        source = CredentialSource(AuthConfig(api_key_file=str(fifo)), environ={})
    else:
        source = CredentialSource(AuthConfig(), environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    error = in_thread(source.resolve)
    assert isinstance(error, ConfigError)
    assert "is a FIFO (named pipe), not a regular file" in str(error)
    assert where in str(error)


def test_a_device_or_directory_is_refused(tmp_path: Path) -> None:
    for path, kind in (("/dev/zero", "a character device"), (str(tmp_path), "a directory")):
        with pytest.raises(ConfigError, match=f"is {kind}, not a regular file"):
            CredentialSource(AuthConfig(api_key_file=path), environ={}).resolve()


def test_a_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    target = key_file(tmp_path, KEY.encode())
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="is a symbolic link"):
        CredentialSource(AuthConfig(api_key_file=str(link)), environ={}).resolve()


BAD_KEYS = [
    (KEY[:10] + "\r\nX-Injected: 1" + KEY[10:], "a line break (CR or LF)"),
    (KEY[:10] + "\n" + KEY[10:], "a line break (CR or LF)"),
    (KEY[:10] + "\u20ac" + KEY[10:], "a character outside Latin-1"),
    (KEY[:10] + "\u00e9" + KEY[10:], "a non-ASCII character"),
    (KEY[:10] + " " + KEY[10:], "a space or tab"),
    (KEY[:10] + "\x1b" + KEY[10:], "a control character"),
]


@pytest.mark.parametrize(("value", "what"), BAD_KEYS)
def test_a_key_that_cannot_be_a_header_is_refused_without_showing_it(
    tmp_path: Path, value: str, what: str
) -> None:
    sources = [
        CredentialSource(AuthConfig(), environ={"GEMINI_API_KEY": value}),
        CredentialSource(
            AuthConfig(api_key_file=str(key_file(tmp_path, value.encode()))), environ={}
        ),
    ]
    for source in sources:
        with pytest.raises(ConfigError) as caught:
            source.resolve()
        text = str(caught.value)
        assert f"contains {what} at position 11" in text
        for fragment in (KEY[:10], KEY[10:], "X-Injected"):
            assert fragment not in text
    assert value_problem(KEY) is None


def test_an_oversized_key_file_is_refused(tmp_path: Path) -> None:
    path = key_file(tmp_path, b"A" * 5000)
    with pytest.raises(ConfigError, match="larger than 4096 bytes"):
        CredentialSource(AuthConfig(api_key_file=str(path)), environ={}).resolve()


def test_a_good_key_file_still_works(tmp_path: Path) -> None:
    path = key_file(tmp_path, (KEY + "\n").encode())
    credential = CredentialSource(AuthConfig(api_key_file=str(path)), environ={}).resolve()
    assert credential.secret.reveal() == KEY and credential.problem() is None


# --------------------------------------------------------------------------------------------
# The redaction registry


def test_the_registry_is_bounded_and_keeps_the_newest() -> None:
    registry = SecretRegistry(limit=8)
    registry.register("the-api-key-value")
    for n in range(10_000):  # a year of 30-minute tokens is 17,520
        registry.register(f"auth_tokens/token-{n:05d}")
        if n % 5 == 0:
            registry.register("the-api-key-value")  # re-registered on each use: kept
    assert len(registry) == 8
    line = "a auth_tokens/token-09999 b auth_tokens/token-00001 c the-api-key-value"
    assert registry.scrub(line) == f"a {REDACTED} b auth_tokens/token-00001 c {REDACTED}"
    assert MAX_SECRETS <= 256  # the process-wide registry has a small bound too


# --------------------------------------------------------------------------------------------
# What a command makes of a failing token command


def test_a_failing_token_command_is_one_line_and_not_78(
    cli: Callable[..., Any], script: Script, tmp_path: Path
) -> None:
    command = script("echo 'token server down' >&2\nexit 2\n")
    config = tmp_path / "edgevoice.toml"
    config.write_text(f'[auth]\ntoken_command = "{command}"\n')
    for argv in (["check-config", "--require-key"], ["probe"], ["run"]):
        result = cli(*argv, "--config", str(config))
        assert result.status == 75, (argv, result.err)  # EX_TEMPFAIL: systemd restarts it
        # Apart from the info line naming the config file read, one line says what failed.
        lines = [line for line in result.err.strip().splitlines() if " INFO " not in line]
        assert lines == [
            "edgevoice: credential unavailable: auth.token_command: exited with status 2: "
            "token server down; try again later"
        ]
