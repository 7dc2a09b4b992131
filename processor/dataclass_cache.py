"""The methods `dataclasses` writes for each record class, compiled once per installation, not once per process.

For every class, `dataclasses` (CPython 3.11, 3.12) writes the source of each method it adds (`__init__`,
`__repr__`, `__eq__`, the frozen classes' `__setattr__` and `__delattr__`, `__hash__`) and compiles it with
`exec`. The classes that `faxbounce classify` imports (settings, records, detector tables) make 213 such
functions: compiling them took 34-40 ms of its 125-150 ms of imports on this project's machines, the largest
single cost of start-up, paid again by every command, worker and forked process. Compiling the same source gives
the same code every time, so the code is kept beside the sources, as Python keeps byte code and as
`processor.regex_cache` keeps patterns:

- `install()` gives the `dataclasses` module an `exec` of its own (a module global, which shadows the builtin in
  that module and nowhere else). Handed a source it knows, it runs the code compiled from that very source:
  `exec(compile(source, "<string>", "exec", dont_inherit=True), ...)` is what `exec(source, ...)` does there
  (the compile inherits no `__future__` flags, as `dataclasses` has none). Anything else goes to the builtin.
  The cache is keyed by the whole source, so it cannot be stale.
- The file names the interpreter's exact version and byte-code magic number and is read by that interpreter only
  (code objects are private to a release). Anything unreadable is ignored; an entry is written only when the
  code read back from it compares equal to what `compile` gives.
- A process that compiled a source the cache lacks writes it at exit, unless `sys.dont_write_bytecode`
  (PYTHONDONTWRITEBYTECODE); `write()` writes it regardless (`make install`, through `processor.caches`).
  Python 3.13 writes and compiles a class's methods in one `exec`, so there the cache simply fills once.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import marshal
import sys
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType
from typing import Any

from processor.cachefile import KeptCache

__all__ = ["CodeCache", "cache_path", "install", "write"]

_STAMP = ("faxbounce-dataclass-code-1", sys.version, MAGIC_NUMBER)


def cache_path() -> Path | None:
    """The package's cache file; None when the interpreter keeps no byte code caches."""
    tag = sys.implementation.cache_tag
    return None if tag is None else Path(__file__).parent / "__pycache__" / f"dataclass_code.{tag}.marshal"


class CodeCache(KeptCache[str, bytes]):
    """Code compiled from the sources `dataclasses` writes, in one file (`path`; None: no cache). An entry: the
    source's code, marshalled (unmarshalled only when asked for: reading the whole file as code objects took
    3.8 ms, as bytes 0.5 ms)."""

    stamp = _STAMP  # at most `max_missed` sources remembered: classes made at run time must not grow a process

    def exec(self, source: Any, globals: dict[str, Any] | None = None,
             locals: dict[str, Any] | None = None, /) -> None:
        """`exec(source, globals, locals)` as `dataclasses` calls it, the source's code from the cache."""
        if not isinstance(source, str) or globals is None:  # not the call this cache serves: the builtin's
            return builtins.exec(_compiled(source), vars(dataclasses) if globals is None else globals, locals)
        code = _code(self.kept().get(source))
        if code is None:
            code = _compiled(source)
            self.remember_missed(source)
        return builtins.exec(code, globals, locals)

    def _entry(self, key: str, kept: bytes | None) -> bytes | None:
        code = _compiled(key)  # what is written is always the compiler's own, whatever the file held
        with contextlib.suppress(Exception):
            if _code(packed := marshal.dumps(code)) == code:
                return packed
        return None

    def _is_key(self, key: object) -> bool:
        return isinstance(key, str)


def _compiled(source: Any) -> Any:
    """`source` compiled as `exec(source)` in `dataclasses` compiles it: with that module's future flags (none),
    not this module's (`compile` would otherwise give the methods `from __future__ import annotations`)."""
    return compile(source, "<string>", "exec", dont_inherit=True) if isinstance(source, str) else source


def _code(packed: object) -> CodeType | None:
    """The code an entry holds; None for none, or for anything but a code object marshalled."""
    if not isinstance(packed, bytes):
        return None
    try:
        code = marshal.loads(packed)
    except Exception:  # noqa: BLE001 - a damaged entry is a missing one
        return None
    return code if isinstance(code, CodeType) else None


_PACKAGE_CACHE = CodeCache(cache_path())
write = _PACKAGE_CACHE.write


def install() -> None:
    """Let `dataclasses` compile through the package's cache (idempotent)."""
    dataclasses.exec = _PACKAGE_CACHE.exec  # type: ignore[attr-defined]
