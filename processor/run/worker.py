"""The processing workers: separate processes that classify stored mail after the SMTP 250.

Processes, not threads, so parsing a 25 MiB mail never holds the GIL of the SMTP event loop. They are fed
from the database (the work queue, `processor.store.inbound.WorkQueue`), so mail stored before a crash or
restart is picked up again, by any worker on any node; the SMTP side only nudges them through an Event to
cut latency. Periodic jobs run from the same loop (`processor.run.jobs`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from processor.config import Settings
from processor.notify.ageing import VerdictAgeing
from processor.notify.digest import DigestScheduler
from processor.notify.dispatch import Dispatcher
from processor.ops.retention import PURGE_INTERVAL, purge_due
from processor.run.giveway import GiveWay
from processor.run.heap import freeze_long_lived
from processor.run.jobs import Job, JobRunner
from processor.run.pipeline import Pipeline
from processor.run.pool import WakeListener, node_name
from processor.store.db import create_db_engine, session_scope
from processor.store.inbound import WorkQueue
from processor.store.locks import JobLeases
from processor.store.notify import enqueue_no_result
from processor.store.tracking import sweep

__all__ = ["drain", "housekeeping_jobs", "main", "run_worker"]

log = logging.getLogger(__name__)
_NICENESS = 10
#: Mails claimed together, and recorded per transaction (one per transaction while the SQLite give-way says so;
#: the batch is still claimed as one: a claim per mail was one of the seven or eight statements a mail cost).
#: A recording transaction costs about 5 ms whatever its size (its claim, the lease check, the tracking
#: lookahead, the stop list's reads, the commit): at 20 mails that was half of a mail's recording, and two
#: workers drained 1,760-2,080 InterFAX results a second on SQLite, 1,420 on PostgreSQL; at 50, 2,770-2,930 and
#: 2,400. More gains little (100: 3,150-3,320 and 2,240) and holds SQLite's write lock longer when the SMTP side
#: wakes up in the middle of a batch.
BATCH = 50


def drain(engine: Engine, settings: Settings, stopping: Callable[[], bool] = lambda: False,
          worker: str | None = None, give_way: GiveWay | None = None,
          between_batches: Callable[[], object] = lambda: None, claim_ahead: Callable[[], bool] = lambda: True) -> int:
    """Claim and process waiting mail, oldest first, until none is left or `stopping()`; returns the count.
    `between_batches` runs after each batch (the worker renews its job leases and runs due jobs there). While
    `claim_ahead()`, each batch's (last) recording transaction claims the next batch (`Pipeline.run_and_claim`),
    so a claim costs no write transaction of its own; not when a job is about to run between the batches, which
    would hold the claimed mails back from the other workers. A worker told to stop hands a batch claimed ahead
    back unstarted."""
    node = node_name(settings)
    queue = WorkQueue(engine, worker or f"{node}/{os.getpid()}", settings.processing.lease_seconds)
    pipeline = Pipeline(engine, settings, queue, node, give_way)

    done = 0
    mails = [] if stopping() else queue.claim(BATCH)
    while mails:
        ahead = claim_ahead() and not stopping()
        outcomes, mails = pipeline.run_and_claim(mails, BATCH if ahead else 0)
        done += len(outcomes)
        between_batches()
        if stopping():
            queue.hand_back(mails)
            break
        if not ahead:
            mails = queue.claim(BATCH)
    return done


def housekeeping_jobs(settings: Settings) -> list[Job]:
    """The singleton jobs every worker offers to run: the tracking sweep, the daily retention purge, and the
    notifications (webhook and mail dispatch, the daily digest, the stop list's ageing)."""
    dispatcher, digest, ageing = Dispatcher(settings), DigestScheduler(settings), VerdictAgeing(settings)

    def sweep_overdue(engine: Engine) -> int:
        with session_scope(engine) as session:
            return sweep(session, settings.tracking, on_swept=lambda s, ids: enqueue_no_result(s, ids, settings))

    return [Job("tracking_sweep", settings.tracking.sweep_interval, sweep_overdue, when_idle=True),
            Job("retention", PURGE_INTERVAL, lambda engine: purge_due(engine, settings)),
            Job("notify_dispatch", settings.delivery.interval, dispatcher.run_once),
            Job("daily_digest", 60.0, digest.run_once),
            Job("stop_list_ageing", 3600.0, ageing.run_once)]


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when the daemon that spawned it dies (Linux `PR_SET_PDEATHSIG`).

    A node killed with `kill -9` must behave as a node that crashed: workers left behind would go on renewing
    their leases, so the node's singleton jobs and claimed mail would stay held by a node that is gone. The
    signal is SIGKILL, not SIGTERM, which a worker takes as "finish the batch", and a worker blocked in the
    database would finish nothing. The daemon spawns its workers from its main thread, whose end is the
    process's end. Elsewhere the worker notices the daemon's end between batches (its wake pipe closes)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the daemon died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    """Entry point of a worker process (`processor.run.pool.WorkerPool` starts it): its arguments arrive
    pickled on stdin, its wake pipe and the give-way counter as inherited descriptors."""
    import multiprocessing
    import pickle

    arguments = pickle.load(sys.stdin.buffer)
    die_with_parent(arguments["parent"])
    multiprocessing.current_process().name = f"worker-{arguments['index'] + 1}"  # logging's processName
    wake = WakeListener(arguments["wake_fd"])
    # systemd's stop sends SIGTERM to every process of the service at once: the worker finishes the mail in
    # hand, as the daemon's own stop asks, instead of dying in the middle of recording it.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: wake.request_stop())
    give_way_fd = arguments["give_way_fd"]
    run_worker(arguments["settings"], wake, arguments["log_level"],
               arguments["index"], GiveWay(give_way_fd) if give_way_fd is not None else None,
               arguments["count"], arguments["parent"])


def run_worker(settings: Settings, wake: WakeListener, log_level: str = "INFO", index: int = 0,
               give_way: GiveWay | None = None, count: int = 1, parent: int | None = None) -> None:
    """Loop until the daemon closes the wake pipe or is gone."""
    from processor.logsetup import configure_logging

    configure_logging(log_level, settings.logging.format)
    # Accepting mail comes first: on a busy machine the scheduler gives the SMTP process the CPU and the
    # backlog waits (durably) in the database.
    with contextlib.suppress(OSError):
        os.nice(_NICENESS)
    engine = create_db_engine(settings.database.url, durable=False)  # results are derived: see create_db_engine
    worker = f"{node_name(settings)}/{os.getpid()}"
    if engine.dialect.name != "sqlite":
        give_way = None  # PostgreSQL locks rows: nothing to give way on
    jobs = JobRunner(engine, JobLeases(engine, worker), housekeeping_jobs(settings))
    parent = parent or os.getppid()
    failing = False
    frozen = False
    log.info("worker %d of %d started as %s", index + 1, count, worker)

    def stopping() -> bool:
        # The daemon may have been killed (kill -9 sends no stop): its next start brings its own workers.
        return wake.stopped() or os.getppid() != parent

    while not stopping():
        wake.clear()
        try:
            if failing:  # the batch an outage cut short is still leased to this worker: take it again at once
                WorkQueue(engine, worker).release_own()
            done = drain(engine, settings, stopping, worker, give_way,
                         between_batches=lambda: stopping() or jobs.run_due(idle=False),
                         claim_ahead=lambda: not jobs.any_due(idle=False))
            if done and not frozen:  # the first mail imported the parsers and detectors: see processor.run.heap
                log.debug("%d objects frozen out of full collections", freeze_long_lived())
                frozen = True
            jobs.run_due()
        except SQLAlchemyError as exc:
            if not failing:
                log.error("worker: database unavailable, retrying: %s", str(exc).splitlines()[0][:200])
                failing = True
            time.sleep(settings.processing.poll_interval)
            continue
        if failing:
            log.warning("worker: database available again")
            failing = False
        wake.wait(jobs.wait_hint(settings.processing.poll_interval))
    with contextlib.suppress(SQLAlchemyError):
        jobs.leases.release_all()  # a worker that ends hands its singleton jobs over at once
    engine.dispose()
    log.info("worker stopped" if os.getppid() == parent else "worker stopped: the daemon process is gone")
