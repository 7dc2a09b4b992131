"""Read-only questions about the store, each answered by a small frozen value: for metrics, health checks,
`faxbounce check` and the ingest summary. Nothing here writes."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from processor.store.models import FaxResultRow, InboundMessage, MessageStatus, NotifyOutboxRow

__all__ = ["IngestSummary", "LiveCounts", "StoredTotals", "SummaryRow", "backlog", "database_identity",
           "delivery_counts", "ingest_summary", "live_counts", "stored_totals"]

_MESSAGES = InboundMessage.__table__
_RESULTS = FaxResultRow.__table__
_WAITING = _MESSAGES.c.status == MessageStatus.RECEIVED
"""Mails stored, not processed yet: the backlog."""
_CHUNK = 500
"""Ids per IN (...) list: well under every backend's bound-parameter limit."""


@dataclass(frozen=True, slots=True)
class LiveCounts:
    """What moves from minute to minute, each read from an index: the cost grows with the mails waiting or in
    trouble, not with the mails kept."""

    backlog: int
    """Mails stored, not processed yet (status `received`)."""
    oldest_waiting: datetime | None
    """`received_at` of the first-stored mail still waiting (aware UTC), None when none waits."""
    unparseable: int
    unrecognized: int
    """Mails of kind `unrecognized`: a fax service's marks, no result read."""


def live_counts(engine: Engine) -> LiveCounts:
    """The backlog, its oldest mail, and the mails to look at (raises SQLAlchemyError).

    The oldest is the first stored, by id, read from the `(status, id)` index: `min(received_at)` led SQLite to
    walk the `received_at` index from the first mail ever stored (186 ms at 840,000 mails, `bench/scale.py`).
    Ids follow arrival; mails committed together differ by the milliseconds of one group commit."""
    with engine.connect() as connection:
        oldest = connection.scalar(sa.select(_MESSAGES.c.received_at).where(_WAITING)
                                   .order_by(_MESSAGES.c.id).limit(1))
        return LiveCounts(_mails_where(connection, _WAITING), oldest if isinstance(oldest, datetime) else None,
                          _mails_where(connection, _MESSAGES.c.status == MessageStatus.UNPARSEABLE),
                          _mails_where(connection, _MESSAGES.c.kind == "unrecognized"))


def _mails_where(connection: Connection, condition: sa.ColumnElement[bool]) -> int:
    """How many stored mails meet `condition` (each caller's condition has an index)."""
    return int(connection.scalar(sa.select(sa.func.count()).select_from(_MESSAGES).where(condition)) or 0)


@dataclass(frozen=True, slots=True)
class StoredTotals:
    """Every stored mail by status and every result row by (kind, outcome, reason)."""

    statuses: dict[str, int]
    results: tuple[tuple[str, str, str, int], ...]
    """(kind, outcome, reason, count)"""


def stored_totals(engine: Engine) -> StoredTotals:
    """Whole-table counts (raises SQLAlchemyError): their cost grows with every row kept, as rows are never
    deleted (1.6 s on SQLite and 0.4 s on PostgreSQL at a million results, `bench/scale.py`)."""
    with engine.connect() as connection:
        statuses = {str(s): int(n) for s, n in connection.execute(
            sa.select(_MESSAGES.c.status, sa.func.count()).group_by(_MESSAGES.c.status))}
        results = tuple((str(k), str(o), str(r), int(n)) for k, o, r, n in connection.execute(
            sa.select(_RESULTS.c.kind, _RESULTS.c.outcome, _RESULTS.c.reason, sa.func.count())
            .group_by(_RESULTS.c.kind, _RESULTS.c.outcome, _RESULTS.c.reason)))
    return StoredTotals(statuses, results)


