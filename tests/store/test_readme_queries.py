"""The README's example queries are part of the public SQL interface: they must run on both backends."""

from __future__ import annotations

from docsql import ROOT, sql_queries
from mailfactory import interfax_failure
from sqlalchemy.engine import Engine

from processor.config import Settings
from processor.run.pipeline import process_message
from processor.store.inbound import Envelope, RawStore

README = ROOT / "README.md"


def test_readme_queries_run(engine: Engine) -> None:
    message_id = RawStore(engine).put(interfax_failure(code="3912"), Envelope("", ("x@y",))).id
    process_message(engine, message_id, Settings())
    ran = 0
    with engine.connect() as connection:
        for query in sql_queries(README, "### Example queries", engine.dialect.name):
            rows = list(connection.exec_driver_sql(query))
            ran += 1
            if query.lstrip("-").startswith(" Numbers that failed"):
                assert [(r.fax_number, r.reason) for r in rows] == [("+81355550101", "invalid_number")]
    assert ran >= 5
