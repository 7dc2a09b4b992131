"""Fixtures of the operations tests: a real `faxbounce serve` with its metrics endpoint on a free port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from daemonctl import Daemon, start_daemon

from processor.store.db import create_db_engine, migrate


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def factory(db_url: str, args: tuple[str, ...] = (), **env_extra: str) -> Daemon:
        migrate(create_db_engine(db_url))
        daemon = start_daemon(db_url, tmp_path, args, **env_extra)
        started.append(daemon)
        return daemon

    yield factory
    for daemon in started:
        daemon.stop()
