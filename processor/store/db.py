"""Engines, sessions and migrations, the same way for SQLite and PostgreSQL.

SQLite runs in WAL mode with `synchronous=FULL`, so a committed row is on disk before the SMTP 250.
The SQLite file holds a raw copy of every mail of the BCC'd mailboxes: a directory and file that faxbounce
creates are private (0700, 0600; SQLite gives its -wal and -shm files the database file's mode). Existing
ones keep the mode their owner chose.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import re
import sqlite3
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from processor.errors import DatabaseBusy, FaxbounceError

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # Alembic (with Mako and Pygments, ~11 MB) is imported only where a migration needs it
    from alembic.config import Config

__all__ = [
    "SCHEMA_HEAD",
    "alembic_config",
    "create_db_engine",
    "current_revision",
    "head_revision",
    "migrate",
    "read_only",
    "readonly_grants",
    "run_statements",
    "session_scope",
    "sqlite_problem",
]


BUSY_TIMEOUT_SECONDS = 5.0
"""SQLite: how long a writer waits for another connection's write lock before it fails ("database is
locked"; the SMTP side then answers 451)."""
_BUSY_POLL_SECONDS = (0.0005, 0.001, 0.002)
"""SQLite: a mail writer's pauses between tries for the write lock; then every 2 ms."""


