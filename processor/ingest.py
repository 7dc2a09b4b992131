"""Backfill: read mails from .eml files, mbox files and maildirs, for `faxbounce ingest`."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path

__all__ = ["iter_mail_sources"]


def iter_mail_sources(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield (source label, raw bytes) for every mail under `path`, in a stable order.

    A directory with cur/ and new/ is a maildir; another directory is walked for files; a file that starts
    with an mbox `From ` line is an mbox; any other file is one mail.
    """
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            box = mailbox.Maildir(path, factory=None, create=False)
            for key in sorted(box.keys()):
                yield f"{path}#{key}", box.get_bytes(key)
            return
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            yield from iter_mail_sources(child)
        return
    with path.open("rb") as handle:
        head = handle.read(5)
    if head == b"From ":
        box = mailbox.mbox(path, factory=None, create=False)
        try:
            for index, key in enumerate(box.keys()):
                yield f"{path}#{index + 1}", box.get_bytes(key)
        finally:
            box.close()
        return
    yield str(path), path.read_bytes()
