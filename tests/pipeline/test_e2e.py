"""End to end: the real `faxbounce serve` process, real SMTP, rows read back with plain SQL.

Runs on SQLite and PostgreSQL. Also shows that mail stored while no daemon ran is processed at start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from daemonctl import Daemon, free_port, start_daemon
from mailfactory import interfax_failure, plain

from processor.store.db import create_db_engine, migrate
from processor.store.inbound import Envelope, RawStore

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(url: str, query: str, expected_rows: int, seconds: float = 20) -> list[sa.Row]:
    engine = create_db_engine(url)
    deadline = time.monotonic() + seconds
    try:
        while True:
            with engine.connect() as connection:
                rows = list(connection.execute(sa.text(query)))
            if len(rows) >= expected_rows or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)
    finally:
        engine.dispose()


def _start(db_url: str, tmp_path: Path) -> Daemon:
    return start_daemon(db_url, tmp_path, metrics=False)


@pytest.fixture
def daemon(db_url: str, tmp_path: Path) -> Iterator[Daemon]:
    migrate(create_db_engine(db_url))
    running = _start(db_url, tmp_path)
    yield running
    running.stop()


def test_smtp_to_failures_view(daemon: Daemon) -> None:
    code, reply = daemon.send(interfax_failure(number="03-5555-0101", code="3912"))
    assert code == 250, reply
    rows = _wait_for(daemon.url, "SELECT reason, fax_number, code, action_ja FROM failures", 1)
    assert len(rows) == 1, daemon.log.read_text()
    assert rows[0].reason == "invalid_number"
    assert rows[0].fax_number == "+81355550101"
    assert rows[0].code == "3912"
    assert "FAX番号" in rows[0].action_ja
    envelope = _wait_for(daemon.url, "SELECT mail_from, rcpt_tos, helo, status FROM inbound_messages", 1)[0]
    assert envelope.mail_from == ""
    assert "fax-results@faxbounce.test" in str(envelope.rcpt_tos)
    assert envelope.helo == "mx.example.com"
    assert daemon.stop() == 0


def test_unrelated_mail_is_kept_without_results(daemon: Daemon) -> None:
    assert daemon.send(plain())[0] == 250
    rows = _wait_for(daemon.url, "SELECT kind FROM inbound_messages WHERE status = 'processed'", 1)
    assert [r.kind for r in rows] == ["unrelated"]
    assert _wait_for(daemon.url, "SELECT * FROM fax_results", 0) == []


def test_mail_stored_before_start_is_processed_after_start(db_url: str, tmp_path: Path) -> None:
    engine = create_db_engine(db_url)
    migrate(engine)
    RawStore(engine).put(interfax_failure(code="6017", label="話中"), Envelope("", ("x@faxbounce.test",)))
    engine.dispose()
    running = _start(db_url, tmp_path)
    try:
        rows = _wait_for(db_url, "SELECT reason, retryable FROM failures", 1)
        assert [(r.reason, bool(r.retryable)) for r in rows] == [("busy", True)], running.log.read_text()
    finally:
        assert running.stop() == 0


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    env = dict(os.environ, FAXBOUNCE_DATABASE_URL=url, FAXBOUNCE_SMTP_PORT=str(free_port()))
    result = subprocess.run([sys.executable, "-m", "processor", "serve"], env=env, capture_output=True,
                            timeout=30, cwd=tmp_path)
    assert result.returncode == 2
    assert b"faxbounce migrate" in result.stderr


def test_no_secret_in_logs_or_replies(db_url: str, tmp_path: Path) -> None:
    """The database password never appears in the log; SMTP replies never carry internals."""
    if not db_url.startswith("postgresql"):
        pytest.skip("only a PostgreSQL URL carries a password")
    secret_url = db_url.replace("postgres@", "postgres:hunter2-secret@", 1)
    migrate(create_db_engine(secret_url))
    running = _start(secret_url, tmp_path)
    try:
        code, reply = running.send(plain())
        assert code == 250 and b"hunter2" not in reply
    finally:
        assert running.stop() == 0
    log = running.log.read_text()
    assert "listening on" in log
    assert "hunter2-secret" not in log
