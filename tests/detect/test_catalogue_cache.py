"""The parsed-catalogue cache (`processor.catalogues.parsed`): used only while it matches its file, never a reason
for a load to fail, and a load through it gives what tomllib gives."""

from __future__ import annotations

import marshal
import os
import sys
import tomllib
from pathlib import Path

import pytest

from processor.catalogues import parsed
from processor.catalogues.parsed import cache_path, read_toml, write_caches
from processor.errors import CatalogueError

CATALOGUES = Path(parsed.__file__).parent
SHIPPED = sorted(CATALOGUES.glob("*.toml"))


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    source = tmp_path / "vendor.toml"
    source.write_text('vendor = "demo"\n[labels]\ncode = ["送信結果", "Status"]\n', encoding="utf-8")
    return source


def _cached(source: Path) -> Path:
    path = cache_path(source)
    assert path is not None, "this interpreter keeps byte code caches"
    return path


@pytest.mark.parametrize("source", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_catalogue_reads_the_same_through_its_cache(source: Path) -> None:
    expected = tomllib.loads(source.read_text(encoding="utf-8"))
    write_caches()
    assert _cached(source).exists()
    assert read_toml(source) == expected


def test_a_current_cache_is_what_is_read(catalogue: Path) -> None:
    read_toml(catalogue, write=True)
    stamp, data = marshal.loads(_cached(catalogue).read_bytes())
    data["vendor"] = "from the cache"
    _cached(catalogue).write_bytes(marshal.dumps((stamp, data)))
    assert read_toml(catalogue)["vendor"] == "from the cache"


def test_an_edited_file_is_parsed_again_and_cached_again(catalogue: Path) -> None:
    read_toml(catalogue, write=True)
    catalogue.write_text('vendor = "edited, longer than before"\n', encoding="utf-8")
    assert read_toml(catalogue, write=True) == {"vendor": "edited, longer than before"}
    assert marshal.loads(_cached(catalogue).read_bytes())[1] == {"vendor": "edited, longer than before"}


def test_the_same_size_with_another_modification_time_is_parsed_again(catalogue: Path) -> None:
    read_toml(catalogue, write=True)
    catalogue.write_text(catalogue.read_text(encoding="utf-8").replace("demo", "odme"), encoding="utf-8")
    before = catalogue.stat()
    os.utime(catalogue, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000))  # same size, a different time
    assert read_toml(catalogue)["vendor"] == "odme"


@pytest.mark.parametrize("garbage", [b"", b"\x00garbage", marshal.dumps([1, 2]), marshal.dumps((("x", 0, 0), {}))])
def test_an_unreadable_or_foreign_cache_is_ignored_and_replaced(catalogue: Path, garbage: bytes) -> None:
    _cached(catalogue).parent.mkdir()
    _cached(catalogue).write_bytes(garbage)
    assert read_toml(catalogue, write=True)["vendor"] == "demo"
    assert marshal.loads(_cached(catalogue).read_bytes())[1]["vendor"] == "demo"


def test_no_cache_is_written_where_byte_code_is_not(catalogue: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert read_toml(catalogue)["vendor"] == "demo"
    assert not _cached(catalogue).exists()
    assert write_caches(catalogue.parent) == [_cached(catalogue)]  # as compileall, regardless


def test_a_directory_that_cannot_hold_the_cache_costs_nothing(catalogue: Path) -> None:
    _cached(catalogue).parent.write_text("a file where __pycache__ would be", encoding="utf-8")
    assert read_toml(catalogue, write=True)["vendor"] == "demo"
    assert list(catalogue.parent.glob("*.tmp")) == []


def test_a_value_marshal_cannot_keep_leaves_no_cache(catalogue: Path) -> None:
    catalogue.write_text('vendor = "demo"\nsince = 2024-01-01\n', encoding="utf-8")
    assert str(read_toml(catalogue, write=True)["since"]) == "2024-01-01"
    assert not _cached(catalogue).exists()


def test_a_malformed_or_missing_file_names_itself(catalogue: Path) -> None:
    read_toml(catalogue, write=True)
    catalogue.write_text('vendor = "demo\n', encoding="utf-8")  # unterminated string
    with pytest.raises(CatalogueError, match=r"^vendor\.toml: "):
        read_toml(catalogue)
    with pytest.raises(CatalogueError, match=r"^absent\.toml: "):
        read_toml(catalogue.with_name("absent.toml"))
