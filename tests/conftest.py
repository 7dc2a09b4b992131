"""Shared test fixtures: where the shared corpus and the project's own sample mails live."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHARED = Path(__import__("os").environ.get("FAXBOUNCE_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus" / "set-of-emails"


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
