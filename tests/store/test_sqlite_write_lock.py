"""SQLite's one write lock: a mail writer (the SMTP side) tries for it again every millisecond or two, where
SQLite's own busy handler sleeps 1, 2, 5, 10, 15 ... ms; workers keep SQLite's handler and so leave it to
the mail writers; and both still give up after `BUSY_TIMEOUT_SECONDS` with "database is locked".

SQLite only: PostgreSQL has no database-wide write lock (its writers lock rows)."""

from __future__ import annotations

import sqlite3
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from processor.store import db
from processor.store.db import create_db_engine, migrate
from processor.store.inbound import Envelope, RawStore


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lock.sqlite3'}"
    migrate(create_db_engine(url))
    return url


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every pause the mail writer takes between its tries for the lock."""
    taken: list[float] = []

    def sleep(seconds: float) -> None:
        taken.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(db, "time", types.SimpleNamespace(monotonic=time.monotonic, sleep=sleep))
    return taken


def _hold_write_lock(url: str, seconds: float) -> Iterator[threading.Thread]:
    """Another connection (as another process would) holds the write lock for `seconds`."""
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")

    def release() -> None:
        time.sleep(seconds)
        holder.execute("COMMIT")
        holder.close()

    thread = threading.Thread(target=release)
    thread.start()
    yield thread
    thread.join()


def test_a_mail_writer_waits_for_the_lock_in_short_pauses_and_gets_it(database: str, pauses: list[float]) -> None:
    engine = create_db_engine(database)
    for _ in _hold_write_lock(database, 0.5):
        stored = RawStore(engine).put(b"Subject: waited\r\n\r\nbody\r\n", Envelope(None, ("fax@example.com",)))
    assert not stored.duplicate
    assert max(pauses) <= 0.002, "it tries again every millisecond or two while the lock is held"
    assert len(pauses) >= 25  # ~250 on an idle machine; SQLite's own handler makes none here
    with engine.connect() as connection:  # SQLite's handler is back on for everything else
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.BUSY_TIMEOUT_SECONDS * 1000


def test_a_mail_writer_gives_up_after_the_busy_timeout(database: str, pauses: list[float],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "BUSY_TIMEOUT_SECONDS", 0.2)
    engine = create_db_engine(database)
    for _ in _hold_write_lock(database, 2.0):
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="database is locked"), engine.begin():
            pass
        waited = time.monotonic() - started
    assert 0.2 <= waited < 1.8
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 200


def test_a_worker_waits_with_sqlites_own_busy_handler(database: str, pauses: list[float]) -> None:
    worker_engine = create_db_engine(database, durable=False)
    for _ in _hold_write_lock(database, 0.2):
        with worker_engine.begin() as connection:
            connection.exec_driver_sql("UPDATE inbound_messages SET attempts = attempts")
    assert pauses == [], "a worker's wait is SQLite's, with its growing pauses"


def test_a_worker_reads_claimed_mails_bytes_while_another_holds_the_write_lock(database: str) -> None:
    """Parsing starts with reading the mail's bytes: a worker must not wait for another worker's (or the SMTP
    side's) write transaction to end before it can read them."""
    from processor.store.inbound import WorkQueue

    RawStore(create_db_engine(database)).put_many(
        [(f"Subject: {n}\r\n\r\nbody {n}\r\n".encode(), Envelope("", ("fax@example.jp",))) for n in range(3)])
    queue = WorkQueue(create_db_engine(database, durable=False), "node/1")
    claimed = queue.claim(10)
    for _ in _hold_write_lock(database, 1.2):
        started = time.monotonic()
        raws = [queue.raw(mail) for mail in claimed]
        took = time.monotonic() - started
    assert [raw.split(b"\r\n")[0] for raw in raws] == [b"Subject: 0", b"Subject: 1", b"Subject: 2"]
    assert took < 0.5, f"the read waited {took:.1f} s for the write lock"


@pytest.mark.parametrize("retried", [False, True])
def test_a_claim_takes_the_write_lock_once(database: str, retried: bool) -> None:
    """A claim looks for a mail whose earlier attempt did not finish, then for fresh mail: one write
    transaction for both, since under load each one waits its turn behind the SMTP side's commits."""
    from processor.store.inbound import WorkQueue

    RawStore(create_db_engine(database)).put_many(
        [(f"Subject: {n}\r\n\r\nbody {n}\r\n".encode(), Envelope("", ("fax@example.jp",))) for n in range(3)])
    engine = create_db_engine(database, durable=False)
    if retried:  # a worker that died holding mail 2: its lease ran out
        WorkQueue(engine, "dead/1", lease_seconds=0).claim_ids([2])
    begins: list[str] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda _c, _cursor, statement, *_rest: begins.append(statement) if "BEGIN" in statement else None)
    claimed = WorkQueue(engine, "node/1").claim(10)
    assert [mail.id for mail in claimed] == ([2] if retried else [1, 2, 3])
    assert begins == ["BEGIN IMMEDIATE"]