def create_db_engine(url: str, *, durable: bool = True, **kwargs: Any) -> Engine:
    """An engine with the pragmas and pool settings faxbounce relies on.

    `durable=False` is for writers of derived data only (the worker's results, which are recomputed from the
    raw mail if a power cut loses them: the mail's status is in the same transaction). Their commits skip
    the fsync (SQLite `synchronous=NORMAL` in WAL mode, PostgreSQL `synchronous_commit=off`), which keeps
    them from holding SQLite's single write lock while the SMTP side waits to commit new mail.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if (problem := sqlite_problem(sqlite3.sqlite_version_info)) is not None:
            raise FaxbounceError(problem)
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            _create_private(Path(database).expanduser().resolve())
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS}, **kwargs)
        sync = "FULL" if durable else "NORMAL"
        sa.event.listen(engine, "connect", lambda conn, record: _sqlite_pragmas(conn, record, sync))
        sa.event.listen(engine, "begin", lambda connection: _sqlite_begin(connection, poll=durable))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = sa.create_engine(url, **kwargs)
    if not durable:
        sa.event.listen(engine, "connect", _postgres_async_commit)
    return engine


SQLITE_MINIMUM = (3, 35)
"""RETURNING (SQLite 3.35, 2021): the raw store reads back the ids of the rows it inserted in one statement."""


def sqlite_problem(version: tuple[int, ...]) -> str | None:
    """Why the SQLite this Python links cannot hold faxbounce's database, or None. Checked before any
    connection, so that an old library fails `serve` at once with the fix, not every mail with a 451 and a
    syntax error (Ubuntu 20.04's SQLite is 3.31; its deadsnakes Python 3.11 links it)."""
    found = ".".join(map(str, version))
    if tuple(version[:2]) < SQLITE_MINIMUM:
        return (f"database: the SQLite library this Python uses is {found}; faxbounce needs "
                f"{'.'.join(map(str, SQLITE_MINIMUM))} or newer with its JSON functions: run faxbounce on a "
                "Python linked with a newer SQLite, or on PostgreSQL (database.url)")
    if not _sqlite_has_json():
        return (f"database: the SQLite library this Python uses ({found}) was built without its JSON "
                "functions (json_each), which the number stop list reads: run faxbounce on a Python linked "
                "with an SQLite that has them (built in since 3.38), or on PostgreSQL (database.url)")
    return None


@functools.cache
def _sqlite_has_json() -> bool:
    with closing(sqlite3.connect(":memory:")) as connection:
        try:
            connection.execute("SELECT value FROM json_each('[1]')").fetchall()
        except sqlite3.OperationalError:
            return False
    return True


PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def _create_private(database: Path) -> None:
    """Create the SQLite file's missing directories and the empty file itself, readable by the owner only."""
    missing = [p for p in (database.parent, *database.parent.parents) if not p.exists()]
    try:
        for directory in reversed(missing):
            directory.mkdir(mode=PRIVATE_DIRECTORY_MODE, exist_ok=True)
            os.chmod(directory, PRIVATE_DIRECTORY_MODE)  # mkdir's mode is filtered by the umask
        try:
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
        except FileExistsError:
            return
        os.chmod(database, PRIVATE_FILE_MODE)
    except OSError as exc:
        raise FaxbounceError(f"database: cannot create {exc.filename or database}: {exc.strerror}: "
                             "fix database.url or the directory's permissions") from exc


def _postgres_async_commit(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    dbapi_connection.commit()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, synchronous: str = "FULL") -> None:
    # pysqlite's own transaction handling is off: _sqlite_begin issues BEGIN IMMEDIATE itself, so a
    # writer takes the lock at the start and never fails half-way with "database is locked".
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
    cursor.close()


def _sqlite_begin(connection: Any, poll: bool) -> None:
    # Read-only work (see read_only) begins DEFERRED: in WAL mode it then takes no lock at all, so it never
    # makes the SMTP side's commits wait. Writers of mail (`poll`) try for the write lock every millisecond
    # or two; writers of derived rows (the workers) wait with SQLite's own busy handler, whose growing pauses
    # leave the lock to the mail writers.
    if connection.get_execution_options().get(_READ_ONLY, False):
        connection.exec_driver_sql("BEGIN DEFERRED")
    elif poll:
        _begin_immediate(connection)
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_immediate(connection: Any) -> None:
    """BEGIN IMMEDIATE, waiting for another process's write lock by trying again every millisecond or two.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20 ... ms between its tries, so a commit that found the
    lock taken for a moment waited 18 ms (measured: SMTP commits at 500 msg/s held 18.9 ms behind a
    worker's transaction of a few). Here the handler is off while we try, and on again for the rest."""
    driver = connection.connection.driver_connection
    driver.execute("PRAGMA busy_timeout=0")
    try:
        wait = connection.get_execution_options().get(_BUSY_SECONDS, BUSY_TIMEOUT_SECONDS)
        deadline = time.monotonic() + (wait or float("inf"))
        for attempt in itertools.count():
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except sa.exc.OperationalError as exc:
                busy = (getattr(exc.orig, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY  # or an extended BUSY
                if not busy or time.monotonic() >= deadline:
                    raise
            time.sleep(_BUSY_POLL_SECONDS[min(attempt, len(_BUSY_POLL_SECONDS) - 1)])
    finally:
        driver.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")


_READ_ONLY = "faxbounce_read_only"
_BUSY_SECONDS = "faxbounce_busy_seconds"
"""SQLite: how long a writer's BEGIN waits for the write lock (0: as long as it takes), when not the default."""


def read_only(engine: Engine) -> Engine:
    """The same engine for transactions that only read (they must not write: SQLite would refuse the
    upgrade to a write lock half-way)."""
    return engine.execution_options(**{_READ_ONLY: True})


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any exception."""
    with _session_factory(engine)() as session, session.begin():
        yield session


_FACTORIES: weakref.WeakKeyDictionary[Engine, sessionmaker[Session]] = weakref.WeakKeyDictionary()


def _session_factory(engine: Engine) -> sessionmaker[Session]:
    """One session maker per engine, for as long as the engine lives: making one makes a Session subclass,
    whose event set-up cost 150 µs of every transaction (a worker records a mail in about 3 ms)."""
    factory = _FACTORIES.get(engine)
    if factory is None:
        factory = _FACTORIES[engine] = sessionmaker(engine, expire_on_commit=False)
    return factory


def migrations_dir() -> Path:
    """The Alembic script directory: $FAXBOUNCE_MIGRATIONS, the checkout's `migrations/`, or ./migrations."""
    candidates = [
        os.environ.get("FAXBOUNCE_MIGRATIONS"),
        Path(__file__).resolve().parents[2] / "migrations",
        Path.cwd() / "migrations",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "env.py").is_file():
            return Path(candidate)
    raise FileNotFoundError("Alembic migrations not found: set FAXBOUNCE_MIGRATIONS to the migrations directory")


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


MIGRATION_LOCK_SECONDS = 5.0
"""How long one statement of a migration waits for a lock before the migration is rolled back and tried again."""
MIGRATION_ATTEMPTS = 4


def migrate(engine: Engine, revision: str = "head", *, lock_timeout: float = MIGRATION_LOCK_SECONDS,
            attempts: int = MIGRATION_ATTEMPTS) -> None:
    """Bring the schema to `revision` on this engine's database (creates the SQLite file), all or nothing.

    Migrations run while nodes work (README "Upgrading node by node"). On PostgreSQL a statement that alters
    a table waits for every open transaction that has read it, and every statement of the nodes on that table
    then waits behind the migration: one analyst's transaction left open in `psql` would stop the nodes for as
    long as it stays open. So no statement waits more than `lock_timeout` seconds for a lock (on SQLite: for
    the write lock; 0 = no limit). When a wait runs out, the migration is rolled back whole, the nodes go on,
    and it is tried again after as long a pause; after `attempts` tries it raises DatabaseBusy naming the
    sessions that held the tables."""
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    dialect = engine.dialect.name
    if dialect == "sqlite":
        engine = engine.execution_options(**{_BUSY_SECONDS: lock_timeout})
    for attempt in range(1, max(1, attempts) + 1):
        try:
            with engine.begin() as connection:
                if dialect == "postgresql":
                    connection.exec_driver_sql(f"SET LOCAL lock_timeout = {round(lock_timeout * 1000)}")
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
            return
        except sa.exc.DBAPIError as exc:
            if not _lock_wait_ran_out(exc):
                raise
            holders = _lock_holders(engine, lock_timeout)
            if attempt >= attempts:
                raise DatabaseBusy(_busy_message(dialect, holders, attempts, lock_timeout)) from exc
            log.warning("migrate: waited %s s for a lock%s; rolled back, trying again in %s s (attempt %d of %d)",
                        f"{lock_timeout:g}", f" held by {_described(holders)}" if holders else "",
                        f"{lock_timeout:g}", attempt + 1, attempts)
            time.sleep(lock_timeout)


_LOCK_NOT_AVAILABLE = "55P03"


def _lock_wait_ran_out(exc: sa.exc.DBAPIError) -> bool:
    """PostgreSQL's lock_timeout (SQLSTATE 55P03), or SQLite's busy timeout on the write lock."""
    if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
        return True
    return (getattr(exc.orig, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


#: Sessions with a transaction open longer than the wait that hold a lock on a table of this schema: they held
#: it when the wait began. Oldest first: that is the one the others wait for.
_HOLDERS = sa.text("""
SELECT a.pid, a.usename, a.application_name, a.state,
       EXTRACT(EPOCH FROM now() - a.xact_start) AS seconds, a.query
FROM pg_stat_activity a
WHERE a.pid <> pg_backend_pid() AND a.datname = current_database()
  AND a.xact_start < now() - make_interval(secs => :wait)
  AND EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
              WHERE l.pid = a.pid AND l.granted AND c.relnamespace = current_schema()::regnamespace)
ORDER BY a.xact_start LIMIT 3""")


def _lock_holders(engine: Engine, wait: float) -> list[tuple[int, str]]:
    """(pid, description) of the PostgreSQL sessions that held this schema's tables through the wait; none when
    none is left (it ended meanwhile) or on SQLite, which cannot say who holds its write lock."""
    if engine.dialect.name != "postgresql":
        return []
    try:
        with engine.connect() as connection:
            rows = connection.execute(_HOLDERS, {"wait": wait}).all()
    except sa.exc.DBAPIError:
        return []
    return [(row.pid,
             f"session {row.pid} (user {row.usename or '?'}"
             + (f", application {row.application_name}" if row.application_name else "")
             + f", {'idle ' if (row.state or '').startswith('idle') else ''}in a transaction for "
             + _duration(row.seconds)
             + (f": {' '.join(row.query.split())[:80]}" if row.query else "") + ")")
            for row in rows]


def _described(holders: list[tuple[int, str]]) -> str:
    return " and ".join(description for _pid, description in holders)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds // 60 % 60} min"


def _busy_message(dialect: str, holders: list[tuple[int, str]], attempts: int, wait: float) -> str:
    tries = f"{attempts} waits of {wait:g} s ran out, nothing was changed"
    retry = "or run migrate again when it is done (--lock-timeout SECONDS waits longer)"
    if dialect == "sqlite":
        return (f"migrate: another connection holds the SQLite database's write lock; {tries}: stop the process "
                f"writing to it (a sqlite3 shell in a transaction?) {retry}")
    if not holders:
        return (f"migrate: another session held a lock on the tables; {tries}: look for long transactions in "
                f"pg_stat_activity {retry}")
    one = len(holders) == 1
    return (f"migrate: {_described(holders)} {'holds' if one else 'hold'} a lock on the tables; {tries}: "
            f"end {'it' if one else 'them'} "
            f"({'; '.join(f'SELECT pg_terminate_backend({pid})' for pid, _description in holders)}) {retry}")


def readonly_grants(engine: Engine, role: str) -> list[str]:
    """SQL that lets `role` read every faxbounce table and view, now and after future migrations.

    Analysts query with plain SQL; they should never hold write access to the store of record.
    """
    if engine.dialect.name != "postgresql":
        raise FaxbounceError("sql-grant-readonly is for PostgreSQL; with SQLite, give read access to the file "
                             "or open it with `sqlite3 -readonly`")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]{0,62}", role):
        raise FaxbounceError(f"sql-grant-readonly: {role!r} is not a plain role name")
    with engine.connect() as connection:
        schema = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
        database = connection.exec_driver_sql("SELECT current_database()").scalar_one()
    quoted, qschema = f'"{role}"', f'"{schema}"'
    return [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
        f"CREATE ROLE {quoted} NOLOGIN; END IF; END $$",
        f'GRANT CONNECT ON DATABASE "{database}" TO {quoted}',
        f"GRANT USAGE ON SCHEMA {qschema} TO {quoted}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {qschema} TO {quoted}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {qschema} GRANT SELECT ON TABLES TO {quoted}",
    ]


#: The schema revision this code expects: the newest file under migrations/versions/. Written here so that the
#: daemon and `check` need not load Alembic (~11 MB); tests/store/test_migrations.py holds it to Alembic's head.
SCHEMA_HEAD = "0012"


def head_revision() -> str:
    return SCHEMA_HEAD


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (Alembic's `alembic_version`), or None before the first migration."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def run_statements(engine: Engine, statements: Sequence[str]) -> None:
    """Run these SQL statements in one transaction: all take effect, or none."""
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
