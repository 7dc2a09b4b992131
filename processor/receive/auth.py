"""SMTP AUTH for deployments that expose the port: scrypt-hashed credentials from the config, no plain text.

Passwords are never stored or logged: `faxbounce hash-password` prints the `user:scrypt$…` line for
`smtp.auth_users`. aiosmtpd offers PLAIN and LOGIN only after STARTTLS (`auth_require_tls`).

A check costs about 30 ms of CPU and 16 MiB (scrypt, n=2**14, r=8), by design. So that a flood of AUTH
lines cannot stall every session or the machine's memory, checks run in two threads of their own, off the
event loop; an unknown user costs the same as a known one (a dummy hash), so timing does not tell which
users exist; and a client address with `max_failures` failed attempts is answered 454 without a check for
`pause` seconds.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["S454_TOO_MANY_FAILURES", "CredentialAuthenticator", "hash_password", "verify_password"]

log = logging.getLogger(__name__)
_N, _R, _P = 2**14, 8, 1
_CHECK_THREADS = 2
"""Password checks at once: bounds their CPU and memory (16 MiB each) whatever the number of sessions."""
S454_TOO_MANY_FAILURES = "454 4.7.0 Too many failed authentications from your address, try again later"


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
    """Checks AUTH PLAIN/LOGIN credentials against `smtp.auth_users` entries (`user:scrypt$…`).

    `check` is the way in for the SMTP server (off the event loop, with the failure limit); calling the
    object itself is aiosmtpd's synchronous authenticator interface, kept for other callers."""

    def __init__(self, entries: Sequence[str], *, max_failures: int = 5, pause: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.users = dict(entry.split(":", 1) for entry in entries)
        self.max_failures = max_failures
        self.pause = pause
        self.clock = clock
        self._dummy = hash_password(os.urandom(16).hex())
        self._failures: dict[str | None, tuple[int, float]] = {}
        """client address -> (failures in a row, time of the last one); forgotten `pause` s after it."""
        self._executor: ThreadPoolExecutor | None = None

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        return self._verify(_host(session), mechanism, auth_data)

    async def check(self, host: str | None, mechanism: str, credentials: LoginPassword) -> AuthResult:
        """The AUTH result for `credentials` from `host`; 454 without a check while `host` is paused."""
        self._forget_old()
        failures, _last = self._failures.get(host, (0, 0.0))
        if failures >= self.max_failures:
            log.info("AUTH refused without a check: %s has %d failures in a row", host, failures)
            return AuthResult(success=False, handled=False, message=S454_TOO_MANY_FAILURES)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(_CHECK_THREADS, thread_name_prefix="auth")
        result = await asyncio.get_running_loop().run_in_executor(self._executor, self._verify, host, mechanism,
                                                                  credentials)
        if result.success:
            self._failures.pop(host, None)
        else:
            self._failures[host] = (failures + 1, self.clock())
        return result

    def _verify(self, host: str | None, mechanism: str, credentials: LoginPassword) -> AuthResult:
        user = credentials.login.decode("utf-8", "replace")
        hashed = self.users.get(user)
        # An unknown user is checked against a dummy hash: the same cost, so the reply time tells nothing.
        ok = verify_password(credentials.password, hashed or self._dummy) and hashed is not None
        if not ok:
            log.warning("AUTH %s failed for user %r from %s", mechanism, user[:64], host or "?")
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=user)

    def _forget_old(self) -> None:
        now = self.clock()
        for host in [h for h, (_n, last) in self._failures.items() if now - last >= self.pause]:
            del self._failures[host]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _host(session: Any) -> str | None:
    peer = getattr(session, "peer", None)
    return str(peer[0]) if isinstance(peer, tuple) and peer else None
