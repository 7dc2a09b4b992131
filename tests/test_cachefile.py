"""What the caches beside the sources share (`processor.cachefile.KeptCache`): a process that computed what the
file lacks writes it at exit, as Python writes byte code, unless PYTHONDONTWRITEBYTECODE says not to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from processor.dataclass_cache import CodeCache
from processor.detect.mailbounce.tables import WordingCache
from processor.regex_cache import PatternCache

ROOT = Path(__file__).resolve().parents[1]

#: For each cache: a process that misses one entry, and the number of entries its file then holds.
_MISSING = {
    "patterns": ("""
import sys
from pathlib import Path
from processor.regex_cache import PatternCache
PatternCache(Path(sys.argv[1])).compile(r"fax(\\d+)")
""", lambda path: PatternCache(path), 1),
    "record classes": ("""
import dataclasses, sys
from pathlib import Path
from processor.dataclass_cache import CodeCache
dataclasses.exec = CodeCache(Path(sys.argv[1])).exec
@dataclasses.dataclass(frozen=True)
class Made:
    name: str
""", lambda path: CodeCache(path), 6),  # __init__, __repr__, __eq__, __setattr__, __delattr__, __hash__
    "wordings": ("""
import sys
from pathlib import Path
from processor.detect.mailbounce.tables import WordingCache
cache = WordingCache(Path(sys.argv[1]))
cache.analysis("mailbox (?:is )?full")
cache.analysis("over quota")
""", lambda path: WordingCache(path), 2),
}


@pytest.mark.parametrize("cache", sorted(_MISSING))
@pytest.mark.parametrize("dont_write", [False, True])
def test_a_process_that_missed_writes_the_cache_at_exit_unless_told_not_to(tmp_path: Path, cache: str,
                                                                           dont_write: bool) -> None:
    script, open_cache, entries = _MISSING[cache]
    path = tmp_path / "cache.marshal"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if dont_write:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, cwd=ROOT, env=env)
    assert path.exists() is not dont_write
    if not dont_write:
        assert len(open_cache(path).kept()) == entries
