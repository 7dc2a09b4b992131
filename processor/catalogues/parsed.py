"""A catalogue file's TOML, parsed once per change of the file: the parsed tables are kept in `__pycache__`
beside it (marshal, as Python keeps a module's byte code), because parsing the catalogues with the stdlib's
pure-Python `tomllib` cost more than any other step of a command's start-up (about 100 million instructions of
`faxbounce classify one.eml`'s 700; reading the cache costs 2).

The cache is a cache: it is used only when it names the file's current size and modification time (to the
nanosecond) and this interpreter's marshal format, anything unreadable is ignored, and it is written atomically
(a temporary file renamed over it). Like byte code, it is not written at run time when `sys.dont_write_bytecode`
(PYTHONDONTWRITEBYTECODE) says not to; `write_caches()` writes it regardless, as `compileall` does for byte code
(`make install` runs both).
"""

from __future__ import annotations

import contextlib
import marshal
import sys
from pathlib import Path
from typing import Any

from processor.cachefile import write_atomically
from processor.errors import CatalogueError

__all__ = ["cache_path", "read_toml", "write_caches"]

#: Bumped when what the cache holds changes shape; with the interpreter's cache tag, part of every cache.
_FORMAT = "faxbounce-catalogue-1"


def cache_path(source: Path) -> Path | None:
    """Where `source`'s parsed tables are kept; None when the interpreter keeps no byte code caches."""
    tag = sys.implementation.cache_tag
    return None if tag is None else source.parent / "__pycache__" / f"{source.name}.{tag}.marshal"


def read_toml(source: Path, write: bool | None = None) -> dict[str, Any]:
    """`source` parsed: from its cache when that is current, else with tomllib (then cached, unless `write` is
    False or, when `write` is None, `sys.dont_write_bytecode`). A missing or malformed file raises
    CatalogueError naming it."""
    try:
        stat = source.stat()
    except OSError as exc:
        raise CatalogueError(f"{source.name}: {exc.strerror or exc}") from exc
    stamp = (_FORMAT, stat.st_mtime_ns, stat.st_size)
    cached = cache_path(source)
    if cached is not None:
        with contextlib.suppress(Exception):  # a cache never fails a load: any surprise means "parse the file"
            kept = marshal.loads(cached.read_bytes())
            if isinstance(kept, tuple) and len(kept) == 2 and kept[0] == stamp and isinstance(kept[1], dict):
                return kept[1]
    import tomllib  # only when a cache is missing or stale: the import alone is 40 million instructions

    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"{source.name}: {exc}") from exc
    if cached is not None and (not sys.dont_write_bytecode if write is None else write):
        write_atomically(cached, (stamp, data))  # best effort: a TOML date, say, leaves no cache
    return data


def write_caches(directory: Path | None = None) -> list[Path]:
    """Parse every `*.toml` in `directory` (the catalogues) and write its cache; the caches written."""
    written = []
    for source in sorted((directory or Path(__file__).parent).glob("*.toml")):
        read_toml(source, write=True)
        cached = cache_path(source)
        if cached is not None and cached.exists():
            written.append(cached)
    return written