def delivery_counts(engine: Engine) -> dict[tuple[str, str], int]:
    """Notification outbox rows by (channel, state), for the metrics (raises SQLAlchemyError)."""
    outbox = NotifyOutboxRow.__table__
    with engine.connect() as connection:
        return {(str(channel), str(state)): int(count) for channel, state, count in connection.execute(
            sa.select(outbox.c.channel, outbox.c.state, sa.func.count()).group_by(outbox.c.channel, outbox.c.state))}


def backlog(engine: Engine) -> int:
    """Mails stored but not processed yet (raises SQLAlchemyError)."""
    with engine.connect() as connection:
        return _mails_where(connection, _WAITING)


def database_identity(engine: Engine) -> str:
    """A short hex name of the database this engine reaches, the same from every process that reaches it
    (whatever the URL spells: host name or address, user, password), different for another database.

    PostgreSQL: the cluster (its port and postmaster start time, readable by every role), the database and
    the schema (the first of the search path). SQLite: the database file's real path. Raises SQLAlchemyError.
    """
    with engine.connect() as connection:
        parts = _postgresql_identity(connection) if engine.dialect.name == "postgresql" else _sqlite_identity(
            connection)
    return hashlib.sha256("\x1f".join([engine.dialect.name, *parts]).encode()).hexdigest()[:16]


def _postgresql_identity(connection: Connection) -> list[str]:
    row = connection.execute(sa.text(
        "SELECT current_setting('port'), pg_postmaster_start_time()::text, current_database(), "
        "current_schema()")).one()
    return [str(value) for value in row]


def _sqlite_identity(connection: Connection) -> list[str]:
    files = {name: path for _, name, path in connection.exec_driver_sql("PRAGMA database_list")}
    path = files.get("main") or ""
    return [os.path.realpath(path) if path else f":memory:{id(connection.engine)}"]


# --- the ingest summary ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SummaryRow:
    kind: str
    reason: str
    """The result's reason, or `-` for mails without results (their status when they have no kind)."""
    mails: int
    results: int


@dataclass(frozen=True, slots=True)
class IngestSummary:
    rows: tuple[SummaryRow, ...]
    mails: int
    """Distinct mails: a mail whose results have two reasons is on two rows but counted once here."""
    results: int


def ingest_summary(engine: Engine, ids: Sequence[int]) -> IngestSummary:
    """What these mails turned out to be, by kind and reason."""
    results: Counter[tuple[str, str]] = Counter()
    mails_with: Counter[tuple[str, str]] = Counter()
    without: Counter[tuple[str, str]] = Counter()
    distinct_with = 0
    has_results = sa.exists().where(_RESULTS.c.inbound_message_id == _MESSAGES.c.id)
    label = sa.func.coalesce(_MESSAGES.c.kind, _MESSAGES.c.status)
    with engine.connect() as connection:
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start:start + _CHUNK])
            for kind, reason, count, mails in connection.execute(
                sa.select(_RESULTS.c.kind, _RESULTS.c.reason, sa.func.count(),
                          sa.func.count(sa.distinct(_RESULTS.c.inbound_message_id)))
                .where(_RESULTS.c.inbound_message_id.in_(chunk)).group_by(_RESULTS.c.kind, _RESULTS.c.reason)
            ):
                results[(kind, reason)] += count
                mails_with[(kind, reason)] += mails
            distinct_with += int(connection.scalar(
                sa.select(sa.func.count(sa.distinct(_RESULTS.c.inbound_message_id)))
                .where(_RESULTS.c.inbound_message_id.in_(chunk))) or 0)
            for name, count in connection.execute(
                sa.select(label, sa.func.count()).where(_MESSAGES.c.id.in_(chunk), ~has_results).group_by(label)
            ):
                without[(name, "-")] += count
    rows = [SummaryRow(k, r, mails_with[(k, r)], n) for (k, r), n in results.items()]
    rows += [SummaryRow(k, r, n, 0) for (k, r), n in without.items()]
    rows.sort(key=lambda row: (row.kind, -row.results, -row.mails, row.reason))
    return IngestSummary(tuple(rows), distinct_with + sum(without.values()), sum(results.values()))
