"""docs/sql.md: every query runs on both backends, and every column of the schema is documented."""

from __future__ import annotations

import sqlalchemy as sa
from docsql import ROOT, sql_queries
from mailfactory import interfax_failure
from sqlalchemy.engine import Engine

from processor.config import Settings
from processor.run.pipeline import process_message
from processor.store.inbound import Envelope, RawStore

DOC = ROOT / "docs" / "sql.md"


def test_every_query_runs(engine: Engine) -> None:
    message_id = RawStore(engine).put(interfax_failure(code="3912"), Envelope("", ("x@y",))).id
    process_message(engine, message_id, Settings())
    ran = 0
    with engine.connect() as connection:
        for query in sql_queries(DOC, backend=engine.dialect.name):
            rows = list(connection.exec_driver_sql(query))
            ran += 1
            if "resend will not fix" in query:
                assert [(r.fax_number, r.reason, r.n) for r in rows] == [("+81355550101", "invalid_number", 1)]
            if "Failures since midnight" in query:
                assert len(rows) == 1
    assert ran >= 12


def test_every_table_view_and_column_is_documented(engine: Engine) -> None:
    text = DOC.read_text(encoding="utf-8")
    inspector = sa.inspect(engine)
    names = [*inspector.get_table_names(), *inspector.get_view_names()]
    assert {"inbound_messages", "fax_results", "failures"} <= set(names)
    for name in names:
        if name == "alembic_version":
            continue
        assert f"`{name}`" in text, name
        for column in inspector.get_columns(name):
            assert f"`{column['name']}`" in text, f"{name}.{column['name']}"
