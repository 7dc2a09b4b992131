"""The durable raw store: a mail and its envelope are committed here before SMTP answers 250.

Only the raw bytes and what can be read cheaply from the envelope go in; parsing happens later, in the
worker, so a huge or hostile mail cannot slow the SMTP dialog. Any failure raises RawStoreError, which
the SMTP side turns into `451 4.3.0`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from processor.errors import RawStoreError
from processor.store.db import session_scope
from processor.store.models import InboundMessage, MessageStatus

__all__ = ["Envelope", "RawStore"]


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the SMTP session knew about a mail besides its bytes."""

    mail_from: str | None
    rcpt_tos: tuple[str, ...]
    peer: str | None = None
    helo: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class RawStore:
    """Writes inbound mail; one short transaction per call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, raw: bytes, envelope: Envelope) -> int:
        """Store one mail durably and return its `inbound_messages.id`."""
        return self.put_many([(raw, envelope)])[0]

    def put_many(self, mails: Sequence[tuple[bytes, Envelope]]) -> list[int]:
        """Store several mails in one transaction (one fsync): all or none."""
        rows = [_row(raw, envelope) for raw, envelope in mails]
        try:
            with session_scope(self.engine) as session:
                session.add_all(rows)
                session.flush()
                ids = [row.id for row in rows]
        except SQLAlchemyError as exc:
            raise RawStoreError(_short(exc)) from exc
        return ids


def _row(raw: bytes, envelope: Envelope) -> InboundMessage:
    return InboundMessage(
        received_at=envelope.received_at,
        mail_from=_clean(envelope.mail_from),
        rcpt_tos=[_clean(r) or "" for r in envelope.rcpt_tos],
        peer=_clean(envelope.peer),
        helo=_clean(envelope.helo),
        raw=bytes(raw),
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        status=MessageStatus.RECEIVED,
        attempts=0,
    )


def _clean(value: str | None) -> str | None:
    """Envelope strings come from the network: no NUL (PostgreSQL refuses it), no lone surrogates."""
    if value is None:
        return None
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[:2000]


def _short(exc: SQLAlchemyError) -> str:
    """One line naming the failure, without SQL text or parameters (they may hold mail content)."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    return f"{type(original).__name__}: {text}"[:200]
