"""Imports go one way: records/reasons/errors ← parse ← detect ← tracking ← store ← run/ops/receive ← cli."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "processor"

# module (or package prefix) -> package modules it must never import
FORBIDDEN = {
    "processor/records.py": ("processor.parse", "processor.detect", "processor.store", "processor.receive"),
    "processor/reasons.py": ("processor.",),
    "processor/errors.py": ("processor.",),
    "processor/domains.py": ("processor.",),
    "processor/cachefile.py": ("processor.",),
    "processor/parse/": ("processor.detect", "processor.store", "processor.receive", "processor.run",
                         "processor.tracking", "processor.ops", "sqlalchemy"),
    # Detectors get deployment settings through `configured(DetectorSettings)`, never from the config module.
    "processor/detect/": ("processor.store", "processor.receive", "processor.run", "processor.tracking",
                          "processor.ops", "processor.config", "processor.cli", "sqlalchemy", "aiosmtpd"),
    "processor/catalogues/": ("processor.parse", "processor.detect", "processor.store", "processor.config",
                              "sqlalchemy"),
    "processor/tracking/": ("processor.store", "processor.receive", "processor.run", "processor.ops", "sqlalchemy"),
    "processor/store/": ("processor.receive", "processor.run", "processor.ops", "processor.cli", "processor.detect"),
    "processor/receive/": ("processor.parse", "processor.detect", "processor.run", "processor.ops"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("prefix", sorted(FORBIDDEN))
def test_imports_go_one_way(prefix: str) -> None:
    files = [p for p in PACKAGE.parent.glob(prefix + "**/*.py" if prefix.endswith("/") else prefix)]
    assert files, prefix
    for path in files:
        for name in _imports(path):
            for banned in FORBIDDEN[prefix]:
                assert not (name == banned.rstrip(".") or name.startswith(banned if banned.endswith(".")
                                                                          else banned + ".") or name == banned), (
                    f"{path.relative_to(PACKAGE.parent)} imports {name}")
