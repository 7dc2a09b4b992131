"""The daemon's worker processes: how they are started, woken and stopped, and what runs beside them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from daemonctl import start_daemon, wait_until

from processor.run.giveway import GiveWay
from processor.run.pool import WakeListener, WakePipe
from processor.store.db import create_db_engine, migrate


@contextmanager
def _listener() -> Iterator[tuple[WakePipe, WakeListener]]:
    pipe = WakePipe()
    listener = WakeListener(pipe.read_fd)  # in a worker this is the inherited copy of the read end
    try:
        yield pipe, listener
    finally:
        pipe.close()
        pipe.handed_over()


def _waited(listener: WakeListener, seconds: float) -> float:
    started = time.monotonic()
    listener.wait(seconds)
    return time.monotonic() - started


def test_a_ring_wakes_the_worker_and_clear_forgets_it() -> None:
    with _listener() as (pipe, listener):
        assert _waited(listener, 0.2) >= 0.15  # nothing rang: the full wait
        pipe.ring()
        assert _waited(listener, 5) < 0.5
        listener.clear()
        assert _waited(listener, 0.2) >= 0.15  # the ring was consumed
        assert not listener.stopped()


def test_closing_the_pipe_stops_a_waiting_worker_at_once() -> None:
    with _listener() as (pipe, listener):
        pipe.ring()
        pipe.close()
        assert listener.stopped()  # the wake byte before the end is no obstacle
        assert _waited(listener, 5) < 0.5
        assert listener.stopped()
        reused = os.pipe()  # likely the numbers just freed
        pipe.close()  # again, as the daemon's stop after a restart may: nothing else is closed
        for fd in reused:
            os.fstat(fd)
            os.close(fd)


def test_a_stop_request_ends_a_wait_at_once() -> None:
    """What the worker's SIGTERM handler calls: systemd's stop signals every process of the service."""
    with _listener() as (_pipe, listener):
        threading.Timer(0.1, listener.request_stop).start()
        assert _waited(listener, 5) < 1
        assert listener.stopped()


def test_ringing_never_blocks_the_daemon_on_a_busy_worker() -> None:
    """One ring per stored mail: a worker busy for minutes must not fill the pipe and stall the event loop."""
    with _listener() as (pipe, listener):
        started = time.monotonic()
        for _ in range(200_000):  # three times what a Linux pipe buffers
            pipe.ring()
        assert time.monotonic() - started < 5
        listener.clear()
        assert not listener.stopped()
        pipe.close()
        assert listener.stopped()  # a stop is a closed pipe, never a byte that a full pipe could drop


def test_a_worker_process_reads_the_give_way_counter_by_its_descriptor() -> None:
    give_way = GiveWay()
    give_way.value = 7
    code = ("import sys, time; from processor.run.giveway import GiveWay; g = GiveWay(int(sys.argv[1])); "
            "print(g.value, flush=True); sys.stdin.readline(); print(g.value, g.mail_waiting(), flush=True)")
    child = subprocess.Popen([sys.executable, "-c", code, str(give_way.fd)], pass_fds=[give_way.fd],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().split() == ["7"]
    give_way.value = 0  # written after the child attached: shared memory, not a copy
    child.stdin.write("\n")
    child.stdin.flush()
    assert child.stdout.readline().split() == ["0", "False"]
    assert child.wait(10) == 0


def test_a_worker_process_sees_when_the_smtp_side_was_last_busy() -> None:
    """The time of the count's last change is shared too (CLOCK_MONOTONIC is the machine's, so a worker can
    compare it with its own clock): it keeps to one mail per transaction right after a commit."""
    give_way = GiveWay()
    code = ("import sys; from processor.run.giveway import GiveWay; g = GiveWay(int(sys.argv[1])); "
            "print(g.last_change_ns, flush=True); sys.stdin.readline(); print(g.last_change_ns, flush=True)")
    child = subprocess.Popen([sys.executable, "-c", code, str(give_way.fd)], pass_fds=[give_way.fd],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().split() == ["0"]  # a new daemon: never busy yet
    give_way.value = 1
    give_way.value = 0
    assert give_way.last_change_ns > 0
    child.stdin.write("\n")
    child.stdin.flush()
    assert child.stdout.readline().split() == [str(give_way.last_change_ns)]
    assert child.wait(10) == 0


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children.extend(int(c) for c in (task / "children").read_text().split())
    return children


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_daemon_runs_its_workers_and_nothing_else_and_stops_them_at_once(db_url: str, tmp_path: Path) -> None:
    """multiprocessing's spawn start method ran a resource-tracker interpreter beside the workers (13 MB)."""
    engine = create_db_engine(db_url)
    migrate(engine)
    engine.dispose()
    daemon = start_daemon(db_url, tmp_path, metrics=False, FAXBOUNCE_PROCESSING_WORKERS="2",
                          FAXBOUNCE_PROCESSING_POLL_INTERVAL="30")
    try:
        assert wait_until(lambda: daemon.log.read_text().count("started as") == 2, 30), daemon.log.read_text()
        children = _children(daemon.process.pid)
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children]
        assert len(children) == 2 and all(b"processor.run.worker" in command for command in commands), commands
        started = time.monotonic()
        assert daemon.stop() == 0
        # Idle workers sleep up to the poll interval (30 s); the closed pipe wakes them, well within the
        # daemon's 3 s allowance, after which it would have terminated them.
        assert time.monotonic() - started < 2.5
    finally:
        daemon.stop()
    text = daemon.log.read_text()
    assert text.count("worker stopped") == 2 and "still busy" not in text and "gone" not in text, text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_sent_sigterm_finishes_and_exits_cleanly(db_url: str, tmp_path: Path) -> None:
    """systemd's stop sends SIGTERM to the worker too: it ends its loop (exit 0), it does not die of the
    signal in the middle of a batch; the daemon, still up, starts a new one."""
    engine = create_db_engine(db_url)
    migrate(engine)
    engine.dispose()
    daemon = start_daemon(db_url, tmp_path, metrics=False, FAXBOUNCE_PROCESSING_POLL_INTERVAL="30")
    try:
        assert wait_until(lambda: "started as" in daemon.log.read_text(), 30)
        (worker,) = _children(daemon.process.pid)
        os.kill(worker, signal.SIGTERM)
        assert wait_until(lambda: "worker-1 exited with code 0" in daemon.log.read_text(), 10), \
            daemon.log.read_text()
        assert wait_until(lambda: daemon.log.read_text().count("started as") == 2, 30)
    finally:
        assert daemon.stop() == 0
