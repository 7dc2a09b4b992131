"""A large mail for tests whose commit can be held open: what a 26 MB mail's transaction does to SQLite's
write lock for tens of milliseconds, for as long as a test needs."""

from __future__ import annotations

import threading
from collections.abc import Iterator


class SlowLargeMail:
    """A spooled large mail whose bytes reach the database only when `release` is set: its transaction
    holds SQLite's write lock meanwhile, as a 26 MB mail's does for tens of milliseconds."""

    def __init__(self, size: int = 2 * 1024 * 1024) -> None:
        self.data = b"Subject: large\r\n\r\n" + b"x" * size
        self.release = threading.Event()
        self._reads = 0

    def __len__(self) -> int:
        return len(self.data)

    def chunks(self) -> Iterator[bytes]:
        self._reads += 1
        yield self.data[:65536]
        if self._reads > 1:  # the first read is the digest, before the transaction
            assert self.release.wait(30)
        yield self.data[65536:]
