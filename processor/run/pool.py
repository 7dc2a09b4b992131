"""The worker processes of one node, as the daemon sees them: how many, started, woken, restarted, stopped.

Apart from `processor.run.worker` so that the SMTP process never imports what only a worker runs (the
pipeline, the detectors, the notifiers): a worker process imports it itself when it starts.

A worker is a plain child interpreter (`subprocess`), not a `multiprocessing` process: the spawn method
starts a resource-tracker interpreter beside the workers (13 MB resident, for semaphores we do not need).
The daemon hands each worker its arguments on stdin and two descriptors: the read end of its wake pipe
(`WakePipe`) and the give-way counter.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from processor.config import Settings
from processor.run.cores import usable_cores
from processor.run.giveway import GiveWay

__all__ = ["WakeListener", "WakePipe", "WorkerPool", "default_workers", "node_name"]

log = logging.getLogger(__name__)

#: What a worker process runs. Two pickles arrive on its stdin: the daemon's `sys.path` (so it imports the
#: same `processor` from the same place), then its arguments (read by `processor.run.worker.main`).
_WORKER_CODE = "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); " \
               "from processor.run.worker import main; main()"


def node_name(settings: Settings) -> str:
    """This node's name: `processing.node_name`, else the host name. Unique among nodes sharing a database."""
    return settings.processing.node_name or socket.gethostname()


def default_workers(cores: int | None = None) -> int:
    """`processing.workers = 0`: one per CPU core but one, which the SMTP process keeps for accepting mail (at
    least one). On 2 cores that is one worker: a second one drains 22 % (SQLite) to 54 % (PostgreSQL) faster
    end to end but costs ~55 MB more (`bench/perf.py --only workers --only memory`); set it when throughput
    matters more than memory. The database does not change the rule: SQLite's one write lock serialises
    recording, but parsing and classifying still run side by side. `cores`: the usable cores (`usable_cores`:
    the affinity mask a container or `taskset` sets, not the host's count)."""
    return max(1, (cores or usable_cores()) - 1)


class WakePipe:
    """The daemon's end of one worker's wake pipe: a byte wakes the worker, closing the pipe stops it.

    A pipe rather than a shared Event: a worker killed while waiting (kill -9, the OOM killer) leaves nothing
    half-acknowledged behind, and a daemon that dies closes the pipe, which the worker reads as "stop"."""

    def __init__(self) -> None:
        self.read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)

    def ring(self) -> None:
        if self._write_fd < 0:
            return
        with contextlib.suppress(OSError):  # full: it already holds a wake-up; a dead reader is restarted
            os.write(self._write_fd, b"w")

    def handed_over(self) -> None:
        """The worker has its copy of the read end: close ours, so the pipe ends when the worker does."""
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1

    def close(self) -> None:
        """Stop the worker (it reads the end of the pipe), or forget a dead one. Closing twice is harmless:
        the descriptor is never closed again, so a number reused meanwhile is not touched."""
        if self._write_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._write_fd)
            self._write_fd = -1


class WakeListener:
    """A worker's end of its wake pipe, and its stop flag: the pipe closed, or SIGTERM (`request_stop`)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_blocking(fd, False)
        self._closed = False
        self._signals, signalled = os.pipe()  # a signal handler's write ends a wait at once
        os.set_blocking(signalled, False)
        self._signalled = signalled

    def request_stop(self) -> None:
        """Stop after the mail in hand (safe in a signal handler)."""
        self._closed = True
        with contextlib.suppress(OSError):
            os.write(self._signalled, b"s")

    def clear(self) -> None:
        """Forget the wake-ups so far; notice a closed pipe."""
        while not self._closed:
            try:
                if not os.read(self._fd, 4096):
                    self._closed = True
            except BlockingIOError:
                return

    def stopped(self) -> bool:
        """True once the daemon closed the pipe (it asked this worker to stop, or it is gone), or once
        `request_stop` was called (SIGTERM)."""
        self.clear()
        return self._closed

    def wait(self, seconds: float) -> None:
        """Sleep until woken, stopped or `seconds` have passed."""
        if not self._closed:
            select.select([self._fd, self._signals], [], [], seconds)


@dataclass
class _Worker:
    name: str
    process: subprocess.Popen[bytes]
    wake: WakePipe

    def alive(self) -> bool:
        return self.process.poll() is None


class WorkerPool:
    """The worker processes of one node. They share the queue by leases, so any number can run; a dead
    one is restarted (what it held is leased to a dead process until its lease runs out or the node restarts)."""

    def __init__(self, settings: Settings, log_level: str, give_way_on_sqlite: bool = True) -> None:
        self.settings = settings
        self.log_level = log_level
        self.count = settings.processing.workers or default_workers()
        self.workers: list[_Worker] = []
        self.give_way = GiveWay() if give_way_on_sqlite else None

    def start(self) -> None:
        self.workers = [self._spawn(index) for index in range(self.count)]

    def _spawn(self, index: int) -> _Worker:
        # A fresh pipe for each worker: what a dead one left unread must not wake or stop its successor.
        wake = WakePipe()
        fds = [wake.read_fd] + ([self.give_way.fd] if self.give_way is not None else [])
        process = subprocess.Popen([sys.executable, "-c", _WORKER_CODE], stdin=subprocess.PIPE, pass_fds=fds)
        arguments = {"settings": self.settings, "wake_fd": wake.read_fd, "log_level": self.log_level,
                     "index": index, "count": self.count, "parent": os.getpid(),
                     "give_way_fd": self.give_way.fd if self.give_way is not None else None}
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it died at once: restart_dead() sees and logs it
            process.stdin.write(pickle.dumps(sys.path) + pickle.dumps(arguments))
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
        wake.handed_over()
        return _Worker(f"worker-{index + 1}", process, wake)

    def wake(self) -> None:
        for worker in self.workers:
            worker.wake.ring()

    def alive(self) -> bool:
        return bool(self.workers) and all(worker.alive() for worker in self.workers)

    def pids(self) -> list[int]:
        return [worker.process.pid for worker in self.workers]

    def restart_dead(self) -> int:
        restarted = 0
        for index, worker in enumerate(self.workers):
            if not worker.alive():
                log.error("%s exited with code %s; restarting it", worker.name, worker.process.returncode)
                worker.wake.close()
                self.workers[index] = self._spawn(index)
                restarted += 1
        return restarted

    def stop(self, seconds: float) -> None:
        """Ask every worker to finish the mail in hand; end those still busy after `seconds`."""
        for worker in self.workers:
            worker.wake.close()
        deadline = time.monotonic() + seconds
        for worker in self.workers:
            try:
                worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s still busy after %ss; terminating it (its mail stays queued)", worker.name, seconds)
                worker.process.terminate()
                try:
                    worker.process.wait(1.0)
                except subprocess.TimeoutExpired:
                    worker.process.kill()
                    worker.process.wait()
