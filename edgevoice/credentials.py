"""What a Live API credential is, without reading one. Core: no I/O.

A `Credential` is a secret (`edgevoice.redact.Secret`, which never prints) plus its kind, which
decides how it goes on the wire, and where it came from (for log lines: never the value).
Finding one (files, the systemd credential, the token command, the environment) is the job of
`edgevoice.adapters.credential_lookup`.

A credential travels in an HTTP header, so it must be one run of visible ASCII characters.
`value_problem` says what is wrong with one that is not, without showing it: websockets would
otherwise refuse the header with the whole value in its message (issue #7 section 4).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from edgevoice.redact import Secret

TOKEN_PREFIX = "auth_tokens/"  # ephemeral tokens are resource names (docs/live-protocol.md 7)


class CredentialKind(enum.Enum):
    API_KEY = "api key"  # sent as the x-goog-api-key header
    TOKEN = "ephemeral token"  # sent as Authorization: Token ..., on the Constrained endpoint


@dataclass(frozen=True)
class Credential:
    kind: CredentialKind
    secret: Secret
    source: str  # where it came from, for logs: never the value

    def problem(self) -> str | None:
        """What makes the secret unusable in a request header, or None (never shows it)."""
        return value_problem(self.secret.reveal())


def value_problem(value: str) -> str | None:
    """Why `value` cannot be sent as an API key or token header, or None when it can.

    Keys and tokens are visible ASCII (letters, digits, punctuation). The answer names the kind
    of character and its position, never the value.
    """
    if not value:
        return "is empty"
    for position, char in enumerate(value, start=1):
        if "!" <= char <= "~":
            continue
        if char in "\r\n":
            what = "a line break (CR or LF)"
        elif ord(char) > 0xFF:
            what = "a character outside Latin-1"
        elif char in " \t":
            what = "a space or tab"
        elif ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F:
            what = "a control character"
        else:
            what = "a non-ASCII character"
        return f"contains {what} at position {position} (a key is one line of visible ASCII)"
    return None


__all__ = ["TOKEN_PREFIX", "Credential", "CredentialKind", "Secret", "value_problem"]
