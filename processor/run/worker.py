"""The processing worker: a separate process that classifies stored mail after the SMTP 250.

A process, not a thread, so parsing a 25 MiB mail never holds the GIL of the SMTP event loop. It is fed
from the database (status `received`), so mail stored before a crash or restart is picked up again; the
SMTP side only nudges it through an Event to cut latency.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.synchronize import Event
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from processor.config import Settings
from processor.notify.ageing import VerdictAgeing
from processor.notify.digest import DigestScheduler
from processor.notify.dispatch import Dispatcher
from processor.ops.retention import RetentionRunner
from processor.run.pipeline import process_messages
from processor.store.db import create_db_engine, read_only, session_scope
from processor.store.models import InboundMessage, MessageStatus
from processor.store.notify import enqueue_no_result
from processor.store.tracking import sweep

__all__ = ["Sweeper", "drain", "run_worker"]

log = logging.getLogger(__name__)
_SCAN = 500
_NICENESS = 10
_YIELD_SECONDS = 0.2
# Mails recorded per transaction. On SQLite, while the SMTP side has mail waiting for its commit, one mail
# per transaction: SQLite has one write lock and the SMTP side must never wait long for it (measured: batches
# of 20 halved acceptance under load). Otherwise, and always on PostgreSQL (row locks), batches.
_BATCH = 20


def drain(engine: Engine, settings: Settings, stopping: Callable[[], bool] = lambda: False,
          shard: tuple[int, int] = (0, 1), before_write: Callable[[], None] | None = None,
          batch_size: Callable[[], int] = lambda: _BATCH) -> int:
    """Process every `received` mail, oldest first, until none is left or `stopping()`; returns the count.

    Fresh mail goes in batches (one transaction to claim, one to record: far fewer commits than mails);
    a mail already attempted before went through a crash or a kill, so it is processed alone. With several
    workers, worker `shard = (i, n)` takes the mails whose id is i modulo n: no two take the same mail.
    """
    index, count = shard
    done = 0
    after = 0
    while not stopping():
        with read_only(engine).connect() as connection:
            pending = connection.execute(
                sa.select(InboundMessage.id, InboundMessage.attempts)
                .where(InboundMessage.status == MessageStatus.RECEIVED, InboundMessage.id > after,
                       *([InboundMessage.id % count == index] if count > 1 else []))
                .order_by(InboundMessage.id).limit(_SCAN)
            ).all()
        if not pending:
            break
        for batch in _batches(pending, batch_size):
            if stopping():
                return done
            done += len(process_messages(engine, batch, settings, before_write))
        after = pending[-1].id
    return done


def _batches(pending: Sequence[Any], size: Callable[[], int]) -> Iterator[list[int]]:
    batch: list[int] = []
    for message_id, attempts in pending:
        if attempts:
            if batch:
                yield batch
                batch = []
            yield [message_id]
            continue
        batch.append(message_id)
        if len(batch) >= size():
            yield batch
            batch = []
    if batch:
        yield batch


def _after_new_mail(smtp_waiting: Any) -> Callable[[], None] | None:
    """SQLite has one write lock: while mail waits for its commit on the SMTP side, hold back (a little)
    so that new mail is made durable first and the processing backlog, which is safe, waits instead."""
    if smtp_waiting is None:
        return None

    def wait() -> None:
        deadline = time.monotonic() + _YIELD_SECONDS
        while smtp_waiting.value > 0 and time.monotonic() < deadline:
            time.sleep(0.001)

    return wait


class Every:
    """Runs `job.run_once(engine)` at most every `interval` seconds (webhook dispatch, the daily digest); a
    failing job is logged and tried again next time, and never takes mail processing down with it."""

    def __init__(self, name: str, job: Any, interval: float) -> None:
        self.name, self.job, self.interval = name, job, interval
        self.next_at = 0.0

    def maybe_run(self, engine: Engine) -> int:
        if time.monotonic() < self.next_at:
            return 0
        self.next_at = time.monotonic() + self.interval
        try:
            return int(self.job.run_once(engine))
        except SQLAlchemyError:
            raise  # the loop's database-outage handling
        except Exception:
            log.exception("%s failed", self.name)
            return 0


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
                return sweep(session, self.settings.tracking,
                             on_swept=lambda s, ids: enqueue_no_result(s, ids, self.settings))
        except SQLAlchemyError:
            self.next_at = 0.0
            raise  # the loop's database-outage handling
        except Exception:  # a bug in the sweep must not take mail processing down with it
            log.exception("tracking sweep failed")
            return 0


def run_worker(settings: Settings, wake: Event, stop: Event, log_level: str = "INFO",
               shard: tuple[int, int] = (0, 1), smtp_waiting: Any = None) -> None:
    """Entry point of a worker process: loop until `stop` is set. The first shard also runs the tracking
    sweep and retention, which need one runner only."""
    from processor.logsetup import configure_logging

    configure_logging(log_level, settings.logging.format)
    # Accepting mail comes first: on a busy machine the scheduler gives the SMTP process the CPU and the
    # backlog waits (durably) in the database.
    with contextlib.suppress(OSError):
        os.nice(_NICENESS)
    engine = create_db_engine(settings.database.url, durable=False)  # results are derived: see create_db_engine
    failing = False
    housekeeping = shard[0] == 0
    # Only SQLite has the one write lock to give way on; PostgreSQL locks rows.
    gives_way = engine.dialect.name == "sqlite" and smtp_waiting is not None
    before_write = _after_new_mail(smtp_waiting) if gives_way else None

    def batch_size() -> int:
        return 1 if gives_way and smtp_waiting.value > 0 else _BATCH

    sweeper = Sweeper(settings)
    retention = RetentionRunner(settings)
    notify = [Every("webhook and mail dispatch", Dispatcher(settings), settings.delivery.interval),
              Every("daily digest", DigestScheduler(settings), 60.0),
              Every("stop list ageing", VerdictAgeing(settings), 3600.0)]
    parent = os.getppid()
    log.info("worker %d of %d started", shard[0] + 1, shard[1])

    def stopping() -> bool:
        # The daemon may have been killed (kill -9 sends no stop): its next start brings its own worker.
        return stop.is_set() or os.getppid() != parent

    while not stopping():
        wake.clear()
        try:
            drain(engine, settings, stopping, shard, before_write, batch_size)
            if housekeeping:
                sweeper.maybe_run(engine)
                retention.maybe_run(engine)
                for job in notify:
                    job.maybe_run(engine)
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
