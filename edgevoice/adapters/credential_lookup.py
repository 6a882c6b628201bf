"""Find the credential for the Live API: a systemd credential, a key file, the environment, or
an ephemeral-token command. The key is never in the TOML file.

Lookup order (the first that exists wins):

1. `auth.token_command` when set: run it (no shell) for a fresh `auth_tokens/...` token, every
   time a connection is opened, so fleets can keep the real key on a server.
2. `$CREDENTIALS_DIRECTORY/gemini-api-key`: systemd's `LoadCredential=gemini-api-key:...`.
3. `auth.api_key_file`: refused when group- or world-readable beyond the service's own group.
4. `$GEMINI_API_KEY`: for development.

Every failure is a ConfigError naming the source and the fix, and never contains the secret.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from collections.abc import Mapping

from edgevoice.config import AuthConfig
from edgevoice.credentials import TOKEN_PREFIX, Credential, CredentialKind
from edgevoice.errors import ConfigError
from edgevoice.redact import Secret

CREDENTIAL_NAME = "gemini-api-key"
ENV_KEY = "GEMINI_API_KEY"
NO_CREDENTIAL = "none found"


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

    def resolve(self) -> Credential:
        """Read the credential now. Raises ConfigError (exit 78) naming the source and the fix."""
        where, source = self._pick()
        if where == "token":
            return self._run_token_command()
        if where == "credential":
            secret = _read_key(
                self._credential_path() or "", "systemd credential", check_mode=False
            )
            return Credential(CredentialKind.API_KEY, secret, source)
        if where == "file":
            secret = _read_key(self._auth.api_key_file, "auth.api_key_file", check_mode=True)
            return Credential(CredentialKind.API_KEY, secret, source)
        if where == "environment":
            return Credential(
                CredentialKind.API_KEY, Secret(self._environ[ENV_KEY].strip()), source
            )
        raise ConfigError.single(
            "auth",
            f"no API key found; put it in a file (chmod 0600) named by auth.api_key_file, load it "
            f"as the systemd credential {CREDENTIAL_NAME}, or set {ENV_KEY}",
        )

    def _pick(self) -> tuple[str, str]:
        """The source that applies, in lookup order, and how to name it in logs."""
        if self.uses_tokens:
            return "token", f"ephemeral tokens from auth.token_command ({self._command_name()})"
        if self._credential_path() is not None:
            return "credential", f"systemd credential {CREDENTIAL_NAME}"
        if self._auth.api_key_file:
            return "file", f"key file {self._auth.api_key_file}"
        if self._environ.get(ENV_KEY, "").strip():
            return "environment", f"environment variable {ENV_KEY}"
        return "none", NO_CREDENTIAL

    def _credential_path(self) -> str | None:
        directory = self._environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            return None
        path = os.path.join(directory, CREDENTIAL_NAME)
        return path if os.path.exists(path) else None

    def _command_name(self) -> str:
        try:
            argv = shlex.split(self._auth.token_command)
        except ValueError:
            return "unparsable"
        return os.path.basename(argv[0]) if argv else "empty"

    def _run_token_command(self) -> Credential:
        key = "auth.token_command"
        try:
            argv = shlex.split(self._auth.token_command)
        except ValueError as exc:
            raise ConfigError.single(
                key, f"cannot be parsed ({exc}); quote it like a shell would"
            ) from None
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=self._auth.token_command_timeout,
                check=False,
            )
        except FileNotFoundError:
            raise ConfigError.single(key, f"{argv[0]!r} not found; give an absolute path") from None
        except PermissionError:
            raise ConfigError.single(key, f"{argv[0]!r} is not executable; chmod +x it") from None
        except subprocess.TimeoutExpired:
            raise ConfigError.single(
                key, f"did not finish within {self._auth.token_command_timeout} s"
            ) from None
        # Neither stdout nor stderr is quoted in errors: either may hold a token or a key.
        if done.returncode != 0:
            raise ConfigError.single(key, f"exited with status {done.returncode}")
        token = done.stdout.strip()
        if not token.startswith(TOKEN_PREFIX) or any(c.isspace() for c in token):
            raise ConfigError.single(
                key, f"did not print a single token starting with {TOKEN_PREFIX!r}"
            )
        return Credential(CredentialKind.TOKEN, Secret(token), f"command {self._command_name()}")


def _read_key(path: str, key: str, *, check_mode: bool) -> Secret:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError.single(key, f"{path} does not exist; create it or fix the path") from None
    except PermissionError:
        raise ConfigError.single(
            key, f"{path} is not readable by this user; chown it to the service user"
        ) from None
    except OSError as exc:
        raise ConfigError.single(key, f"{path} cannot be opened: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if check_mode:
            _check_key_mode(path, key, info)
        with os.fdopen(fd, "r", encoding="utf-8", errors="strict") as handle:
            fd = -1
            text = handle.read(4096)
    except UnicodeDecodeError:
        raise ConfigError.single(key, f"{path} is not UTF-8 text") from None
    finally:
        if fd >= 0:
            os.close(fd)
    value = text.strip()
    if not value:
        raise ConfigError.single(key, f"{path} is empty; write the API key into it")
    if any(c.isspace() for c in value):
        raise ConfigError.single(key, f"{path} must hold only the key, on one line")
    return Secret(value)


def _check_key_mode(path: str, key: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError.single(key, f"{path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o007:
        raise ConfigError.single(
            key, f"{path} is readable by others (mode {mode:04o}); run: chmod 0600 {path}"
        )
    # Group access is fine only for the service's own group (e.g. root:edgevoice 0640).
    if mode & 0o070 and info.st_gid != os.getegid():
        raise ConfigError.single(
            key,
            f"{path} is group-accessible (mode {mode:04o}) by a group the service is not in; "
            f"run: chmod 0600 {path}",
        )
