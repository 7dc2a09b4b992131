"""Inbound mail: the durable raw store (committed before SMTP answers 250) and the work queue over it.

Only the raw bytes and what can be read cheaply from the envelope go in; parsing happens later, in the
worker, so a huge or hostile mail cannot slow the SMTP dialog. Any failure raises RawStoreError, which
the SMTP side turns into `451 4.3.0`.

A mail is stored once: its SHA-256 is unique, so a client that lost our 250 and delivers the same bytes
again gets a 250 for the copy already stored (`StoredMail.duplicate`), and a re-run backfill skips it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from processor.errors import RawStoreError
from processor.store.columns import fit
from processor.store.models import InboundMessage, MessageStatus

__all__ = ["Envelope", "QueuedMail", "RawStore", "ReprocessBatch", "StoredMail", "WorkQueue", "reprocess_candidates"]

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


@dataclass(frozen=True, slots=True)
class QueuedMail:
    """One stored mail taken for one processing attempt: everything the pipeline needs, read in the claim.

    The raw bytes are read separately (`WorkQueue.raw`), a few small mails per query at most, so a batch of
    large mails never sits in memory at once."""

    id: int
    attempt: int
    """This attempt's number: 1 the first time; more means earlier attempts did not finish (crash, kill)."""
    envelope: Envelope
    processed_before: bool
    """The mail was recorded before (a reprocess): its old results and tracking must be undone first."""


