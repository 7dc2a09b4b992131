"""The SQLite store holds raw copies of BCC'd mailboxes: what faxbounce creates, only its owner may read."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from processor.errors import FaxbounceError
from processor.store.db import create_db_engine, migrate


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_directory_and_files_are_private(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the usual umask, which gave the 0755 directory and 0644 file
    try:
        database = tmp_path / "var" / "sub" / "faxbounce.sqlite3"
        engine = create_db_engine(f"sqlite:///{database}")
        migrate(engine)
        engine.dispose()
    finally:
        os.umask(old_umask)
    assert _mode(tmp_path / "var") == 0o700
    assert _mode(tmp_path / "var" / "sub") == 0o700
    created = sorted(p.name for p in database.parent.iterdir())
    assert "faxbounce.sqlite3" in created
    assert {p.name: _mode(p) for p in database.parent.iterdir()} == dict.fromkeys(created, 0o600)


def test_existing_directory_and_file_keep_their_mode(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o750)
    os.chmod(directory, 0o750)
    database = directory / "f.sqlite3"
    database.touch()
    os.chmod(database, 0o640)
    create_db_engine(f"sqlite:///{database}").dispose()
    assert (_mode(directory), _mode(database)) == (0o750, 0o640)


def test_uncreatable_directory_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("a file where the directory should be")  # fails for root too
    with pytest.raises(FaxbounceError, match=r"cannot create .*var.*: Not a directory: fix database.url"):
        create_db_engine(f"sqlite:///{tmp_path}/var/f.sqlite3")
