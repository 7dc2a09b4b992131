"""A cache file beside the sources, as Python keeps byte code: marshal, written atomically, best effort.

The catalogues' parsed TOML (`processor.catalogues.parsed`) and the compiled patterns (`processor.regex_cache`)
are kept this way. Readers check what the file names (its source's stamp, the interpreter) and ignore anything
they cannot read, so a write may fail without harm.
"""

from __future__ import annotations

import contextlib
import marshal
import os
from pathlib import Path

__all__ = ["write_atomically"]


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
