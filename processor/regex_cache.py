"""Regular expressions compiled once per installation, not once per process: faxbounce's patterns (the catalogue
tables' wordings above all) cost a tenth of classifying the 629 corpus mails in one process and a fifth of
`faxbounce classify one.eml` to compile, and compiling a pattern gives the same program every time.

`compile(source, flags)` is `re.compile(source, flags)`. What the stdlib's compiler hands its C engine for a
pattern (`_sre.compile`'s arguments: the flags, the program, the groups) is kept in `__pycache__` beside this
file, and a pattern found there is built from it, skipping the parsing and code generation in Python. Like the
catalogue cache (`processor.catalogues.parsed`), it is a cache:

- It is keyed by the pattern's source and flags, so an edited pattern is simply not found; it cannot be stale.
  Patterns built from a mail's own text go to `re.compile`, not here.
- It is used only by the interpreter that wrote it (its exact version and `_sre`'s magic number): the program's
  format is private to CPython and changes between releases. The C engine checks every program it is handed
  (`_validate`), so even a damaged file cannot run a malformed one; anything unreadable is ignored.
- An entry is written only after the pattern built from it compared equal (program, flags, source) to what
  `re.compile` makes of the same source, so a pattern from the cache is the pattern `re.compile` would give.
- It is written atomically (a temporary file renamed over it), at exit of a process that compiled a pattern the
  cache lacks, unless `sys.dont_write_bytecode` (PYTHONDONTWRITEBYTECODE) says not to, as Python writes byte
  code; `write()` writes it regardless (`make install` runs it after a warm-up, `processor.caches`).
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
from array import array
from pathlib import Path
from typing import Any, AnyStr

from processor.cachefile import KeptCache

try:  # CPython's regular expression engine and compiler (private): without them, this is re.compile
    import _sre
    from re import _compiler
except ImportError:  # pragma: no cover - another interpreter
    _sre = None  # type: ignore[assignment]
    _compiler = None  # type: ignore[assignment]

__all__ = ["PatternCache", "cache_path", "compile", "write"]

#: With the interpreter's exact version and the engine's magic number, what a cache must name to be read.
_STAMP = ("faxbounce-regex-1", sys.version, getattr(_sre, "MAGIC", None), getattr(_sre, "CODESIZE", None))

#: The array type of one word of a program: `_sre.CODESIZE` bytes (4 in CPython).
_WORD = next((code for code in "IL" if array(code).itemsize == getattr(_sre, "CODESIZE", 4)), "I")

#: Patterns a process remembers as missing at most: a long-running process must not grow with them. (Patterns
#: built from a mail's own text are not compiled through the cache at all: they would only fill it.)
MAX_MISSED = 2048

_Key = tuple[str | bytes, int]
_compiler_lock = threading.Lock()


def cache_path() -> Path | None:
    """The package's cache file; None when the interpreter keeps no byte code caches or its engine is not
    CPython's."""
    tag = sys.implementation.cache_tag
    if tag is None or _sre is None:
        return None
    return Path(__file__).parent / "__pycache__" / f"regex_cache.{tag}.marshal"


class PatternCache(KeptCache[_Key, tuple[Any, ...]]):
    """The cache in one file (`path`; None: no cache, every pattern is compiled). An entry: `_sre.compile`'s
    arguments after the source, the program packed."""

    stamp = _STAMP
    max_missed = MAX_MISSED

    def compile(self, source: AnyStr, flags: int = 0) -> re.Pattern[AnyStr]:
        """`re.compile(source, flags)`, built from the cache when the cache holds it."""
        if not isinstance(source, str | bytes):  # a compiled pattern, say: re.compile's to answer
            return re.compile(source, flags)
        key = (source, int(flags))  # a RegexFlag is an int that marshal cannot keep
        packed = self.kept().get(key)
        if packed is not None and (arguments := _unpacked(packed)) is not None:
            with contextlib.suppress(Exception):  # a cache never fails a compile
                return _sre.compile(source, *arguments)
        pattern = re.compile(source, flags)
        self.remember_missed(key)
        return pattern

    def _entry(self, key: _Key, kept: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
        arguments = _unpacked(kept) if kept is not None else None
        if arguments is None or not _same(key, arguments):  # a damaged or foreign entry: from the compiler
            arguments = _arguments(*key)
            if arguments is None or not _same(key, arguments):
                return None
        return _packed(arguments)

    def _is_key(self, key: object) -> bool:
        return _is_key(key)


_PACKAGE_CACHE = PatternCache(cache_path())
compile = _PACKAGE_CACHE.compile  # re.compile, through the package's cache
write = _PACKAGE_CACHE.write


def _is_key(key: object) -> bool:
    return (isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str | bytes)
            and isinstance(key[1], int))


def _packed(arguments: tuple[Any, ...]) -> tuple[Any, ...]:
    """The program as bytes (`CODESIZE` each word), turned back into a list only for the patterns a process
    compiles: lists of ints are all built when the file is read (4 ms for the 536 patterns of the corpus run)."""
    flags, code, *groups = arguments
    return (flags, array(_WORD, code).tobytes(), *groups)


def _unpacked(packed: Any) -> tuple[Any, ...] | None:
    """`_packed`'s arguments back; None for anything else (a damaged file with the right stamp)."""
    try:
        flags, code, *groups = packed
        words = array(_WORD)
        words.frombytes(code)
    except (TypeError, ValueError):
        return None
    return (flags, words.tolist(), *groups)


class _Recorder:
    """Stands in for `_sre` inside `re._compiler` while one pattern compiles: keeps the arguments the compiler
    hands the engine, so the cache holds exactly what this interpreter's compiler makes, whatever its version."""

    def __init__(self) -> None:
        self.arguments: tuple[Any, ...] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(_sre, name)

    def compile(self, source: Any, flags: int, code: list[int], *groups: Any) -> Any:
        # plain ints: the compiler's opcodes are int subclasses, which marshal cannot keep
        self.arguments = (int(flags), [int(word) for word in code], *groups)
        return _sre.compile(source, flags, code, *groups)


def _arguments(source: str | bytes, flags: int) -> tuple[Any, ...] | None:
    """The engine's arguments for a pattern, from this interpreter's own compiler; None when it cannot say."""
    if _compiler is None or getattr(_compiler, "_sre", None) is not _sre:
        return None
    recorder = _Recorder()
    with _compiler_lock:
        _compiler._sre = recorder  # type: ignore[assignment]
        try:
            _compiler.compile(source, flags)
        except Exception:  # noqa: BLE001 - a pattern that does not compile is not kept
            return None
        finally:
            _compiler._sre = _sre
    return recorder.arguments


def _same(key: _Key, arguments: tuple[Any, ...]) -> bool:
    """Whether the pattern built from `arguments` equals `re.compile`'s (patterns compare source, flags and
    program)."""
    try:
        return _sre.compile(key[0], *arguments) == re.compile(*key)
    except Exception:  # noqa: BLE001 - not the same, then
        return False
