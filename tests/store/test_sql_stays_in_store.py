"""Issue #9: only store/ writes SQL. Every module outside processor/store/ reaches the database through store/
functions: it imports neither the SQLAlchemy query API nor the models' tables."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "processor"
CLIENTS = tuple(sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                       if p.relative_to(PACKAGE).parts[0] != "store"))
NOT_YET: set[str] = set()
"""Functions exempted while a change moves their SQL (none now)."""
TABLES = {"InboundMessage", "FaxResultRow", "FaxSubmissionRow", "FaxMatchRow", "Base"}
ALLOWED_SQLALCHEMY = {"sqlalchemy.engine", "sqlalchemy.exc"}
"""The `Engine` type and the error class are no query API."""
ALLOWED_NAMES = {"sqlalchemy.orm": {"Session"}}
"""A transaction handed to store/ functions (`session_scope`) is typed, not queried."""


def _offences(tree: ast.AST) -> list[str]:
    found: list[str] = []
    skip = {n for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef) and fn.name in NOT_YET
            for n in range(fn.lineno, (fn.end_lineno or fn.lineno) + 1)}
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if a.name.startswith("sqlalchemy")]
        elif isinstance(node, ast.ImportFrom) and node.module:
            allowed_names = ALLOWED_NAMES.get(node.module, set())
            if (node.module.startswith("sqlalchemy") and node.module not in ALLOWED_SQLALCHEMY
                    and any(a.name not in allowed_names for a in node.names)):
                found.append(f"line {node.lineno}: from {node.module} import ...")
            if node.module == "processor.store.models":
                found += [f"line {node.lineno}: imports the table {a.name}" for a in node.names if a.name in TABLES]
        elif isinstance(node, ast.Attribute) and node.attr in ("exec_driver_sql", "execute", "scalar", "scalars"):
            found.append(f"line {node.lineno}: .{node.attr}(...)")
    return found


@pytest.mark.parametrize("module", CLIENTS)
def test_no_sql_outside_store(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    assert _offences(tree) == [], f"processor/{module} writes SQL: move it to processor/store/"


def test_the_guard_sees_sql() -> None:
    """The check above would notice the code this change moved out."""
    sample = ("import sqlalchemy as sa\nfrom processor.store.models import InboundMessage, MessageStatus\n"
              "def f(c):\n    return c.execute(sa.select(InboundMessage))\n")
    assert sorted(_offences(ast.parse(sample))) == [
        "line 1: import sqlalchemy", "line 2: imports the table InboundMessage", "line 4: .execute(...)"]
    assert len(CLIENTS) > 20 and "run/pipeline.py" in CLIENTS and not any(c.startswith("store") for c in CLIENTS)
