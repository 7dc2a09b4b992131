"""The compiled-pattern cache (`processor/regex_cache.py`) and what `make install` fills it with
(`processor/caches.py`): a pattern from the cache is the pattern `re.compile` gives, a cache that is not this
interpreter's or is damaged is ignored, and the commands' usual paths find their patterns in it."""

from __future__ import annotations

import json
import marshal
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from processor import regex_cache
from processor.caches import write_caches
from processor.regex_cache import MAX_MISSED, PatternCache

ROOT = Path(__file__).resolve().parents[1]

#: (source, flags): named and numbered groups, a Japanese label, look-arounds, a bytes pattern, wide classes.
PATTERNS: list[tuple[str | bytes, int]] = [
    (r"(?P<code>[245]\d\d)[ -](?P<status>[245]\.\d{1,3}\.\d{1,3})", 0),
    (r"^[ \u3000]*送信結果[:：]\s*(-?\d+)", re.IGNORECASE | re.MULTILINE),
    (r"(?<![0-9A-Za-z@])user unknown(?![0-9A-Za-z])", re.IGNORECASE),
    (rb"(?:(?<=\A[^\r\n]{998})|(?<=[\r\n][^\r\n]{998}))(?:\r\n|\r|\n) ", 0),
    ("[\u3041-\u30ff\u4e00-\u9fff]+", 0),
]


def _filled(path: Path) -> PatternCache:
    cache = PatternCache(path)
    for source, flags in PATTERNS:
        cache.compile(source, flags)
    assert cache.write() == path
    return cache


def test_a_pattern_read_from_the_cache_is_the_pattern_re_compile_gives(tmp_path: Path) -> None:
    _filled(tmp_path / "patterns.marshal")
    fresh = PatternCache(tmp_path / "patterns.marshal")
    for source, flags in PATTERNS:
        assert fresh.compile(source, flags) == re.compile(source, flags)  # source, flags and program
    assert fresh.missed == set()  # ... and every one came from the file
    found = fresh.compile(PATTERNS[0][0]).search("host said: 550 5.1.1 user unknown")
    assert found is not None and found.group("code", "status") == ("550", "5.1.1")
    assert fresh.compile(PATTERNS[1][0], PATTERNS[1][1]).findall("お知らせ\n 送信結果： 3912\n") == ["3912"]


def test_flags_given_as_regexflag_or_int_are_one_entry(tmp_path: Path) -> None:
    cache = PatternCache(tmp_path / "patterns.marshal")
    cache.compile("abc", re.IGNORECASE | re.MULTILINE)
    cache.compile("abc", int(re.IGNORECASE | re.MULTILINE))
    assert cache.missed == {("abc", int(re.IGNORECASE | re.MULTILINE))}


def _forged(path: Path, stamp: object, source: str, program_of: str) -> None:
    """A cache file that names `source` but holds the program of `program_of`."""
    arguments = regex_cache._arguments(program_of, 0)
    assert arguments is not None
    path.write_bytes(marshal.dumps((stamp, {(source, 0): regex_cache._packed(arguments)})))


def test_a_cache_written_by_another_interpreter_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "patterns.marshal"
    other = ("faxbounce-regex-1", "3.11.0 (another build)", *regex_cache._STAMP[2:])
    _forged(path, other, "apple", program_of="pear")
    cache = PatternCache(path)
    pattern = cache.compile("apple")
    assert pattern.search("an apple") and not pattern.search("a pear")
    assert cache.missed == {("apple", 0)}


def test_writing_replaces_an_entry_the_compiler_would_not_make(tmp_path: Path) -> None:
    path = tmp_path / "patterns.marshal"
    _forged(path, regex_cache._STAMP, "apple", program_of="pear")
    assert PatternCache(path).write() == path
    cache = PatternCache(path)
    pattern = cache.compile("apple")
    assert pattern == re.compile("apple") and pattern.search("an apple")
    assert cache.missed == set()


