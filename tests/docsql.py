"""The SQL that the README and docs/sql.md show users, read from the Markdown so that tests can run it.

A query whose first comment line names one backend, `(SQLite)` or `(PostgreSQL)`, runs only there.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_MARKERS = {"sqlite": "(PostgreSQL)", "postgresql": "(SQLite)"}


def sql_queries(path: Path, heading: str | None = None, backend: str | None = None) -> list[str]:
    """The `;`-separated queries of the ```sql blocks in `path` (after `heading`, first block only),
    without those marked for the other backend."""
    text = path.read_text(encoding="utf-8")
    if heading is not None:
        assert heading in text, f"{path.name} has no section {heading!r}"
        match = re.search(r"```sql\n(.*?)```", text[text.index(heading):], re.S)
        assert match, f"{path.name} has no ```sql block under {heading!r}"
        blocks = [match.group(1)]
    else:
        blocks = re.findall(r"```sql\n(.*?)```", text, re.S)
    queries = [q.strip() for block in blocks for q in block.split(";") if q.strip()]
    other = _MARKERS.get(backend or "")
    return [q for q in queries if not (other and other in q.splitlines()[0])]
