"""The README's example queries are part of the public SQL interface: they must run on both backends."""

from __future__ import annotations

import re
from pathlib import Path

from mailfactory import interfax_failure
from sqlalchemy.engine import Engine

from processor.config import Settings
from processor.pipeline import process_message
from processor.rawstore import Envelope, RawStore

README = Path(__file__).resolve().parents[2] / "README.md"


def _queries() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Example queries"):]
    block = re.search(r"```sql\n(.*?)```", section, re.S)
    assert block, "README has no ```sql block under Example queries"
    return [q.strip() for q in block.group(1).split(";") if q.strip()]


def test_readme_queries_run(engine: Engine) -> None:
    message_id = RawStore(engine).put(interfax_failure(code="3912"), Envelope("", ("x@y",))).id
    process_message(engine, message_id, Settings())
    backend = engine.dialect.name
    ran = 0
    with engine.connect() as connection:
        for query in _queries():
            if (backend == "sqlite" and "interval" in query) or (backend == "postgresql" and "datetime('now'" in query):
                continue
            rows = list(connection.exec_driver_sql(query))
            ran += 1
            if query.lstrip("-").startswith(" Numbers that failed"):
                assert [(r.fax_number, r.reason) for r in rows] == [("+81355550101", "invalid_number")]
    assert ran >= 5
