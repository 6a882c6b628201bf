"""Find the credential for the Live API: a systemd credential, a key file, the environment, or
an ephemeral-token command. The key is never in the TOML file.

Lookup order (the first that exists wins):

1. `auth.token_command` when set: run it (no shell) for a fresh `auth_tokens/...` token, every
   time a connection is opened, so fleets can keep the real key on a server.
2. `$CREDENTIALS_DIRECTORY/gemini-api-key`: systemd's `LoadCredential=gemini-api-key:...`.
3. `auth.api_key_file`: refused when group- or world-readable beyond the service's own group.
4. `$GEMINI_API_KEY`: for development.

What goes wrong, and what it means (the policy in `edgevoice.errors`):

- A missing, unreadable, unsafe or malformed key source is a `ConfigError` naming the key and
  the fix (exit 78 at start-up). A key file or credential that is not a regular file (a FIFO,
  a device, a directory) is refused without being opened: opening a FIFO with no writer blocks
  for ever. A key that holds a line break, a space or a character that is not visible ASCII is
  refused up front, without showing it (websockets would print it in full).
- A token command that cannot be started (not found, not executable) is a `ConfigError`. One
  that fails (non-zero exit, killed, timeout, output not UTF-8, too large, not a token) is a
  `CredentialError`: TRANSIENT, retried with backoff, never exit 78.

The token command runs with stdin closed, in its own session (so a timeout kills its whole
process group, grandchildren included), with at most `TOKEN_OUTPUT_LIMIT` bytes of stdout read,
and without the API-key variables in its environment (`CREDENTIAL_ENV`): it mints tokens, it
does not need the key, and a child that logs its environment must not leak it. The first line
of its stderr appears in the error, scrubbed of anything credential-shaped, escaped and cut.
From async code use `resolve_async()`, which runs the lookup in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import re
import selectors
import shlex
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from edgevoice.config import AuthConfig
from edgevoice.credentials import TOKEN_PREFIX, Credential, CredentialKind, value_problem
from edgevoice.errors import ConfigError, CredentialError
from edgevoice.redact import Secret, printable, scrub_credentials

CREDENTIAL_NAME = "gemini-api-key"
ENV_KEY = "GEMINI_API_KEY"
NO_CREDENTIAL = "none found"
# Variables that hold a Gemini API key for edgevoice or Google's SDKs: never handed to the
# token command.
CREDENTIAL_ENV = frozenset({ENV_KEY, "GOOGLE_API_KEY"})
TOKEN_OUTPUT_LIMIT = 8192  # bytes of stdout; a token is about a hundred
STDERR_KEPT = 4096  # bytes of stderr kept for the error message
STDERR_SHOWN = 160  # characters of its first line shown
KEY_FILE_LIMIT = 4096  # bytes; a key is about forty
COMMAND_KEY = "auth.token_command"


class CredentialSource:
    """Resolves a credential on demand (tokens are short-lived: ask again for each connection)."""

    def __init__(self, auth: AuthConfig, environ: Mapping[str, str] | None = None) -> None:
        self._auth = auth
        self._environ = os.environ if environ is None else environ

    @property
    def uses_tokens(self) -> bool:
        return bool(self._auth.token_command)

    def describe(self) -> str:
        """Where the credential will come from, without reading it (for check-config)."""
        return self._pick()[1]

    def resolve(self, cancel: threading.Event | None = None) -> Credential:
        """Read the credential now (blocking: the token command may take its whole timeout).

        Raises ConfigError (exit 78 at start-up) naming the source and the fix, or
        CredentialError (TRANSIENT: try again later) when the token command failed. Setting
        `cancel` (from another thread) kills a running token command's process group at once.
        """
        where, source = self._pick()
        if where == "token":
            return self._run_token_command(cancel)
        if where == "credential":
            path = self._credential_path() or ""
            secret = _read_key(path, "systemd credential", check_mode=False)
            return Credential(CredentialKind.API_KEY, secret, source)
        if where == "file":
            secret = _read_key(self._auth.api_key_file, "auth.api_key_file", check_mode=True)
            return Credential(CredentialKind.API_KEY, secret, source)
        if where == "environment":
            value = self._environ[ENV_KEY].strip()
            problem = value_problem(value)
            if problem:
                raise ConfigError.single(
                    ENV_KEY, f"{problem}; set it to the key alone", "environment"
                )
            return Credential(CredentialKind.API_KEY, Secret(value), source)
        raise ConfigError.single(
            "auth",
            f"no API key found; put it in a file (chmod 0600) named by auth.api_key_file, load it "
            f"as the systemd credential {CREDENTIAL_NAME}, or set {ENV_KEY}",
        )

    async def resolve_async(self) -> Credential:
        """`resolve()` in a worker thread, so the event loop keeps running while a token command
        works. Cancelling the caller kills the command's process group, so a daemon that stops
        or reloads does not wait for it."""
        cancel = threading.Event()
        try:
            return await asyncio.to_thread(self.resolve, cancel)
        except asyncio.CancelledError:
            cancel.set()
            raise

    def _pick(self) -> tuple[str, str]:
        """The source that applies, in lookup order, and how to name it in logs."""
        if self.uses_tokens:
            return "token", f"ephemeral tokens from auth.token_command ({self._command_name()})"
        if self._credential_path() is not None:
            return "credential", f"systemd credential {CREDENTIAL_NAME}"
        if self._auth.api_key_file:
            return "file", f"key file {printable(self._auth.api_key_file)}"
        if self._environ.get(ENV_KEY, "").strip():
            return "environment", f"environment variable {ENV_KEY}"
        return "none", NO_CREDENTIAL

    def _credential_path(self) -> str | None:
        directory = self._environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            return None
        path = os.path.join(directory, CREDENTIAL_NAME)
        return path if os.path.lexists(path) else None

    def _command_name(self) -> str:
        try:
            argv = shlex.split(self._auth.token_command)
        except ValueError:
            return "unparsable"
        return printable(os.path.basename(argv[0]), 64) if argv else "empty"

    def _child_environment(self) -> dict[str, str]:
        return {k: v for k, v in self._environ.items() if k not in CREDENTIAL_ENV}

    def _run_token_command(self, cancel: threading.Event | None) -> Credential:
        try:
            argv = shlex.split(self._auth.token_command)
        except ValueError as exc:
            raise ConfigError.single(
                COMMAND_KEY, f"cannot be parsed ({exc}); quote it like a shell would"
            ) from None
        if not argv:
            raise ConfigError.single(COMMAND_KEY, "is empty; give the command to run")
        name = printable(argv[0], 120)
        timeout = self._auth.token_command_timeout
        try:
            outcome = run_bounded(
                argv, self._child_environment(), timeout, TOKEN_OUTPUT_LIMIT, cancel
            )
        except FileNotFoundError:
            raise ConfigError.single(
                COMMAND_KEY, f"{name!r} not found; give an absolute path"
            ) from None
        except PermissionError:
            raise ConfigError.single(
                COMMAND_KEY, f"{name!r} is not executable; chmod +x it"
            ) from None
        except OSError as exc:
            raise ConfigError.single(
                COMMAND_KEY, f"{name!r} cannot be started: {exc.strerror or exc}"
            ) from None
        return Credential(
            CredentialKind.TOKEN, _token_from(outcome, timeout), f"command {self._command_name()}"
        )


# --------------------------------------------------------------------------------------------
# Running the token command


@dataclass(frozen=True)
class Outcome:
    """What a bounded run produced. `returncode` is negative for a signal (ours or not)."""

    returncode: int
    stdout: bytes
    stderr: bytes  # the first STDERR_KEPT bytes
    timed_out: bool = False
    overflowed: bool = False
    cancelled: bool = False


CANCEL_POLL_S = 0.1  # how often a running command checks for cancellation


def run_bounded(
    argv: list[str],
    env: Mapping[str, str],
    timeout: float,
    stdout_limit: int,
    cancel: threading.Event | None = None,
) -> Outcome:
    """Run `argv` (no shell) with stdin closed, in a new session, reading at most
    `stdout_limit` bytes of stdout and `STDERR_KEPT` of stderr. On timeout, too much output or
    `cancel` being set, the whole process group is killed (SIGKILL). Raises OSError when it
    cannot be started."""
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        start_new_session=True,  # its own process group: killpg reaches its children too
        close_fds=True,
    )
    assert process.stdout is not None and process.stderr is not None
    deadline = time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    timed_out = overflowed = cancelled = False
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ, out)
            selector.register(process.stderr, selectors.EVENT_READ, err)
            while selector.get_map() and not overflowed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                for key, _ in selector.select(min(remaining, CANCEL_POLL_S)):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                    elif key.data is out:
                        out += chunk
                        overflowed = len(out) > stdout_limit
                    else:
                        err += chunk[: max(0, STDERR_KEPT - len(err))]
        while not (timed_out or overflowed or cancelled):
            try:
                remaining = max(0.0, deadline - time.monotonic())
                process.wait(min(remaining, CANCEL_POLL_S))
                break
            except subprocess.TimeoutExpired:
                timed_out = time.monotonic() >= deadline
                cancelled = cancel is not None and cancel.is_set()
        if timed_out or overflowed or cancelled:
            _kill_group(process.pid)
        returncode = process.wait()
    finally:
        if process.poll() is None:  # an exception above: never leave it running
            _kill_group(process.pid)
            process.wait()
        process.stdout.close()
        process.stderr.close()
    return Outcome(returncode, bytes(out), bytes(err), timed_out, overflowed, cancelled)


def _kill_group(pid: int) -> None:
    # The child is not reaped yet, so its pid still names its process group (no reuse race).
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _first_line(stderr: bytes) -> str:
    """The first non-empty stderr line, with anything credential-shaped removed, escaped, cut."""
    text = stderr.decode("utf-8", errors="replace")
    # Lines end at CR or LF only: str.splitlines() would also split at U+2028 and friends,
    # which printable() shows as escapes instead.
    line = next((x.strip() for x in re.split("[\r\n]", text) if x.strip()), "")
    return printable(scrub_credentials(line), STDERR_SHOWN)


def _token_from(outcome: Outcome, timeout: float) -> Secret:
    """The token the command printed, or CredentialError saying why there is none. Neither
    stdout nor the token is ever quoted: only the scrubbed first line of stderr."""
    said = _first_line(outcome.stderr)
    tail = f": {said}" if said else ""
    if outcome.cancelled:
        raise CredentialError(COMMAND_KEY, "was cancelled and killed with its process group")
    if outcome.timed_out:
        raise CredentialError(
            COMMAND_KEY,
            f"did not finish within {timeout:g} s and was killed with its process group{tail}",
        )
    if outcome.overflowed:
        raise CredentialError(
            COMMAND_KEY,
            f"printed more than {TOKEN_OUTPUT_LIMIT} bytes and was killed with its process "
            "group; it must print one token line",
        )
    if outcome.returncode < 0:
        try:
            name = signal.Signals(-outcome.returncode).name
        except ValueError:
            name = str(-outcome.returncode)
        raise CredentialError(COMMAND_KEY, f"was killed by signal {name}{tail}")
    if outcome.returncode != 0:
        raise CredentialError(COMMAND_KEY, f"exited with status {outcome.returncode}{tail}")
    try:
        text = outcome.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialError(COMMAND_KEY, "printed output that is not UTF-8 text") from None
    token = text.strip()
    if not token.startswith(TOKEN_PREFIX) or value_problem(token) is not None:
        lines = len(text.splitlines())
        raise CredentialError(
            COMMAND_KEY,
            f"did not print a single token starting with {TOKEN_PREFIX!r} (it printed "
            f"{len(text)} characters on {lines} line{'s' if lines != 1 else ''})",
        )
    return Secret(token)


# --------------------------------------------------------------------------------------------
# Key files and the systemd credential


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    )
    return next((text for test, text in kinds if test(mode)), "not a regular file")


def _read_key(path: str, key: str, *, check_mode: bool) -> Secret:
    shown = printable(path, 200)
    try:
        # lstat first: a FIFO with no writer would block open() for ever, a device may do
        # anything on open; neither is opened. A symlink is refused too (as O_NOFOLLOW does).
        info = os.lstat(path)
    except FileNotFoundError:
        raise ConfigError.single(
            key, f"{shown} does not exist; create it or fix the path"
        ) from None
    except PermissionError:
        raise ConfigError.single(
            key, f"{shown} cannot be reached by this user; fix the directory permissions"
        ) from None
    except OSError as exc:
        raise ConfigError.single(key, f"{shown} cannot be read: {exc.strerror}") from None
    _require_regular(shown, key, info.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except PermissionError:
        raise ConfigError.single(
            key, f"{shown} is not readable by this user; chown it to the service user"
        ) from None
    except OSError as exc:
        raise ConfigError.single(key, f"{shown} cannot be opened: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        _require_regular(shown, key, info.st_mode)  # replaced between lstat and open
        if check_mode:
            _check_key_mode(shown, key, info)
        data = b""
        while len(data) <= KEY_FILE_LIMIT:
            chunk = os.read(fd, KEY_FILE_LIMIT + 1 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    if len(data) > KEY_FILE_LIMIT:
        raise ConfigError.single(
            key, f"{shown} is larger than {KEY_FILE_LIMIT} bytes; it must hold only the key"
        )
    try:
        value = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError.single(key, f"{shown} is not UTF-8 text") from None
    if not value:
        raise ConfigError.single(key, f"{shown} is empty; write the API key into it")
    problem = value_problem(value)
    if problem:
        raise ConfigError.single(key, f"the key in {shown} {problem}; it must hold only the key")
    return Secret(value)


def _require_regular(shown: str, key: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise ConfigError.single(
            key,
            f"{shown} is {_file_kind(mode)}, not a regular file; point {key} at a file that "
            "holds only the key",
        )


def _check_key_mode(shown: str, key: str, info: os.stat_result) -> None:
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o007:
        raise ConfigError.single(
            key, f"{shown} is readable by others (mode {mode:04o}); run: chmod 0600 {shown}"
        )
    # Group access is fine only for the service's own group (e.g. root:edgevoice 0640).
    if mode & 0o070 and info.st_gid != os.getegid():
        raise ConfigError.single(
            key,
            f"{shown} is group-accessible (mode {mode:04o}) by a group the service is not in; "
            f"run: chmod 0600 {shown}",
        )
