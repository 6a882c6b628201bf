"""The API key never reaches a log record, a repr, an exception text or printed output."""

from __future__ import annotations

import logging
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest

from edgevoice.adapters.credential_lookup import CredentialSource
from edgevoice.app.log_setup import setup_logging
from edgevoice.config import AuthConfig
from edgevoice.credentials import CredentialKind
from edgevoice.errors import ConfigError
from edgevoice.redact import Secret

KEY = "AQ.test-key-7f3a9c1e5b2d4a6f8e0c"  # distinctive, not shaped like a real Google key
REPO = Path(__file__).resolve().parents[2]


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
        ["run", "--config", str(config), "--log-level", "debug"],
        ["version", "--all"],
    ):
        result = cli(*argv)
        outputs += [result.out, result.err]
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    result = cli("run", "--config", str(REPO / "deploy/edgevoice.toml"), "-v")
    outputs += [result.out, result.err]
    key_file.chmod(0o644)  # now refused: the refusal must not quote the key either
    result = cli("check-config", "--config", str(config))
    assert result.status == 78
    outputs += [result.out, result.err]
    outputs += [record.getMessage() for record in caplog.records]
    outputs += [repr(record.__dict__) for record in caplog.records]
    joined = "\n".join(outputs)
    assert "credential" in joined  # the runs above did log and print something
    assert KEY not in joined


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
    script = tmp_path / "token.sh"
    script.write_text(f"#!/bin/sh\necho 'leaked {KEY}' >&2\necho 'not-a-token {KEY}'\nexit 0\n")
    script.chmod(0o755)
    source = CredentialSource(AuthConfig(token_command=str(script)))
    with pytest.raises(ConfigError) as caught:
        source.resolve()
    assert "auth.token_command" in str(caught.value)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value.problems)


def test_token_command_failure_and_success(tmp_path: Path) -> None:
    failing = tmp_path / "fail.sh"
    failing.write_text(f"#!/bin/sh\necho {KEY} >&2\nexit 3\n")
    failing.chmod(0o755)
    with pytest.raises(ConfigError, match="exited with status 3") as caught:
        CredentialSource(AuthConfig(token_command=str(failing))).resolve()
    assert KEY not in str(caught.value)
    good = tmp_path / "good.sh"
    good.write_text("#!/bin/sh\necho auth_tokens/abc123def456\n")
    good.chmod(0o755)
    credential = CredentialSource(AuthConfig(token_command=f"{good} --fleet x")).resolve()
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


def test_key_is_not_in_the_process_listing(tmp_path: Path) -> None:
    """Nothing edgevoice starts carries the key on its command line or in /proc/*/cmdline."""
    Secret(KEY)
    cmdline = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().decode(errors="replace")
    assert KEY not in cmdline
    assert KEY not in " ".join(sys.argv)
