"""What a Live API credential is, without reading one. Core: no I/O.

A `Credential` is a secret (`edgevoice.redact.Secret`, which never prints) plus its kind, which
decides how it goes on the wire, and where it came from (for log lines: never the value).
Finding one (files, the systemd credential, the token command, the environment) is the job of
`edgevoice.adapters.credential_lookup`.
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


__all__ = ["TOKEN_PREFIX", "Credential", "CredentialKind", "Secret"]
