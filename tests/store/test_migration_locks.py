"""A migration never stops running nodes for long: it waits for a lock a bounded time, rolls back, tries again,
and at last names the session that held the tables (README "Upgrading")."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from processor.errors import DatabaseBusy
from processor.store.db import create_db_engine, current_revision, migrate

BEFORE, AFTER = "0011", "0012"  # 0012 alters fax_results, which the holder below has read


@contextmanager
def holding_the_tables(url: str) -> Iterator[int | None]:
    """Another session in a transaction that has used the tables, as an analyst's `psql` left open (PostgreSQL:
    it has read fax_results; SQLite: it holds the write lock). Yields its PostgreSQL backend pid."""
    if url.startswith("sqlite"):
        holder = sqlite3.connect(make_url(url).database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield None
        finally:
            holder.rollback()
            holder.close()
        return
    engine = create_db_engine(url)
    with engine.connect() as holder:
        pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        holder.execute(sa.text("SELECT count(*) FROM fax_results")).scalar_one()
        try:
            yield pid
        finally:
            holder.rollback()
    engine.dispose()


@pytest.fixture
def at_0011(db_url: str) -> Iterator[sa.Engine]:
    engine = create_db_engine(db_url)
    migrate(engine, BEFORE)
    yield engine
    engine.dispose()


def _in_thread(work: Callable[[], object]) -> tuple[threading.Thread, dict[str, object]]:
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc
        box["at"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def test_a_held_table_makes_migrate_give_up_whole_naming_the_holder(db_url: str, at_0011: sa.Engine) -> None:
    with holding_the_tables(db_url) as pid, pytest.raises(DatabaseBusy) as raised:
        migrate(at_0011, AFTER, lock_timeout=0.3, attempts=2)
    message = str(raised.value)
    assert "2 waits of 0.3 s ran out, nothing was changed" in message
    if pid is None:
        assert "SQLite database's write lock" in message
    else:
        assert f"session {pid} (user " in message and "SELECT count(*) FROM fax_results" in message
        assert f"end it (SELECT pg_terminate_backend({pid}))" in message
    assert "\n" not in message
    assert current_revision(at_0011) == BEFORE
    migrate(at_0011, AFTER, lock_timeout=0.3, attempts=1)  # nothing half-done is in the way
    assert current_revision(at_0011) == AFTER


def test_migrate_goes_on_when_the_holder_ends_between_tries(db_url: str, at_0011: sa.Engine) -> None:
    with holding_the_tables(db_url):
        thread, box = _in_thread(lambda: migrate(at_0011, AFTER, lock_timeout=0.4, attempts=5))
        time.sleep(0.6)  # the first wait has run out
        assert thread.is_alive()
    thread.join(timeout=30)
    assert "error" not in box, box
    assert current_revision(at_0011) == AFTER


def test_nodes_work_on_while_a_migration_waits(postgres_url: str) -> None:
    """PostgreSQL queues every statement on a table behind a migration waiting to alter it: a node's read waits
    as long as the migration does. Here the node's read must finish (within 5 s) while a holder stays for good;
    before migrations had a lock timeout, it waited until the holder ended."""
    from bench.perf import postgres_schema

    with postgres_schema(postgres_url, "fbtest") as url:
        engine = create_db_engine(url)
        migrate(engine, BEFORE)
        with holding_the_tables(url):
            thread, box = _in_thread(lambda: migrate(engine, AFTER, lock_timeout=0.5, attempts=3))
            time.sleep(0.2)  # the migration is waiting for the holder
            with engine.connect() as node:
                node.execute(sa.text("SET statement_timeout = 5000"))
                node.execute(sa.text("SELECT count(*) FROM fax_results")).scalar_one()
                read_at = time.monotonic()
            thread.join(timeout=30)
        assert isinstance(box.get("error"), DatabaseBusy)
        assert read_at < box["at"]  # the node's read went through while migrate was still trying
        assert current_revision(engine) == BEFORE
        engine.dispose()


def test_the_command_says_who_holds_the_tables_in_one_line_and_exits_1(db_url: str, at_0011: sa.Engine,
                                                                     tmp_path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FAXBOUNCE_")}
    environ["FAXBOUNCE_DATABASE_URL"] = db_url

    def faxbounce(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "processor", *args], cwd=tmp_path, env=environ,
                              capture_output=True, text=True, timeout=60)

    with holding_the_tables(db_url) as pid:
        result = faxbounce("migrate", "--lock-timeout", "0.2")
    assert result.returncode == 1, result.stderr
    *progress, error = result.stderr.splitlines()
    assert error.startswith("faxbounce: migrate: ") and "4 waits of 0.2 s ran out, nothing was changed" in error
    assert pid is None or f"pg_terminate_backend({pid})" in error
    assert len(progress) == 3 and all("trying again in 0.2 s" in line for line in progress)
    assert "Traceback" not in result.stderr
    assert current_revision(at_0011) == BEFORE
    bad = faxbounce("migrate", "--lock-timeout", "-1")
    assert (bad.returncode, bad.stderr.strip()) == (
        2, "faxbounce: migrate: --lock-timeout must be a number of seconds, 0 or more")
