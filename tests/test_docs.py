"""The docs are an interface too: files and commands they name must exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processor.cli import _parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_named_project_files_exist(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    named = set(re.findall(r"(?<![\w/.])((?:tests/data|config|bench|docs|migrations|processor)/[\w./-]+\.\w+)", text))
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert missing == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_faxbounce_commands_in_docs_parse(doc: Path) -> None:
    parser = _parser()
    subcommands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    used = set(re.findall(r"`faxbounce ([a-z][a-z-]+)", doc.read_text(encoding="utf-8")))
    assert used <= subcommands, used - subcommands
