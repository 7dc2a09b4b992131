"""The processing workers: separate processes that classify stored mail after the SMTP 250.

Processes, not threads, so parsing a 25 MiB mail never holds the GIL of the SMTP event loop. They are fed
from the database (the work queue, `processor.store.inbound.WorkQueue`), so mail stored before a crash or
restart is picked up again, by any worker on any node; the SMTP side only nudges them through an Event to
cut latency. Periodic jobs run from the same loop (`processor.run.jobs`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from processor.config import Settings
from processor.notify.ageing import VerdictAgeing
from processor.notify.digest import DigestScheduler
from processor.notify.dispatch import Dispatcher
from processor.ops.retention import PURGE_INTERVAL, purge_due
from processor.run.giveway import GiveWay
from processor.run.jobs import Job, JobRunner
from processor.run.pipeline import Pipeline
from processor.store.db import create_db_engine, session_scope
from processor.store.inbound import WorkQueue
from processor.store.locks import JobLeases
from processor.store.notify import enqueue_no_result
from processor.store.tracking import sweep

__all__ = ["WorkerPool", "default_workers", "drain", "node_name", "run_worker"]

log = logging.getLogger(__name__)
_NICENESS = 10
#: Mails claimed and recorded per transaction (one per transaction while the SQLite give-way says so).
BATCH = 20


def node_name(settings: Settings) -> str:
    """This node's name: `processing.node_name`, else the host name. Unique among nodes sharing a database."""
    return settings.processing.node_name or socket.gethostname()


def drain(engine: Engine, settings: Settings, stopping: Callable[[], bool] = lambda: False,
          worker: str | None = None, give_way: GiveWay | None = None,
          between_batches: Callable[[], object] = lambda: None) -> int:
    """Claim and process waiting mail, oldest first, until none is left or `stopping()`; returns the count.
    `between_batches` runs after each batch (the worker renews its job leases there)."""
    node = node_name(settings)
    queue = WorkQueue(engine, worker or f"{node}/{os.getpid()}", settings.processing.lease_seconds)
    pipeline = Pipeline(engine, settings, queue, node, give_way)
    done = 0
    while not stopping():
        mails = queue.claim(give_way.batch_size(BATCH) if give_way is not None else BATCH)
        if not mails:
            break
        done += len(pipeline.run(mails))
        between_batches()
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
    """Have the kernel end this worker when the daemon that spawned it dies (Linux `PR_SET_PDEATHSIG`).

    A node killed with `kill -9` must behave as a node that crashed: workers left behind would go on renewing
    their leases, so the node's singleton jobs and claimed mail would stay held by a node that is gone. The
    daemon spawns its workers from its main thread, whose end is the process's end. Elsewhere the worker
    notices the daemon's end between batches (`os.getppid()`)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the daemon died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def run_worker(settings: Settings, wake: Event, stop: Event, log_level: str = "INFO", index: int = 0,
               give_way: GiveWay | None = None, count: int = 1, parent: int | None = None) -> None:
    """Entry point of a worker process: loop until `stop` is set or the daemon is gone."""
    from processor.logsetup import configure_logging

    if parent is not None:
        die_with_parent(parent)

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
    log.info("worker %d of %d started as %s", index + 1, count, worker)

    def stopping() -> bool:
        # The daemon may have been killed (kill -9 sends no stop): its next start brings its own workers.
        return stop.is_set() or os.getppid() != parent

    while not stopping():
        wake.clear()
        try:
            drain(engine, settings, stopping, worker, give_way,
                  between_batches=lambda: stopping() or jobs.run_due(idle=False))
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
    log.info("worker stopped" if stop.is_set() else "worker stopped: the daemon process is gone")


def default_workers(database_url: str) -> int:
    """`processing.workers = 0`: one worker on SQLite, whose single write lock a second worker only waits for;
    on PostgreSQL one per CPU core but one, which the SMTP process keeps for accepting mail (at least one).
    Measured by `bench/perf.py --only workers`; each worker also costs ~55 MB."""
    if database_url.startswith("sqlite"):
        return 1
    return max(1, (os.cpu_count() or 1) - 1)


class WorkerPool:
    """The worker processes of one node. They share the queue by leases, so any number can run; a dead
    one is restarted (what it held is leased to a dead process until its lease runs out or the node restarts)."""

    def __init__(self, settings: Settings, log_level: str, give_way_on_sqlite: bool = True) -> None:
        self.settings = settings
        self.log_level = log_level
        self.count = settings.processing.workers or default_workers(settings.database.url)
        self.ctx = multiprocessing.get_context("spawn")
        self.slots: list[tuple[BaseProcess, Event, Event]] = []
        self.give_way = GiveWay(self.ctx) if give_way_on_sqlite else None

    def start(self) -> None:
        self.slots = [self._spawn(index) for index in range(self.count)]

    def _spawn(self, index: int) -> tuple[BaseProcess, Event, Event]:
        # Fresh Events for each worker: one killed while waiting on `wake` (kill -9, the OOM killer) leaves the
        # Event's condition expecting a wake-up acknowledgement that never comes, and the next set() would block
        # the event loop for ever.
        wake, stop = self.ctx.Event(), self.ctx.Event()
        process = self.ctx.Process(target=run_worker, name=f"worker-{index + 1}",
                                   args=(self.settings, wake, stop, self.log_level, index, self.give_way,
                                         self.count, os.getpid()))
        process.start()
        return process, wake, stop

    def wake(self) -> None:
        for _process, wake, _stop in self.slots:
            wake.set()

    def alive(self) -> bool:
        return bool(self.slots) and all(process.is_alive() for process, _wake, _stop in self.slots)

    def restart_dead(self) -> int:
        restarted = 0
        for index, (process, _wake, _stop) in enumerate(self.slots):
            if not process.is_alive():
                log.error("%s exited with code %s; restarting it", process.name, process.exitcode)
                self.slots[index] = self._spawn(index)
                restarted += 1
        return restarted

    def stop(self, seconds: float) -> None:
        """Ask every worker to finish the mail in hand; terminate those still busy after `seconds`."""
        for _process, wake, stop in self.slots:
            stop.set()
            wake.set()
        deadline = time.monotonic() + seconds
        for process, _wake, _stop in self.slots:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("%s still busy after %ss; terminating it (its mail stays queued)", process.name, seconds)
                process.terminate()
                process.join(1.0)
