"""SQLite's intake file: small mails made durable while a large mail's commit holds the write lock, then
moved into the database; nothing lost across a crash, nothing stored twice."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from daemonctl import start_daemon, wait_until
from mailfactory import interfax_failure
from slowmail import SlowLargeMail
from sqlalchemy.engine import Engine

from processor.errors import RawStoreError
from processor.store.db import create_db_engine
from processor.store.inbound import Envelope, RawStore, StoredMail, _row
from processor.store.intake import Intake, IntakeMail, intake_path, open_intake
from processor.store.models import InboundMessage, InboundRaw


def _mail(n: int) -> tuple[bytes, Envelope]:
    return (f"Subject: small {n}\r\nMessage-ID: <{n}@example.jp>\r\n\r\nbody {n}\r\n".encode(),
            Envelope(f"sender{n}@example.jp", (f"fax{n}@example.jp",), peer="192.0.2.7", helo="mx.example.jp"))


def _rows(engine: Engine) -> dict[str, tuple[bytes, str | None, list[str]]]:
    with engine.connect() as connection:
        return {row.sha256: (row.raw, row.mail_from, row.rcpt_tos) for row in connection.execute(
            sa.select(InboundMessage.sha256, InboundRaw.raw, InboundMessage.mail_from, InboundMessage.rcpt_tos)
            .join(InboundRaw, InboundRaw.inbound_message_id == InboundMessage.id))}


def _large_under_way(store: RawStore) -> tuple[SlowLargeMail, threading.Thread]:
    large = SlowLargeMail()
    thread = threading.Thread(target=store.put_many, args=([(large, Envelope("big@example.jp", ("r@x",)))],),
                              kwargs={"urgent": False})
    thread.start()
    deadline = time.monotonic() + 10
    while not store._large_writing():  # the state the intake is for
        assert time.monotonic() < deadline, "the large mail's transaction never started"
        time.sleep(0.005)
    return large, thread


def test_only_sqlite_has_an_intake(engine: Engine) -> None:
    """PostgreSQL locks rows: a small mail's commit never waits for a large one's."""
    intake = open_intake(engine)
    assert (intake is not None) == (engine.dialect.name == "sqlite")
    if intake is not None:
        assert intake.path == Path(engine.url.database + "-intake") and not intake.pending
        intake.close()


def test_small_mails_are_answered_during_a_large_commit_and_moved_after_it(sqlite_engine: Engine) -> None:
    intake = open_intake(sqlite_engine)
    assert intake is not None
    store = RawStore(sqlite_engine, intake)
    before = store.put(*_mail(0))  # stored as usual
    large, thread = _large_under_way(store)
    try:
        started = time.monotonic()
        answered = store.put_many([_mail(1), _mail(2), _mail(0), _mail(1)])
        assert time.monotonic() - started < 2  # not held until the large mail's commit (30 s here)
    finally:
        large.release.set()
        thread.join()
    digest = [hashlib.sha256(_mail(n)[0]).hexdigest() for n in range(3)]
    assert answered == [StoredMail(None, False, f"sha256:{digest[1][:16]}"),
                        StoredMail(None, False, f"sha256:{digest[2][:16]}"),
                        StoredMail(before.id, True),  # stored before: its id, as for any repeat
                        StoredMail(None, True, f"sha256:{digest[1][:16]}")]
    assert answered[0].reference == f"sha256:{digest[1][:16]}" and before.reference == str(before.id)
    assert intake.path.stat().st_size > 0 and digest[1] not in _rows(sqlite_engine)
    assert store.move_intake() == 2
    rows = _rows(sqlite_engine)
    assert rows[digest[1]] == (_mail(1)[0], "sender1@example.jp", ["fax1@example.jp"])
    assert rows[digest[2]][0] == _mail(2)[0] and len(rows) == 4  # the large one too
    assert intake.path.stat().st_size == 0 and not intake.pending
    assert store.put(*_mail(1)).duplicate  # moved once, known after


def test_the_next_small_commit_moves_the_intake_in_its_own_transaction(sqlite_engine: Engine) -> None:
    store = RawStore(sqlite_engine, open_intake(sqlite_engine))
    large, thread = _large_under_way(store)
    try:
        store.put(*_mail(1))
    finally:
        large.release.set()
        thread.join()
    stored = store.put(*_mail(2))
    assert stored.id is not None and not stored.duplicate
    assert {hashlib.sha256(_mail(n)[0]).hexdigest() for n in (1, 2)} <= set(_rows(sqlite_engine))
    assert store.intake is not None and not store.intake.pending


def test_a_crash_before_the_move_loses_nothing(sqlite_engine: Engine) -> None:
    intake = open_intake(sqlite_engine)
    store = RawStore(sqlite_engine, intake)
    large, thread = _large_under_way(store)
    try:
        assert store.put(*_mail(1)).id is None
    finally:
        large.release.set()
        thread.join()
    assert intake is not None
    intake.close()  # the process ends here (kill -9): its lock goes with it, the file stays
    after = RawStore(sqlite_engine, open_intake(sqlite_engine))
    assert after.move_intake() == 1
    assert _rows(sqlite_engine)[hashlib.sha256(_mail(1)[0]).hexdigest()][1] == "sender1@example.jp"


def test_a_crash_after_the_commit_but_before_the_file_was_emptied_stores_nothing_twice(
        sqlite_engine: Engine) -> None:
    path = intake_path(sqlite_engine.url.database)
    assert path is not None
    intake = Intake(path)
    intake.append([IntakeMail(_row(*_mail(n)), _mail(n)[0]) for n in (1, 2)])
    intake.close()
    RawStore(sqlite_engine).put(*_mail(1))  # what the crashed move had committed
    store = RawStore(sqlite_engine, open_intake(sqlite_engine))
    assert store.move_intake() == 2
    with sqlite_engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 2
    assert path.stat().st_size == 0


def test_a_record_cut_short_by_a_crash_is_dropped_and_the_rest_kept(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "db.sqlite3-intake"
    intake = Intake(path)
    first = IntakeMail(_row(*_mail(1)), _mail(1)[0])
    intake.append([first])
    whole = path.stat().st_size
    intake.append([IntakeMail(_row(*_mail(2)), _mail(2)[0])])
    intake.close()
    with path.open("r+b") as file:  # the second record's write never finished: it was never answered 250
        file.truncate(path.stat().st_size - 5)
    with caplog.at_level(logging.WARNING):
        again = Intake(path)
    assert again.pending == [first]  # the row as built, received_at (with its zone) included
    assert "dropped" in caplog.text and whole < path.stat().st_size


def test_one_process_at_a_time_uses_an_intake(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3-intake"
    first = Intake(path)
    with pytest.raises(OSError):
        Intake(path)
    first.close()
    Intake(path).close()
    assert path.stat().st_mode & 0o777 == 0o600  # it holds mail


def test_a_full_intake_lets_mail_wait_for_the_lock_as_before(sqlite_engine: Engine) -> None:
    path = intake_path(sqlite_engine.url.database)
    assert path is not None
    store = RawStore(sqlite_engine, Intake(path, max_bytes=10))
    large, thread = _large_under_way(store)
    answer: list[StoredMail] = []
    waiting = threading.Thread(target=lambda: answer.extend(store.put_many([_mail(1)])))
    waiting.start()
    time.sleep(0.3)
    assert not answer  # still waiting for the large mail's commit
    large.release.set()
    thread.join()
    waiting.join()
    assert answer[0].id is not None and not answer[0].duplicate


def test_the_daemon_moves_what_a_crash_left_in_the_intake_before_it_serves(sqlite_engine: Engine,
                                                                            tmp_path: Path) -> None:
    """kill -9 after a mail's 250 from the intake and before its move: the next start stores and classifies it."""
    path = intake_path(sqlite_engine.url.database)
    assert path is not None
    raw = interfax_failure(code="3912")
    intake = Intake(path)
    intake.append([IntakeMail(_row(raw, Envelope("noreply@fax.tc", ("fax-results@faxbounce.test",))), raw)])
    intake.close()
    daemon = start_daemon(str(sqlite_engine.url), tmp_path, metrics=False)
    try:
        def classified() -> str | None:
            with sqlite_engine.connect() as connection:
                return connection.scalar(sa.text(
                    "SELECT r.code FROM fax_results r JOIN inbound_messages m ON m.id = r.inbound_message_id "
                    "WHERE m.sha256 = :digest"), {"digest": hashlib.sha256(raw).hexdigest()})

        assert wait_until(lambda: classified() == "3912", 30), daemon.log.read_text()
        assert path.stat().st_size == 0
        assert "moved 1 mail(s) left in the intake file" in daemon.log.read_text()
    finally:
        assert daemon.stop() == 0


def test_a_move_that_fails_leaves_the_mail_in_the_intake(tmp_path: Path) -> None:
    """The database refuses the move (here: no schema): the mail stays in the file for the next try."""
    empty = create_db_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    intake = open_intake(empty)
    assert intake is not None
    intake.append([IntakeMail(_row(*_mail(1)), _mail(1)[0])])
    store = RawStore(empty, intake)
    with pytest.raises(RawStoreError):
        store.move_intake()
    assert [mail.raw for mail in intake.pending] == [_mail(1)[0]] and intake.path.stat().st_size > 0
    empty.dispose()
