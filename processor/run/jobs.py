"""One runner for the periodic jobs of the workers: the tracking sweep, retention, and any later dispatcher.

Every worker runs the same loop; a singleton job runs only on the worker that holds its lease
(`processor.store.locks.JobLeases`), so with several workers on several nodes each job runs in one place at a
time, and moves to another worker within one lease when its holder dies. A job is a name, an interval and a
function of the engine; its state is all in the database, so a restarted worker simply runs it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from processor.store.locks import JobLeases

__all__ = ["Job", "JobRunner"]

log = logging.getLogger(__name__)

#: How often a worker renews the leases it holds and looks for jobs whose holder has gone (a third of the
#: lease, so a live holder never loses its lease between two renewals; a job moves within lease + this).
RENEW_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval: float
    """Seconds between two runs on the worker that holds the job."""
    run: Callable[[Engine], object]
    when_idle: bool = False
    """Run only when the queue is drained (the tracking sweep: results already stored must count first)."""


class JobRunner:
    def __init__(self, engine: Engine, leases: JobLeases, jobs: Sequence[Job]) -> None:
        self.engine = engine
        self.leases = leases
        self.jobs = tuple(jobs)
        self._next_run = {job.name: 0.0 for job in self.jobs}
        self._renew_at = {job.name: 0.0 for job in self.jobs}
        self._held = {job.name: False for job in self.jobs}

    def run_due(self, idle: bool = True) -> int:
        """Renew or take the leases that are due, and run every held job that is due (one that waits for an
        idle queue only when `idle`); returns how many ran. The worker calls this between batches too, so a
        busy worker keeps its leases. Database errors propagate (the worker's outage handling); a bug in one
        job is logged and does not stop mail processing."""
        ran = 0
        for job in self.jobs:
            now = time.monotonic()
            if now >= self._renew_at[job.name]:
                self._held[job.name] = self.leases.hold(job.name)
                self._renew_at[job.name] = now + RENEW_SECONDS
            if not self._held[job.name] or now < self._next_run[job.name] or (job.when_idle and not idle):
                continue
            try:
                job.run(self.engine)
            except SQLAlchemyError:
                self._renew_at[job.name] = 0.0  # after an outage, make sure the lease is still ours
                raise
            except Exception:
                log.exception("job %s failed", job.name)
            self._next_run[job.name] = time.monotonic() + job.interval
            self.leases.ran(job.name)
            ran += 1
        return ran

    def any_due(self, idle: bool = True) -> bool:
        """Might `run_due(idle)` run a job now? Yes for a due job this worker holds, or may take at the lease
        renewal that is due (a renewal alone is no job: it is one quick statement)."""
        now = time.monotonic()
        return any((self._held[job.name] or now >= self._renew_at[job.name]) and now >= self._next_run[job.name]
                   and (idle or not job.when_idle) for job in self.jobs)

    def wait_hint(self, default: float) -> float:
        """Seconds until the next job is due (the worker sleeps at most this long)."""
        if not self.jobs:
            return default
        upcoming = [self._renew_at[name] for name in self._renew_at]
        upcoming += [self._next_run[name] for name, held in self._held.items() if held]
        return max(0.05, min(default, min(upcoming) - time.monotonic()))
