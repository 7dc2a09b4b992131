"""One `inbound_messages` row as the worker records it: read with one statement, written back with one.

Recording a mail changes a few columns of its row (status, kind, the headers it was classified by, the lease).
Through ORM objects that cost a third of the worker's recording transaction on SQLite (loading the
instance, tracking its changes, flushing it at commit), which SQLite runs one at a time while new mail
waits to commit. Here the row is a plain record: `held` reads the batch's rows, the recording functions set
its fields, and `write_back` writes every row in one executemany UPDATE at the end of the transaction, as
the ORM's flush at commit did. Nothing recording queries in between reads the columns written here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from processor.store.models import InboundMessage

__all__ = ["MailRow", "held", "write_back"]

_MAILS = InboundMessage.__table__


@dataclass(slots=True)
class MailRow:
    """The columns of one mail that recording reads (the first six) and writes (`processed_at` and the
    rest: `_WRITTEN`). Mutable on purpose: it stands for the row within one transaction, like the ORM
    instance it replaces."""

    id: int
    attempts: int
    received_at: datetime
    mail_from: str | None
    sha256: str
    processed_at: datetime | None
    message_id: str | None
    subject: str | None
    from_address: str | None
    status: str
    kind: str | None
    detected_by: str | None
    error: str | None
    lease_until: datetime | None
    processed_by: str | None


_COLUMNS = tuple(field.name for field in fields(MailRow))
_WRITTEN = ("processed_at", *_COLUMNS[_COLUMNS.index("message_id"):])

_HELD = (sa.select(*(_MAILS.c[name] for name in _COLUMNS))
         .where(_MAILS.c.id.in_(sa.bindparam("ids", expanding=True)), _MAILS.c.claimed_by == sa.bindparam("worker"))
         .order_by(_MAILS.c.id).with_for_update())
_WRITE_BACK = (sa.update(_MAILS).where(_MAILS.c.id == sa.bindparam("row_id"))
               .values({name: sa.bindparam(f"new_{name}") for name in _WRITTEN}))


def held(session: Session, ids: Sequence[int], worker: str) -> list[MailRow]:
    """The rows of these mails that `worker` holds the lease of, in id order (locked on PostgreSQL)."""
    return [MailRow(*row) for row in session.connection().execute(_HELD, {"ids": list(ids), "worker": worker})]


def write_back(session: Session, rows: Sequence[MailRow]) -> None:
    """Write the recorded columns of these rows, in one statement."""
    if rows:
        session.connection().execute(_WRITE_BACK, [_parameters(row) for row in rows])


def _parameters(row: MailRow) -> dict[str, Any]:
    return {"row_id": row.id, **{f"new_{name}": getattr(row, name) for name in _WRITTEN}}
