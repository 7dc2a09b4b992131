"""The SMTP side: a thin aiosmtpd handler whose only job is to make a mail durable before saying 250.

Hooks return the reply (aiosmtpd's handler contract). Nothing is parsed in the dialog and nothing is ever
sent or relayed anywhere: faxbounce is a sink. A store failure answers `451 4.3.0` so the client keeps
the mail and retries; so does any unexpected exception (`handle_exception`), never aiosmtpd's 500.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from processor.errors import RawStoreError
from processor.rawstore import Envelope, RawStore

__all__ = [
    "S250_OK",
    "S451_STORE_FAILED",
    "S451_TEMPORARY",
    "FaxbounceSMTP",
    "RecipientPolicy",
    "SinkHandler",
]

log = logging.getLogger(__name__)

S250_OK = "250 OK"
S451_STORE_FAILED = "451 4.3.0 Mail not stored, try again later"
S451_TEMPORARY = "451 4.3.0 Temporary server error, try again later"
S452_TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"


class RecipientPolicy:
    """Which RCPT TO addresses are accepted: every one, or those matching a shell-style pattern."""

    def __init__(self, patterns: tuple[str, ...] = ()) -> None:
        self.patterns = tuple(p.lower() for p in patterns)

    def accepts(self, address: str) -> bool:
        if not self.patterns:
            return True
        address = address.lower()
        return any(fnmatch.fnmatchcase(address, pattern) for pattern in self.patterns)


class SinkHandler:
    """aiosmtpd handler: RCPT policy, DATA to the raw store, 451 on any failure."""

    def __init__(
        self,
        store: RawStore,
        executor: Executor,
        *,
        recipients: RecipientPolicy | None = None,
        max_recipients: int = 1000,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.recipients = recipients or RecipientPolicy()
        self.max_recipients = max_recipients
        self.on_stored = on_stored
        self._store_failing = False

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: SmtpEnvelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return S452_TOO_MANY_RECIPIENTS
        if not self.recipients.accepts(address):
            log.info("recipient refused: %s from %s", address, _peer(session))
            return f"550 5.1.1 <{address}>: recipient not accepted here"
        envelope.rcpt_tos.append(address)
        return S250_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        raw = envelope.original_content or b""
        meta = Envelope(
            mail_from="" if envelope.mail_from in (None, "<>") else envelope.mail_from,  # null sender
            rcpt_tos=tuple(envelope.rcpt_tos),
            peer=_peer(session),
            helo=session.host_name,
        )
        loop = asyncio.get_running_loop()
        try:
            message_id = await loop.run_in_executor(self.executor, self.store.put, raw, meta)
        except RawStoreError as exc:
            if not self._store_failing:
                log.error("store unavailable, answering 451 until it is back: %s", exc)
                self._store_failing = True
            return S451_STORE_FAILED
        if self._store_failing:
            log.warning("store available again, accepting mail")
            self._store_failing = False
        if self.on_stored is not None:
            self.on_stored(message_id)
        log.info("message %s stored: %d bytes from %s", message_id, len(raw), meta.peer)
        return f"250 2.0.0 OK stored as {message_id}"

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session error: %s: %s", type(error).__name__, error)
        return S451_TEMPORARY


class FaxbounceSMTP(SMTP):
    """aiosmtpd's SMTP with a configurable line length (fax gateways send long HTML lines)."""

    def __init__(self, handler: Any, *, line_length_limit: int = 64 * 1024, **kwargs: Any) -> None:
        # Read by SMTP.__init__ when it creates the StreamReader, so it must be set first.
        self.line_length_limit = line_length_limit
        super().__init__(handler, **kwargs)


def _peer(session: Session) -> str | None:
    peer = session.peer
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer) if peer else None