@pytest.mark.parametrize("content", [b"", b"\x00garbage", None], ids=["empty", "garbage", "truncated"])
def test_a_damaged_cache_is_ignored_and_written_again(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "patterns.marshal"
    if content is None:
        _filled(path)
        content = path.read_bytes()[: len(path.read_bytes()) // 2]
    path.write_bytes(content)
    cache = PatternCache(path)
    for source, flags in PATTERNS:
        assert cache.compile(source, flags) == re.compile(source, flags)
    assert len(cache.missed) == len(PATTERNS)
    assert cache.write() == path
    fresh = PatternCache(path)
    fresh.compile(*PATTERNS[0])
    assert fresh.missed == set()


def test_damaged_entries_under_this_interpreters_stamp_are_compiled_and_dropped(tmp_path: Path) -> None:
    path = tmp_path / "patterns.marshal"
    path.write_bytes(marshal.dumps((regex_cache._STAMP, {("abc", 0): "not arguments", ("x+", 0): (0, b"\x01", 0),
                                                         5: 7, ("d", "e"): None})))
    cache = PatternCache(path)
    assert cache.compile("abc") == re.compile("abc") and cache.compile("abc").search("xabcx")
    assert cache.compile("x+").fullmatch("xxx")  # the engine refused the damaged program: compiled as usual
    assert cache.write() == path
    _stamp, entries = marshal.loads(path.read_bytes())
    assert set(entries) == {("abc", 0), ("x+", 0)}  # rewritten from the compiler; the garbage keys dropped
    fresh = PatternCache(path)
    assert fresh.compile("x+") == re.compile("x+") and fresh.missed == set()


def test_a_cache_that_cannot_be_written_costs_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory would be")
    cache = PatternCache(blocker / "patterns.marshal")
    assert cache.compile("abc").search("xabcx")
    assert cache.write() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-directory"]


def test_a_long_running_process_remembers_a_bounded_number_of_misses(tmp_path: Path) -> None:
    cache = PatternCache(tmp_path / "patterns.marshal")
    for number in range(MAX_MISSED + 10):
        cache.compile(f"x{number}y")
    assert len(cache.missed) == MAX_MISSED


_CLASSIFY = """
import contextlib, io, json, sys
from processor import regex_cache
from processor.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    status = main(["classify", *sys.argv[1:]])
print(json.dumps({"status": status, "missed": sorted(map(repr, regex_cache._PACKAGE_CACHE.missed))}))
"""


@pytest.mark.parametrize("mail", [
    "tests/data/interfax/csv-01.eml",
    "tests/data/interfax/text-ja-01.eml",
    "tests/data/interfax/html-ja-01.eml",
    "tests/data/faxtc/bounce-01.eml",
    "tests/data/dsn/exim-retry-timeout.eml",
])
def test_after_install_a_command_compiles_none_of_its_own_patterns(mail: str) -> None:
    """`make install`'s warm-up covers the usual paths: InterFAX results (CSV, text, HTML), fax.tc bounces and
    delivery reports. (Patterns of the stdlib and of phonenumbers are theirs to compile.)"""
    assert regex_cache.cache_path() in write_caches()
    env = {k: v for k, v in os.environ.items() if k != "FAXBOUNCE_CONFIG"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # what is measured is the installed cache, not one this run writes
    done = subprocess.run([sys.executable, "-c", _CLASSIFY, mail], capture_output=True, text=True, cwd=ROOT,
                          env=env, check=True)
    result = json.loads(done.stdout)
    assert result == {"status": 0, "missed": []}


def test_every_pattern_in_the_installed_cache_is_the_one_re_compile_gives() -> None:
    write_caches()
    path = regex_cache.cache_path()
    assert path is not None
    stamp, entries = marshal.loads(path.read_bytes())
    assert stamp == regex_cache._STAMP and len(entries) > 300  # the bounce tables' wordings alone are 390
    cache = PatternCache(path)
    for source, flags in entries:
        assert cache.compile(source, flags) == re.compile(source, flags)
    assert cache.missed == set()
