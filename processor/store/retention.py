"""The purge's SQL: which raw mail bytes are due, and dropping them in small transactions.

A mail is due when its raw bytes are still stored, it has been processed (mail still `received` is never
touched) and it arrived before its cut-off: `unrelated_before` for mail classified `unrelated`, `before` for
every mail. Only its `inbound_raw` row is deleted; the `inbound_messages` row and its results stay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from processor.reasons import Kind
from processor.store.models import InboundMessage, InboundRaw, MessageStatus

__all__ = ["Cutoffs", "DueRaw", "drop_raw", "due_raw", "purged_ids"]

_TABLE = InboundMessage.__table__
_RAW = InboundRaw.__table__
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Raw bytes of mail received before these times are due; None: no such rule."""

    before: datetime | None
    unrelated_before: datetime | None = None

    def __post_init__(self) -> None:
        if self.before is None and self.unrelated_before is None:
            raise ValueError("a purge needs at least one cut-off")


@dataclass(frozen=True, slots=True)
class DueRaw:
    mails: int
    bytes: int
    oldest: datetime | None
    newest: datetime | None


def _due(cutoffs: Cutoffs) -> sa.ColumnElement[bool]:
    aged = []
    if cutoffs.before is not None:
        aged.append(_TABLE.c.received_at < cutoffs.before)
    if cutoffs.unrelated_before is not None:
        aged.append(sa.and_(_TABLE.c.kind == str(Kind.UNRELATED), _TABLE.c.received_at < cutoffs.unrelated_before))
    return sa.and_(_stored(), _TABLE.c.status != MessageStatus.RECEIVED, sa.or_(*aged))


def _stored() -> sa.Exists:
    """The mail's bytes are still stored: it has an `inbound_raw` row."""
    return sa.exists().where(_RAW.c.inbound_message_id == _TABLE.c.id)


def due_raw(engine: Engine, cutoffs: Cutoffs) -> DueRaw:
    """How many mails (and bytes, and received when) a purge at these cut-offs drops."""
    with engine.connect() as connection:
        mails, size, oldest, newest = connection.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_TABLE.c.size), 0),
                      sa.func.min(_TABLE.c.received_at), sa.func.max(_TABLE.c.received_at)).where(_due(cutoffs))
        ).one()
    return DueRaw(int(mails), int(size), oldest, newest)


def drop_raw(engine: Engine, cutoffs: Cutoffs, batch: int = _CHUNK) -> int:
    """Delete the `inbound_raw` row of every due mail, `batch` mails per transaction (a SQLite writer holds the
    one write lock, and the SMTP side must get it within its busy timeout); returns how many. Idempotent."""
    done = 0
    after = 0
    while True:
        with engine.begin() as connection:
            ids = list(connection.scalars(sa.select(_TABLE.c.id).where(_due(cutoffs), _TABLE.c.id > after)
                                          .order_by(_TABLE.c.id).limit(batch)))
            if not ids:
                return done
            still_due = sa.select(_TABLE.c.id).where(_TABLE.c.id.in_(ids), _due(cutoffs))
            done += connection.execute(sa.delete(_RAW).where(_RAW.c.inbound_message_id.in_(still_due))).rowcount
        after = ids[-1]


def purged_ids(engine: Engine, ids: Iterable[int]) -> set[int]:
    """Which of these mails no longer hold their raw bytes."""
    wanted = list(ids)
    found: set[int] = set()
    with engine.connect() as connection:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            found.update(connection.scalars(sa.select(_TABLE.c.id).where(_TABLE.c.id.in_(chunk), ~_stored())))
    return found
