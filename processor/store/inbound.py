"""The durable raw store: a mail and its envelope are committed here before SMTP answers 250.

Only the raw bytes and what can be read cheaply from the envelope go in; parsing happens later, in the
worker, so a huge or hostile mail cannot slow the SMTP dialog. Any failure raises RawStoreError, which
the SMTP side turns into `451 4.3.0`.

A mail is stored once: its SHA-256 is unique, so a client that lost our 250 and delivers the same bytes
again gets a 250 for the copy already stored (`StoredMail.duplicate`), and a re-run backfill skips it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from processor.errors import RawStoreError
from processor.store.columns import fit
from processor.store.models import InboundMessage, MessageStatus

__all__ = ["Envelope", "RawStore", "StoredMail"]

_TABLE = InboundMessage.__table__


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the SMTP session knew about a mail besides its bytes."""

    mail_from: str | None
    rcpt_tos: tuple[str, ...]
    peer: str | None = None
    helo: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class StoredMail:
    id: int
    duplicate: bool
    """True when these exact bytes were already stored (nothing new was written)."""


class RawStore:
    """Writes inbound mail: one transaction, and so one fsync, per call, however many mails it holds."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect = engine.dialect.name
        self._insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}.get(dialect)
        if self._insert is None:
            raise RawStoreError(f"unsupported database dialect {dialect!r}")
        self._statement = (
            self._insert(_TABLE).on_conflict_do_nothing(index_elements=["sha256"])
            .returning(_TABLE.c.sha256, _TABLE.c.id, sort_by_parameter_order=True)
        )

    def put(self, raw: bytes, envelope: Envelope) -> StoredMail:
        """Store one mail durably."""
        return self.put_many([(raw, envelope)])[0]

    def put_many(self, mails: Sequence[tuple[bytes, Envelope]]) -> list[StoredMail]:
        """Store several mails in one transaction: all are durable when this returns, or it raises."""
        rows = [_row(raw, envelope) for raw, envelope in mails]
        digests = [row["sha256"] for row in rows]
        try:
            with self.engine.begin() as connection:
                # One cached statement, executed for many rows (SQLAlchemy batches them into few round trips).
                ids = dict(connection.execute(self._statement, rows).all())
                missing = set(digests) - ids.keys()
                if missing:  # already stored: a repeated delivery, or the same bytes twice in this batch
                    found = connection.execute(
                        sa.select(_TABLE.c.sha256, _TABLE.c.id).where(_TABLE.c.sha256.in_(missing))).all()
                    duplicates = dict(found)
                else:
                    duplicates = {}
        except SQLAlchemyError as exc:
            raise RawStoreError(_short(exc)) from exc
        stored: list[StoredMail] = []
        first_seen: set[str] = set()
        for digest in digests:
            new = digest in ids and digest not in first_seen
            first_seen.add(digest)
            stored.append(StoredMail(ids.get(digest) or duplicates[digest], duplicate=not new))
        return stored

    def known(self, raw: bytes) -> int | None:
        """The id of a stored mail with exactly these bytes, if any."""
        digest = hashlib.sha256(raw).hexdigest()
        with self.engine.connect() as connection:
            return connection.scalar(sa.select(_TABLE.c.id).where(_TABLE.c.sha256 == digest))


def _row(raw: bytes, envelope: Envelope) -> dict[str, Any]:
    return {
        "received_at": envelope.received_at,
        "mail_from": fit(_TABLE.c.mail_from, envelope.mail_from),
        "rcpt_tos": [fit(_TABLE.c.rcpt_tos, r) or "" for r in envelope.rcpt_tos],
        "peer": fit(_TABLE.c.peer, envelope.peer),
        "helo": fit(_TABLE.c.helo, envelope.helo),
        "raw": bytes(raw),
        "size": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "status": MessageStatus.RECEIVED,
        "attempts": 0,
    }


def _short(exc: SQLAlchemyError) -> str:
    """One line naming the failure, without SQL text or parameters (they may hold mail content)."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    return f"{type(original).__name__}: {text}"[:200]
