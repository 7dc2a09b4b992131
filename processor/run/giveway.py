"""The SQLite give-way: new mail commits before derived rows when both want the one write lock.

SQLite has a single write lock, shared by the SMTP side (a client waits for its 250 until the mail is
committed) and the workers (results, which are derived and can wait). The SMTP side counts the mails waiting
for their commit in a shared-memory integer; a worker that sees any waits a little before it records, and
records one mail per transaction instead of a batch, so it never holds the lock long. PostgreSQL locks rows
and needs none of this: the daemon builds a GiveWay only for SQLite.
"""

from __future__ import annotations

import time
from multiprocessing.context import BaseContext

__all__ = ["GiveWay"]

#: How long a worker holds back at most before recording while mail waits (bounded: results must progress).
YIELD_SECONDS = 0.2


class GiveWay:
    def __init__(self, context: BaseContext) -> None:
        self._waiting = context.RawValue("i", 0)

    @property
    def value(self) -> int:
        """Mails waiting for their commit on the SMTP side (written by the event loop only)."""
        return int(self._waiting.value)

    @value.setter
    def value(self, count: int) -> None:
        self._waiting.value = count

    def mail_waiting(self) -> bool:
        return self._waiting.value > 0

    def wait_for_new_mail(self, seconds: float = YIELD_SECONDS) -> None:
        """Hold back until no mail waits for its commit, at most `seconds`."""
        deadline = time.monotonic() + seconds
        while self._waiting.value > 0 and time.monotonic() < deadline:
            time.sleep(0.001)

    def batch_size(self, normal: int) -> int:
        """One mail per transaction while mail waits (batches of 20 halved acceptance under load), else `normal`."""
        return 1 if self.mail_waiting() else normal
