"""The SQLite give-way: new mail commits before derived rows when both want the one write lock.

SQLite has a single write lock, shared by the SMTP side (a client waits for its 250 until the mail is
committed) and the workers (results, which are derived and can wait). The SMTP side counts the mails waiting
for their commit in a shared-memory integer; a worker that sees any waits a little before it records, and
records one mail per transaction instead of a batch, so it never holds the lock long. PostgreSQL locks rows
and needs none of this: the daemon builds a GiveWay only for SQLite. (While the SMTP side is quiet a worker
records its batch, `processor.run.worker.BATCH` mails, in one transaction.)

A worker also keeps to one mail per transaction for `ACTIVE_SECONDS` after the count last changed (a mail
arrived or was committed): at 500 mails/s the count is often zero for a moment between two commits, and a
batch of 20 begun in such a moment held the lock for 8 ms at the median and up to 41 ms, the tail of the
SMTP side's 250s (measured at 500 msg/s offered: 53 such batches in 6 s).

The integer and the time of its last change live in a memory file the daemon creates and hands to each worker
process as a file descriptor (`GiveWay.fd`; a worker maps it with `GiveWay(fd)`). Only the event loop writes
them; workers only read them.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import time

__all__ = ["GiveWay"]

#: How long a worker holds back at most before recording while mail waits (bounded: results must progress).
YIELD_SECONDS = 0.2
#: For how long after the SMTP side last took or committed a mail a worker records one mail per transaction.
ACTIVE_SECONDS = 0.05


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
        self._waiting = memoryview(self._memory)[:4].cast("i")
        self._changed = memoryview(self._memory)[8:16].cast("q")
        """`time.monotonic_ns()` of the last change of the count (the clock is the machine's, not the process's)."""

    @property
    def value(self) -> int:
        """Mails waiting for their commit on the SMTP side (written by the event loop only)."""
        return self._waiting[0]

    @value.setter
    def value(self, count: int) -> None:
        self._changed[0] = time.monotonic_ns()
        self._waiting[0] = count

    @property
    def last_change_ns(self) -> int:
        """`time.monotonic_ns()` when the count last changed; 0 before it ever did."""
        return self._changed[0]

    def smtp_active(self) -> bool:
        """Mail waits for its commit, or the SMTP side took or committed one within `ACTIVE_SECONDS`."""
        return self.mail_waiting() or time.monotonic_ns() - self.last_change_ns < ACTIVE_SECONDS * 1e9

    def mail_waiting(self) -> bool:
        return self._waiting[0] > 0

    def wait_for_new_mail(self, seconds: float = YIELD_SECONDS) -> None:
        """Hold back until no mail waits for its commit, at most `seconds`."""
        deadline = time.monotonic() + seconds
        while self._waiting[0] > 0 and time.monotonic() < deadline:
            time.sleep(0.001)

    def batch_size(self, normal: int) -> int:
        """One mail per transaction while the SMTP side is active (batches of 20 halved acceptance under load and
        made the tail of its latency), else `normal`."""
        return 1 if self.smtp_active() else normal
