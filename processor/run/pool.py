"""The worker processes of one node, as the daemon sees them: how many, started, woken, restarted, stopped.

Apart from `processor.run.worker` so that the SMTP process never imports what only a worker runs (the
pipeline, the detectors, the notifiers): a worker process imports it itself when it starts.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import time
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import Any

from processor.config import Settings
from processor.run.giveway import GiveWay

__all__ = ["WorkerPool", "default_workers", "node_name"]

log = logging.getLogger(__name__)


def node_name(settings: Settings) -> str:
    """This node's name: `processing.node_name`, else the host name. Unique among nodes sharing a database."""
    return settings.processing.node_name or socket.gethostname()


def _worker_main(*args: Any) -> None:
    from processor.run.worker import run_worker

    run_worker(*args)


def default_workers() -> int:
    """`processing.workers = 0`: one per CPU core but one, which the SMTP process keeps for accepting mail (at
    least one). On 2 cores that is one worker: a second one drains 22 % (SQLite) to 54 % (PostgreSQL) faster
    end to end but costs ~55 MB more (`bench/perf.py --only workers --only memory`); set it when throughput
    matters more than memory. The database does not change the rule: SQLite's one write lock serialises
    recording, but parsing and classifying still run side by side."""
    return max(1, (os.cpu_count() or 1) - 1)


class WorkerPool:
    """The worker processes of one node. They share the queue by leases, so any number can run; a dead
    one is restarted (what it held is leased to a dead process until its lease runs out or the node restarts)."""

    def __init__(self, settings: Settings, log_level: str, give_way_on_sqlite: bool = True) -> None:
        self.settings = settings
        self.log_level = log_level
        self.count = settings.processing.workers or default_workers()
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
        process = self.ctx.Process(target=_worker_main, name=f"worker-{index + 1}",
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
