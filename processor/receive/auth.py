"""SMTP AUTH for deployments that expose the port: scrypt-hashed credentials from the config, no plain text.

Passwords are never stored or logged: `faxbounce hash-password` prints the `user:scrypt$…` line for
`smtp.auth_users`. aiosmtpd offers PLAIN and LOGIN only after STARTTLS (`auth_require_tls`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from collections.abc import Sequence
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["CredentialAuthenticator", "hash_password", "verify_password"]

log = logging.getLogger(__name__)
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: bytes, hashed: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = hashed.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password, salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


class CredentialAuthenticator:
    """aiosmtpd authenticator over `smtp.auth_users` entries (`user:scrypt$…`)."""

    def __init__(self, entries: Sequence[str]) -> None:
        self.users = dict(entry.split(":", 1) for entry in entries)

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        hashed = self.users.get(user)
        if hashed is None or not verify_password(auth_data.password, hashed):
            log.warning("AUTH %s failed for user %r from %s", mechanism, user[:64], _host(session))
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=user)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _host(session: Any) -> str:
    peer = getattr(session, "peer", None)
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"
