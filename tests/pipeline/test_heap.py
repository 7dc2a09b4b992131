"""Start-up's objects are frozen out of the collector's full collections (`processor.run.heap`).

A full collection walks every tracked object, and a daemon holds hundreds of thousands from start-up on: the
SMTP process paused 27-50 ms in the middle of a load, about the p99 of its replies. The daemon freezes them
before it takes its first session; a worker after its first mail, which imports the parsers.
"""

from __future__ import annotations

import gc
import re
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonctl import start_daemon
from mailfactory import interfax_failure

from processor.run.heap import freeze_long_lived
from processor.store.db import create_db_engine, migrate


class Node:
    """An object in a reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process goes on collecting everything, as before


def test_start_ups_garbage_is_freed_not_frozen_and_later_garbage_is_still_collected(unfrozen: None) -> None:
    freed: list[str] = []
    left = Node()
    weakref.finalize(left, freed.append, "start-up's garbage")
    del left
    frozen = freeze_long_lived()
    assert frozen == gc.get_freeze_count() > 1000  # the modules this process imported, at least
    assert freed == ["start-up's garbage"]
    later = Node()
    weakref.finalize(later, freed.append, "later garbage")
    del later
    gc.collect()
    assert freed == ["start-up's garbage", "later garbage"]


def test_the_daemon_freezes_before_its_first_session_and_a_worker_after_its_first_mail(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'heap.sqlite3'}"
    migrate(create_db_engine(url))
    daemon = start_daemon(url, tmp_path, metrics=False, FAXBOUNCE_LOGGING_LEVEL="DEBUG",
                          FAXBOUNCE_PROCESSING_WORKERS="1")
    try:
        for number in ("03-5555-0101", "03-5555-0102"):
            assert daemon.send(interfax_failure(number=number, code="3912"))[0] == 250
        assert daemon.wait_for("SELECT count(*) FROM inbound_messages WHERE status = 'processed'", [(2,)]) == [(2,)]
    finally:
        assert daemon.stop() == 0
    log = daemon.log.read_text(errors="replace")
    daemon_frozen = re.search(r"(\d+) start-up objects frozen out of full collections", log)
    assert daemon_frozen is not None, log
    assert int(daemon_frozen.group(1)) > 10_000
    assert daemon_frozen.start() < log.index("listening on")
    worker_frozen = [m for m in re.finditer(r"(?<!start-up )objects frozen out of full collections", log)]
    assert len(worker_frozen) == 1, log  # once, not after every batch
    assert worker_frozen[0].start() > log.index("started as")
