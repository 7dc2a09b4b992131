"""Hourly housekeeping of the notifications: the stop list's verdicts change with time alone (failures older
than `numbers.decay_days` or outside the transient window stop counting), so every open verdict is looked at
again; numbers whose results were stored before the stop list existed get a row; and delivered outbox rows
older than `KEEP_DELIVERED` are dropped, so the outbox does not grow for years."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from processor.config import Settings
from processor.store.db import session_scope
from processor.store.notify import enqueue_number_changes, prune_delivered
from processor.store.numbers import backfill_numbers, refresh_open_verdicts

__all__ = ["KEEP_DELIVERED", "VerdictAgeing"]

KEEP_DELIVERED = timedelta(days=30)


class VerdictAgeing:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run_once(self, engine: Engine, now: datetime | None = None) -> int:
        """Returns how many numbers changed verdict."""
        now = now or datetime.now(UTC)
        rules, country = self.settings.numbers, self.settings.processing.default_country
        with session_scope(engine) as session:
            changes = backfill_numbers(session, rules, country, now)
            changes += refresh_open_verdicts(session, rules, country, now)
            enqueue_number_changes(session, changes, self.settings, now)
            prune_delivered(session, now - KEEP_DELIVERED)
        return len(changes)
