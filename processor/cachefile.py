"""A cache file beside the sources, as Python keeps byte code: marshal, written atomically, best effort.

The catalogues' parsed TOML (`processor.catalogues.parsed`), the compiled patterns (`processor.regex_cache`) and
the record classes' code (`processor.dataclass_cache`) are kept this way. Readers check what the file names (its
source's stamp, the interpreter) and ignore anything they cannot read, so a write may fail without harm.
"""

from __future__ import annotations

import atexit
import contextlib
import marshal
import os
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

__all__ = ["KeptCache", "write_atomically"]

K = TypeVar("K")
V = TypeVar("V")


def write_atomically(path: Path, content: object) -> bool:
    """Write `content` marshalled to `path` through a temporary file renamed over it; False when it cannot be
    (a read-only installation, a full disk, a value marshal cannot keep), leaving no partial file."""
    try:
        payload = marshal.dumps(content)
    except ValueError:
        return False
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(exist_ok=True)
        temporary.write_bytes(payload)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        return False
    return True


class KeptCache(Generic[K, V]):
    """What a process computes from a key and every process would compute the same, kept in one file (`path`;
    None: no cache) under `stamp`, which names the interpreter that may read it. A key the file lacks is
    remembered (at most `max_missed`) and the file written at exit, unless `sys.dont_write_bytecode`
    (PYTHONDONTWRITEBYTECODE) says not to, as Python writes byte code; `write()` writes it regardless. A
    subclass says what an entry holds (`_entry`)."""

    stamp: ClassVar[tuple[Any, ...]]
    max_missed: ClassVar[int] = 2048

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.missed: set[K] = set()
        """Keys this process computed that the file lacks (at most `max_missed`)."""
        self._kept: dict[K, V] | None = None
        self._lock = threading.Lock()

    def kept(self) -> dict[K, V]:
        """The file's entries as read (empty when it cannot be read), read on first use."""
        return self._kept if self._kept is not None else self._read()

    def remember_missed(self, key: K) -> None:
        """Note a key computed without the file, for the write at exit."""
        if key not in self.missed and len(self.missed) < self.max_missed and self.path is not None:
            with self._lock:
                if not self.missed and not sys.dont_write_bytecode:
                    atexit.register(self._write_at_exit)
                self.missed.add(key)

    def write(self) -> Path | None:
        """Write the file: what it held and the keys this process missed, each entry as `_entry` checks or
        computes it anew; its path, or None when there is none or it cannot be written."""
        if self.path is None:
            return None
        kept = self.kept()
        with self._lock:
            wanted = {key for key in kept if self._is_key(key)} | self.missed
        entries: dict[K, V] = {}
        for key in sorted(wanted, key=repr):  # a stable file, whatever the keys' types
            if (entry := self._entry(key, kept.get(key))) is not None:
                entries[key] = entry
        if not write_atomically(self.path, (self.stamp, entries)):  # best effort, like byte code
            return None
        with self._lock:
            self._kept = entries
            self.missed.difference_update(entries)
        return self.path

    def _entry(self, key: K, kept: V | None) -> V | None:
        """The entry to write for `key`: `kept` (the file's) if it checks out, else one made anew; None to leave
        the key out."""
        raise NotImplementedError

    def _is_key(self, key: object) -> bool:
        """Whether a key read from the file is one this cache could hold (a foreign file's are dropped)."""
        return True

    def _read(self) -> dict[K, V]:
        kept: dict[K, V] = {}
        if self.path is not None:
            with contextlib.suppress(Exception):  # any surprise means "no cache"
                stamp, entries = marshal.loads(self.path.read_bytes())
                if stamp == self.stamp and isinstance(entries, dict):
                    kept = entries
        self._kept = kept
        return kept

    def _write_at_exit(self) -> None:
        if self.missed:
            self.write()
