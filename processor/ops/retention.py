"""Retention: drop raw mail bytes after `retention.raw_days`, and those of mail classified `unrelated` after
`retention.unrelated_raw_days` (private by default: a BCC recipe copies every outgoing mail here, and what is
not about a fax is nobody's business), keep everything else.

Only the mail's `inbound_raw` row is deleted: its `inbound_messages` row, envelope, header summary (message_id, subject,
from_address), status, kind, and every result row stay, so the SQL interface answers the same questions as
before. Mail still waiting for processing (`received`) is never purged.

The purge runs in small transactions and is idempotent: a second run finds nothing to do (the SQL is
store/retention.py). `faxbounce purge` runs it from the shell; the daemon's worker runs it once a day
(`purge_due`, a singleton job). The state of a purge is the data itself (raw bytes present or not), so a
restarted worker neither skips a day nor redoes finished work: its first run after a start only touches mail
that crossed the cut-off since the last one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from processor.config import Settings
from processor.store.retention import Cutoffs, drop_raw, due_raw, purged_ids

__all__ = ["PURGE_INTERVAL", "PurgeReport", "purge_due", "purge_raw", "purged_ids"]

log = logging.getLogger(__name__)

PURGE_INTERVAL = 24 * 3600.0
"""Seconds between two purges in the daemon."""
_BATCH = 500


@dataclass(frozen=True, slots=True)
class PurgeReport:
    cutoffs: Cutoffs
    mails: int
    bytes: int
    oldest: datetime | None
    newest: datetime | None
    dry_run: bool

    def describe(self) -> str:
        verb = "would drop" if self.dry_run else "dropped"
        if not self.mails:
            return f"nothing to purge: no raw mail {self._before()} is still stored"
        span = f"received {self.oldest:%Y-%m-%d} to {self.newest:%Y-%m-%d}" if self.oldest and self.newest else ""
        return (f"{verb} the raw bytes of {self.mails} mail(s), {self.bytes} bytes, {span} "
                f"({self._before()}); rows, headers and results are kept")

    def _before(self) -> str:
        rules = []
        if self.cutoffs.before is not None:
            rules.append(f"received before {self.cutoffs.before:%Y-%m-%d %H:%M} UTC")
        if self.cutoffs.unrelated_before is not None:
            rules.append(f"unrelated mail received before {self.cutoffs.unrelated_before:%Y-%m-%d %H:%M} UTC")
        return " or ".join(rules)


def purge_raw(engine: Engine, raw_days: int, *, unrelated_raw_days: int = 0, now: datetime | None = None,
              dry_run: bool = False, batch: int = _BATCH) -> PurgeReport:
    """Delete the raw bytes (`inbound_raw`) of processed mail received more than `raw_days` days before `now`,
    and of processed `unrelated` mail received more than `unrelated_raw_days` days before; 0 turns a rule off."""
    if raw_days < 0 or unrelated_raw_days < 0:
        raise ValueError("raw_days and unrelated_raw_days must be 0 (no such rule) or a number of days")
    if not (raw_days or unrelated_raw_days):
        raise ValueError("raw_days and unrelated_raw_days are both 0 (keep forever): do not call purge")
    now = now or datetime.now(UTC)
    cutoffs = Cutoffs(now - timedelta(days=raw_days) if raw_days else None,
                      now - timedelta(days=unrelated_raw_days) if unrelated_raw_days else None)
    due = due_raw(engine, cutoffs)
    report = PurgeReport(cutoffs, due.mails, due.bytes, due.oldest, due.newest, dry_run)
    if dry_run or not due.mails:
        return report
    return PurgeReport(cutoffs, drop_raw(engine, cutoffs, batch), due.bytes, due.oldest, due.newest, dry_run=False)


def purge_due(engine: Engine, settings: Settings) -> PurgeReport | None:
    """The daemon's daily purge with the configured days (a job of `processor.run.jobs`: it decides when);
    None when both rules are off."""
    retention = settings.retention
    if not (retention.raw_days or retention.unrelated_raw_days):
        return None
    # A SQLAlchemyError goes to the worker's outage handling; the job stays due, so it is retried.
    report = purge_raw(engine, retention.raw_days, unrelated_raw_days=retention.unrelated_raw_days)
    if report.mails:
        log.info("retention: %s", report.describe())
    return report