class WorkQueue:
    """The work queue is `inbound_messages` itself: a mail is work while its status is `received`.

    Any number of workers on any number of nodes share it by leases. A claim takes the oldest mails that
    are not leased (or whose lease ran out: their worker died), counts one attempt, and leases them to the
    claimer until `lease_seconds` from now. On PostgreSQL the candidates are locked with `FOR UPDATE SKIP
    LOCKED`, so concurrent claimers never wait for, nor take, each other's mails; SQLite has one writer at a
    time, which gives the same guarantee. Recording an outcome (`processor.store.results`) checks the lease
    is still the claimer's, so a mail is recorded by one attempt only.
    """

    #: Raw bytes are read ahead for the claimed mails that follow, up to this many bytes in one query: one
    #: round trip per batch of small mails, never a batch of large ones in memory at once.
    READ_AHEAD_BYTES = 2 * 1024 * 1024

    def __init__(self, engine: Engine, worker: str, lease_seconds: float = 120.0) -> None:
        self.engine = engine
        self.worker = worker[:128]
        self.lease = timedelta(seconds=lease_seconds)
        self._claimed: list[tuple[int, int]] = []
        """(id, size) of the last claim's mails, in order, for reading ahead."""
        self._read: dict[int, bytes | None] = {}

    def claim(self, limit: int) -> list[QueuedMail]:
        """Lease up to `limit` waiting mails, oldest first. A mail whose earlier attempt did not finish is
        leased alone, so a mail that kills its worker cannot take a batch down with it again."""
        now = datetime.now(UTC)
        waiting = ((_TABLE.c.status == MessageStatus.RECEIVED)
                   & (_TABLE.c.lease_until.is_(None) | (_TABLE.c.lease_until < now)))
        retried = self._claim(now, sa.select(_TABLE.c.id).where(waiting, _TABLE.c.attempts > 0)
                              .order_by(_TABLE.c.id).limit(1))
        if retried:
            return retried
        return self._claim(now, sa.select(_TABLE.c.id).where(waiting).order_by(_TABLE.c.id).limit(max(1, limit)))

    def claim_ids(self, ids: Sequence[int]) -> list[QueuedMail]:
        """Lease these mails whatever their status (a manual reprocess), unless another worker holds them."""
        if not ids:
            return []
        now = datetime.now(UTC)
        free = _TABLE.c.lease_until.is_(None) | (_TABLE.c.lease_until < now)
        return self._claim(now, sa.select(_TABLE.c.id).where(_TABLE.c.id.in_(list(ids)), free))

    def raw(self, mail: QueuedMail) -> bytes | None:
        """The stored bytes of a claimed mail; None when retention has purged them. Asked in claim order, it
        reads the bytes of the next claimed mails in the same query while they fit `READ_AHEAD_BYTES`."""
        if mail.id in self._read:
            return self._read.pop(mail.id)
        ids = [mail.id]
        position = next((i for i, (claimed, _size) in enumerate(self._claimed) if claimed == mail.id), None)
        if position is not None:
            total = self._claimed[position][1]
            for claimed, size in self._claimed[position + 1:]:
                total += size
                if total > self.READ_AHEAD_BYTES:
                    break
                ids.append(claimed)
        with self.engine.connect() as connection:
            rows = dict(connection.execute(sa.select(_TABLE.c.id, _TABLE.c.raw).where(_TABLE.c.id.in_(ids))).all())
        self._read = {claimed: rows.get(claimed) for claimed in ids[1:]}
        return rows.get(mail.id)

    def extend(self, mails: Sequence[QueuedMail]) -> None:
        """Renew the lease of mails still in hand (a batch that takes long)."""
        if not mails:
            return
        with self.engine.begin() as connection:
            connection.execute(sa.update(_TABLE).where(_TABLE.c.id.in_([m.id for m in mails]),
                                                       _TABLE.c.claimed_by == self.worker)
                               .values(lease_until=datetime.now(UTC) + self.lease))

    def release_stale(self, node: str) -> int:
        """At a node's start: leases its earlier processes held (they are dead: kill -9, a crash) are freed
        at once instead of running out. Node names must be unique among the nodes sharing a database."""
        with self.engine.begin() as connection:
            return connection.execute(
                sa.update(_TABLE).where(_TABLE.c.claimed_by.like(f"{_escape_like(node)}/%", escape="\\"),
                                        _TABLE.c.lease_until.is_not(None), _TABLE.c.status == MessageStatus.RECEIVED)
                .values(lease_until=None)).rowcount

    def _claim(self, now: datetime, candidates: sa.Select[Any]) -> list[QueuedMail]:
        if self.engine.dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        statement = (
            sa.update(_TABLE).where(_TABLE.c.id.in_(candidates.scalar_subquery()))
            .values(attempts=_TABLE.c.attempts + 1, claimed_by=self.worker, lease_until=now + self.lease)
            .returning(_TABLE.c.id, _TABLE.c.attempts, _TABLE.c.mail_from, _TABLE.c.rcpt_tos, _TABLE.c.peer,
                       _TABLE.c.helo, _TABLE.c.received_at, _TABLE.c.processed_at, _TABLE.c.size)
        )
        with self.engine.begin() as connection:
            rows = connection.execute(statement).all()
        self._claimed = sorted((row.id, row.size or 0) for row in rows)
        self._read = {}
        return sorted((QueuedMail(
            id=row.id, attempt=row.attempts, processed_before=row.processed_at is not None,
            envelope=Envelope(mail_from=row.mail_from, rcpt_tos=tuple(row.rcpt_tos or ()), peer=row.peer,
                              helo=row.helo, received_at=row.received_at),
        ) for row in rows), key=lambda mail: mail.id)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class ReprocessBatch:
    ids: tuple[int, ...]
    """Mails to process again, in arrival order."""
    purged: tuple[int, ...]
    """Mails that match but whose raw bytes retention has purged: nothing to parse again (results kept)."""


def reprocess_candidates(engine: Engine, *, everything: bool = False, since: datetime | None = None,
                         batch: int = 500) -> Iterator[ReprocessBatch]:
    """The mails `faxbounce reprocess` takes, in batches by id: by default those not processed (waiting,
    unparseable or in error); with `since`, every mail received since then; with `everything`, all."""
    query = sa.select(_TABLE.c.id, _TABLE.c.raw.is_(None).label("purged")).order_by(_TABLE.c.id).limit(batch)
    if since is not None:
        query = query.where(_TABLE.c.received_at >= since)
    elif not everything:
        query = query.where(_TABLE.c.status.in_([MessageStatus.RECEIVED, MessageStatus.UNPARSEABLE,
                                                 MessageStatus.ERROR]))
    after = 0
    while True:
        with engine.connect() as connection:
            rows = connection.execute(query.where(_TABLE.c.id > after)).all()
        if not rows:
            return
        yield ReprocessBatch(tuple(r.id for r in rows if not r.purged), tuple(r.id for r in rows if r.purged))
        after = rows[-1].id
