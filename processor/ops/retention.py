"""Retention: drop raw mail bytes older than `retention.raw_days`, keep everything else.

Only `inbound_messages.raw` is set to NULL: the row, its envelope, header summary (message_id, subject,
from_address), status, kind, and every result row stay, so the SQL interface answers the same questions as
before. Mail still waiting for processing (`received`) is never purged.

The purge runs in small transactions (a SQLite writer holds the one write lock, and the SMTP side must get
it within its busy timeout) and is idempotent: a second run finds nothing to do. `faxbounce purge` runs it from
the shell; the daemon's worker runs it once a day (`RetentionRunner`). The state of a purge is the data itself
(raw bytes present or not), so a restarted worker neither skips a day nor redoes finished work: its first run
after a start only touches mail that crossed the cut-off since the last one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from processor.config import Settings
from processor.store.models import InboundMessage, MessageStatus

__all__ = ["PURGE_INTERVAL", "PurgeReport", "RetentionRunner", "purge_raw", "purged_ids"]

log = logging.getLogger(__name__)

PURGE_INTERVAL = 24 * 3600.0
"""Seconds between two purges in the daemon."""
_BATCH = 500
_TABLE = InboundMessage.__table__


@dataclass(frozen=True, slots=True)
class PurgeReport:
    cutoff: datetime
    mails: int
    bytes: int
    oldest: datetime | None
    newest: datetime | None
    dry_run: bool

    def describe(self) -> str:
        verb = "would drop" if self.dry_run else "dropped"
        if not self.mails:
            return f"nothing to purge: no raw mail received before {self.cutoff:%Y-%m-%d %H:%M} UTC is still stored"
        span = f"received {self.oldest:%Y-%m-%d} to {self.newest:%Y-%m-%d}" if self.oldest and self.newest else ""
        return (f"{verb} the raw bytes of {self.mails} mail(s), {self.bytes} bytes, {span} "
                f"(before {self.cutoff:%Y-%m-%d %H:%M} UTC); rows, headers and results are kept")


def _due(cutoff: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(_TABLE.c.raw.is_not(None), _TABLE.c.received_at < cutoff,
                   _TABLE.c.status != MessageStatus.RECEIVED)


def purge_raw(engine: Engine, raw_days: int, *, now: datetime | None = None, dry_run: bool = False,
              batch: int = _BATCH) -> PurgeReport:
    """Set `raw` to NULL on processed mail received more than `raw_days` days before `now`."""
    if raw_days <= 0:
        raise ValueError("raw_days must be positive (0 means keep forever: do not call purge)")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=raw_days)
    with engine.connect() as connection:
        mails, size, oldest, newest = connection.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_TABLE.c.size), 0),
                      sa.func.min(_TABLE.c.received_at), sa.func.max(_TABLE.c.received_at)).where(_due(cutoff))
        ).one()
    report = PurgeReport(cutoff, int(mails), int(size), oldest, newest, dry_run)
    if dry_run or not mails:
        return report
    done = 0
    after = 0
    while True:
        with engine.begin() as connection:
            ids = list(connection.scalars(sa.select(_TABLE.c.id).where(_due(cutoff), _TABLE.c.id > after)
                                          .order_by(_TABLE.c.id).limit(batch)))
            if not ids:
                break
            done += connection.execute(sa.update(_TABLE).where(_TABLE.c.id.in_(ids), _due(cutoff))
                                       .values(raw=None)).rowcount
        after = ids[-1]
    return PurgeReport(cutoff, done, report.bytes, oldest, newest, dry_run=False)


def purged_ids(engine: Engine, ids: Iterable[int]) -> set[int]:
    """Which of these mails no longer hold their raw bytes."""
    wanted = list(ids)
    found: set[int] = set()
    with engine.connect() as connection:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            found.update(connection.scalars(sa.select(_TABLE.c.id).where(_TABLE.c.id.in_(chunk),
                                                                         _TABLE.c.raw.is_(None))))
    return found


class RetentionRunner:
    """The daemon's daily purge, run by the worker between two drains of the queue."""

    def __init__(self, settings: Settings, interval: float = PURGE_INTERVAL) -> None:
        self.raw_days = settings.retention.raw_days
        self.interval = interval
        self.next_at = 0.0  # at start: a restart does not wait a day, and finished work is not redone

    def maybe_run(self, engine: Engine) -> PurgeReport | None:
        if self.raw_days <= 0 or time.monotonic() < self.next_at:
            return None
        # A SQLAlchemyError goes to the worker's outage handling; next_at is unchanged, so it is retried.
        report = purge_raw(engine, self.raw_days)
        self.next_at = time.monotonic() + self.interval
        if report.mails:
            log.info("retention: %s", report.describe())
        return report
