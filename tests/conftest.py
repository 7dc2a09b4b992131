"""Shared fixtures: paths to the shared corpus and our samples, and databases on both backends.

Every storage test runs on SQLite and on PostgreSQL (127.0.0.1:5432, database `test`). PostgreSQL is
never skipped silently: if it cannot be reached the tests fail, unless FAXBOUNCE_SKIP_POSTGRES=1 is set
on purpose (never in CI).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHARED = Path(os.environ.get("FAXBOUNCE_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus" / "set-of-emails"
PG_URL = os.environ.get("FAXBOUNCE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}: the corpus and seeds are required (set FAXBOUNCE_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def corpus_dir(shared_dir: Path) -> Path:
    return shared_dir / "corpus" / "set-of-emails"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server URL, checked once per run."""
    if os.environ.get("FAXBOUNCE_SKIP_POSTGRES") == "1" and os.environ.get("CI") != "true":
        pytest.skip("FAXBOUNCE_SKIP_POSTGRES=1: PostgreSQL tests skipped on request")
    engine = sa.create_engine(PG_URL)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL not reachable at {PG_URL}: {str(exc).splitlines()[0]} "
                    "(start it, or set FAXBOUNCE_SKIP_POSTGRES=1 to skip on purpose outside CI)")
    finally:
        engine.dispose()
    return PG_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend: a temporary SQLite file, or a throw-away PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'faxbounce.sqlite3'}"
        return
    from bench.perf import postgres_schema  # the benches' throw-away schema, as the tests need one

    with postgres_schema(request.getfixturevalue("postgres_url"), "fbtest") as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database on each backend."""
    from processor.store.db import create_db_engine, migrate

    eng = create_db_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database file, for what only SQLite has (its intake file, its one write lock)."""
    from processor.store.db import create_db_engine, migrate

    eng = create_db_engine(f"sqlite:///{tmp_path / 'faxbounce.sqlite3'}")
    migrate(eng)
    yield eng
    eng.dispose()
