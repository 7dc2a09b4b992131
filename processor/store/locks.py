"""Lock primitives: per-key transaction locks for recording, and leases for singleton jobs.

Recording needs no lock that spans all workers. What must be serialised is narrower: a submission and a
result about the same fax (same number, or same Message-ID) recorded at the same moment by two workers, on
one node or several, would each miss the other. Each recording transaction therefore takes a transaction-
scoped PostgreSQL advisory lock per key it touches, in sorted order (no deadlock between two recorders);
workers recording different numbers never wait for each other. SQLite has one writer at a time already.

Singleton jobs (the tracking sweep, retention, dispatchers) run on one worker of one node at a time, chosen
by a lease row in `job_leases`: renewed while its holder lives, taken over by another worker once it runs
out, so a dead node's jobs move elsewhere within one lease.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from processor.store.models import JobLease

__all__ = ["JobLeases", "lock_keys"]

_LEASES = JobLease.__table__


def lock_keys(session: Session, keys: Iterable[str]) -> None:
    """Serialise this transaction with every other one that locks any of `keys` (PostgreSQL; on SQLite the
    write lock already serialises). Released at commit or rollback."""
    if session.get_bind().dialect.name != "postgresql":
        return
    ordered = sorted({_key(k) for k in keys if k})
    if ordered:  # one round trip; a function scan yields the array's elements, so the locks come in this order
        session.execute(sa.text("SELECT pg_advisory_xact_lock(key) FROM unnest(CAST(:keys AS bigint[])) AS key"),
                        {"keys": ordered})


def _key(text: str) -> int:
    """A stable signed 64-bit key for a string (hash() differs between processes)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


class JobLeases:
    """Who runs each singleton job. `hold(name)` is True while this worker holds (or has just taken) the
    job's lease; call it before each run: it renews the lease."""

    def __init__(self, engine: Engine, holder: str, lease_seconds: float = 30.0) -> None:
        self.engine = engine
        self.holder = holder[:128]
        self.lease = timedelta(seconds=lease_seconds)

    def hold(self, name: str) -> bool:
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            taken = connection.execute(
                sa.update(_LEASES).where(_LEASES.c.name == name,
                                         (_LEASES.c.holder == self.holder) | (_LEASES.c.lease_until < now))
                .values(holder=self.holder, lease_until=now + self.lease)).rowcount
            if taken:
                return True
            exists = connection.scalar(sa.select(sa.func.count()).select_from(_LEASES).where(_LEASES.c.name == name))
            if exists:
                return False
        try:
            with self.engine.begin() as connection:
                connection.execute(sa.insert(_LEASES).values(name=name, holder=self.holder,
                                                             lease_until=now + self.lease))
        except sa.exc.IntegrityError:
            return False  # another worker created it first: it holds it
        return True

    def ran(self, name: str) -> None:
        """Note a finished run (for operators: `SELECT * FROM job_leases`)."""
        with self.engine.begin() as connection:
            connection.execute(sa.update(_LEASES).where(_LEASES.c.name == name, _LEASES.c.holder == self.holder)
                               .values(last_run_at=datetime.now(UTC)))

    def release_all(self) -> None:
        """At a clean stop: let another worker take over at once."""
        with self.engine.begin() as connection:
            connection.execute(sa.update(_LEASES).where(_LEASES.c.holder == self.holder)
                               .values(lease_until=datetime(1970, 1, 1, tzinfo=UTC)))
