"""The SQLite library Python links must have RETURNING and the JSON functions; an older one stops faxbounce
at once with the fix, instead of a syntax error and a 451 for every mail."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from processor.cli import EXIT_SETUP, main
from processor.store import db


@pytest.mark.parametrize("version", [(3, 31, 1), (3, 34, 1), (2, 8, 17)])
def test_a_library_without_returning_is_named_with_the_fix(version: tuple[int, ...]) -> None:
    problem = db.sqlite_problem(version)
    assert problem is not None
    assert ".".join(map(str, version)) in problem and "3.35 or newer" in problem and "PostgreSQL" in problem


@pytest.mark.parametrize("version", [(3, 35, 0), (3, 40, 1), (4, 0, 0)])
def test_a_library_with_returning_and_json_passes(version: tuple[int, ...]) -> None:
    assert db.sqlite_problem(version) is None  # this machine's library has the JSON functions


def test_this_machines_library_can_hold_the_database() -> None:
    assert sqlite3.sqlite_version_info[:2] >= db.SQLITE_MINIMUM
    assert db.sqlite_problem(sqlite3.sqlite_version_info) is None


def test_commands_stop_with_one_line_and_create_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The version Python reports is the one thing replaced here: no older library can be installed beside
    the real one in the test's process."""
    database = tmp_path / "var" / "faxbounce.sqlite3"
    monkeypatch.setenv("FAXBOUNCE_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setattr(db.sqlite3, "sqlite_version_info", (3, 31, 1))
    assert main(["migrate"]) == EXIT_SETUP
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("faxbounce: database: the SQLite library this Python uses is 3.31.1")
    assert not database.exists()
