"""The SQLite give-way: new mail commits before derived rows when both want the one write lock.

SQLite has a single write lock, shared by the SMTP side (a client waits for its 250 until the mail is
committed) and the workers (results, which are derived and can wait). The SMTP side counts the mails waiting
for their commit in a shared-memory integer; a worker that sees any waits a little before it records, and
records one mail per transaction instead of a batch, so it never holds the lock long. PostgreSQL locks rows
and needs none of this: the daemon builds a GiveWay only for SQLite.

The integer lives in a memory file the daemon creates and hands to each worker process as a file descriptor
(`GiveWay.fd`; a worker maps it with `GiveWay(fd)`). Only the event loop writes it; workers only read it.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import time

__all__ = ["GiveWay"]

#: How long a worker holds back at most before recording while mail waits (bounded: results must progress).
YIELD_SECONDS = 0.2


def _memory_file() -> int:
    if hasattr(os, "memfd_create"):  # Linux: anonymous, nothing on disk to clean up
        return os.memfd_create("faxbounce-give-way")
    handle, path = tempfile.mkstemp(prefix="faxbounce-give-way-")
    os.unlink(path)
    return handle


class GiveWay:
    def __init__(self, fd: int | None = None) -> None:
        """A new counter (the daemon), or the daemon's counter by its descriptor `fd` (a worker)."""
        if fd is None:
            fd = _memory_file()
            os.ftruncate(fd, mmap.PAGESIZE)
        self.fd = fd
        self._memory = mmap.mmap(fd, mmap.PAGESIZE)
        self._waiting = memoryview(self._memory).cast("i")

    @property
    def value(self) -> int:
        """Mails waiting for their commit on the SMTP side (written by the event loop only)."""
        return self._waiting[0]

    @value.setter
    def value(self, count: int) -> None:
        self._waiting[0] = count

    def mail_waiting(self) -> bool:
        return self._waiting[0] > 0

    def wait_for_new_mail(self, seconds: float = YIELD_SECONDS) -> None:
        """Hold back until no mail waits for its commit, at most `seconds`."""
        deadline = time.monotonic() + seconds
        while self._waiting[0] > 0 and time.monotonic() < deadline:
            time.sleep(0.001)

    def batch_size(self, normal: int) -> int:
        """One mail per transaction while mail waits (batches of 20 halved acceptance under load), else `normal`."""
        return 1 if self.mail_waiting() else normal
