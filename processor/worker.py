"""The processing worker: a separate process that classifies stored mail after the SMTP 250.

A process, not a thread, so parsing a 25 MiB mail never holds the GIL of the SMTP event loop. It is fed
from the database (status `received`), so mail stored before a crash or restart is picked up again; the
SMTP side only nudges it through an Event to cut latency.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from processor.config import Settings
from processor.pipeline import process_message
from processor.retention import RetentionRunner
from processor.store.db import create_db_engine, session_scope
from processor.store.models import MessageStatus
from processor.store.results import message_ids
from processor.store.tracking import sweep

__all__ = ["Sweeper", "drain", "run_worker"]

log = logging.getLogger(__name__)
_BATCH = 200


def drain(engine: Engine, settings: Settings, stopping: Callable[[], bool] = lambda: False) -> int:
    """Process every `received` mail, oldest first, until none is left or `stopping()`; returns the count."""
    done = 0
    after = 0
    while not stopping():
        with session_scope(engine) as session:
            ids = message_ids(session, statuses=[MessageStatus.RECEIVED], after_id=after, limit=_BATCH)
        if not ids:
            break
        for message_id in ids:
            if stopping():
                break
            process_message(engine, message_id, settings)
            done += 1
        after = ids[-1]
    return done


class Sweeper:
    """Runs the tracking sweep (overdue results become `no_result`) at most every `tracking.sweep_interval`
    seconds, after the queue is drained so results already stored count first. Its state is all in the
    database, so a restarted worker simply sweeps again."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.next_at = 0.0

    def maybe_run(self, engine) -> int:  # type: ignore[no-untyped-def]
        if time.monotonic() < self.next_at:
            return 0
        self.next_at = time.monotonic() + self.settings.tracking.sweep_interval
        try:
            with session_scope(engine) as session:
                return sweep(session, self.settings.tracking)
        except SQLAlchemyError:
            self.next_at = 0.0
            raise  # the loop's database-outage handling
        except Exception:  # a bug in the sweep must not take mail processing down with it
            log.exception("tracking sweep failed")
            return 0


def run_worker(settings: Settings, wake: Event, stop: Event, log_level: str = "INFO") -> None:
    """Entry point of the worker process: loop until `stop` is set."""
    from processor.logsetup import configure_logging

    configure_logging(log_level, settings.logging.format)
    engine = create_db_engine(settings.database.url, durable=False)  # results are derived: see create_db_engine
    failing = False
    sweeper = Sweeper(settings)
    retention = RetentionRunner(settings)
    parent = os.getppid()
    log.info("worker started")
    def stopping() -> bool:
        # The daemon may have been killed (kill -9 sends no stop): its next start brings its own worker.
        return stop.is_set() or os.getppid() != parent

    while not stopping():
        wake.clear()
        try:
            drain(engine, settings, stopping)
            sweeper.maybe_run(engine)
            retention.maybe_run(engine)
        except SQLAlchemyError as exc:
            if not failing:
                log.error("worker: database unavailable, retrying: %s", str(exc).splitlines()[0][:200])
                failing = True
            time.sleep(settings.processing.poll_interval)
            continue
        if failing:
            log.warning("worker: database available again")
            failing = False
        wake.wait(min(settings.processing.poll_interval, settings.tracking.sweep_interval))
    engine.dispose()
    log.info("worker stopped" if stop.is_set() else "worker stopped: the daemon process is gone")
