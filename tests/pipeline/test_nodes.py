"""Two nodes on one PostgreSQL (the short version of `make faults nodes`): a submission and its result go to
different nodes, one node is killed with kill -9 mid-load and restarted. Every mail is stored once and
processed once, nothing ends in `error`, and every submission finds its result."""

from __future__ import annotations

import signal
import smtplib
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from daemonctl import Daemon, start_daemon, wait_until
from submissionfactory import result, submission

from processor.run.worker import BATCH
from processor.store.db import create_db_engine, migrate

PAIRS = 90


def _send_all(daemon_of: list[Daemon], mails: list[tuple[int, bytes, str, tuple[str, ...]]], errors: list[str]) -> None:
    """Deliver each mail to its node like an MTA queue: retry on a 4xx or a broken connection."""
    for node, raw, mail_from, rcpt in mails:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                code, reply = daemon_of[node].send(raw, mail_from=mail_from, rcpt=rcpt)
            except (OSError, smtplib.SMTPException):
                time.sleep(0.2)
                continue
            if code == 250:
                break
            if code >= 500:
                errors.append(f"{code} {reply!r}")
                break
            time.sleep(0.2)
        else:
            errors.append("not acknowledged within 60 s")


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # several nodes share one PostgreSQL
def test_two_nodes_process_each_mail_once_through_a_kill(db_url: str, tmp_path: Path) -> None:
    engine = create_db_engine(db_url)
    migrate(engine)
    nodes = []
    for name in ("node-a", "node-b"):
        (tmp_path / name).mkdir()
        nodes.append(start_daemon(db_url, tmp_path / name, metrics=False, FAXBOUNCE_PROCESSING_NODE_NAME=name,
                                  FAXBOUNCE_PROCESSING_LEASE_SECONDS="6",
                                  FAXBOUNCE_PROCESSING_MAX_SECONDS_PER_MESSAGE="3"))
    mails = []
    for k in range(PAIRS):
        number, subject = f"03-5{k:03d}-0101", f"見積書 {k}"
        # The submission to one node, its result to the other.
        mails.append((k % 2, submission([number], subject), "taro@example.co.jp", ("fax-copy@faxbounce.test",)))
        mails.append(((k + 1) % 2, result(number, "3912" if k % 3 == 0 else "0", subject=subject), "",
                      ("taro@example.co.jp",)))
    errors: list[str] = []
    senders = [threading.Thread(target=_send_all, args=(nodes, mails[i::4], errors)) for i in range(4)]
    for sender in senders:
        sender.start()
    try:
        assert wait_until(lambda: _count(engine, "SELECT count(*) FROM inbound_messages") >= PAIRS * 2 // 3, 60)
        nodes[0].process.send_signal(signal.SIGKILL)
        nodes[0].process.wait()
        time.sleep(1)
        nodes[0] = start_daemon(db_url, tmp_path / "node-a", metrics=False, FAXBOUNCE_PROCESSING_NODE_NAME="node-a",
                                FAXBOUNCE_PROCESSING_LEASE_SECONDS="6",
                                FAXBOUNCE_PROCESSING_MAX_SECONDS_PER_MESSAGE="3")
        for sender in senders:
            sender.join(120)
        assert errors == []
        drained = wait_until(lambda: _count(engine, "SELECT count(*) FROM inbound_messages "
                                                    "WHERE status = 'received'") == 0, 60)
        assert drained, "backlog not processed"
        assert _count(engine, "SELECT count(*) FROM inbound_messages") == PAIRS * 2  # stored once each
        assert _count(engine, "SELECT count(*) FROM inbound_messages WHERE status = 'error'") == 0
        assert _count(engine, "SELECT count(*) FROM fax_results") == PAIRS  # one row per result mail
        assert _count(engine, "SELECT count(*) FROM fax_submissions WHERE state = 'submitted'") == 0
        assert _count(engine, "SELECT count(*) FROM fax_submissions WHERE state IN ('delivered', 'failed')") == PAIRS
        # Only mails the killed node held (at most one claim batch per worker) were attempted twice.
        assert _count(engine, "SELECT count(*) FROM inbound_messages WHERE attempts > 1") <= 2 * BATCH
        processed_by = {row[0] for row in _rows(engine, "SELECT DISTINCT processed_by FROM inbound_messages")}
        assert processed_by <= {"node-a", "node-b"} and processed_by
    finally:
        for node in nodes:
            node.stop()
        engine.dispose()


def _count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(sa.text(sql)) or 0)


def _rows(engine: sa.Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(sql))]


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # a lock that blocks the workers indefinitely
def test_a_node_killed_with_kill_9_takes_its_busy_workers_with_it(db_url: str, tmp_path: Path) -> None:
    """Workers left behind by a killed daemon, busy in a batch or blocked in the database, would keep the
    node's claims and singleton jobs held by a node that is gone (the jobs would not move to a live node)."""
    engine = create_db_engine(db_url)
    migrate(engine)
    node = start_daemon(db_url, tmp_path, metrics=False, FAXBOUNCE_PROCESSING_NODE_NAME="node-k",
                        FAXBOUNCE_PROCESSING_WORKERS="2")
    try:
        assert wait_until(lambda: _count(engine, "SELECT count(*) FROM job_leases WHERE holder LIKE 'node-k/%'") > 0,
                          30), "the node never took a singleton job"
        workers = _children(node.process.pid) & {
            int(row[0].split("/")[1]) for row in _rows(engine, "SELECT holder FROM job_leases")}
        assert workers, "no lease holder among the daemon's children"
        with engine.connect() as locker:
            locker.execute(sa.text("LOCK TABLE job_leases IN ACCESS EXCLUSIVE MODE"))
            # Within one renewal period every worker is stuck behind the lock, as a busy worker would be.
            blocked = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND query LIKE '%job_leases%'")
            assert wait_until(lambda: _count(engine, blocked) >= 2, 30), "the workers never reached the lock"
            node.process.send_signal(signal.SIGKILL)
            node.process.wait()
            gone = wait_until(lambda: not any(_alive(pid) for pid in workers), 10)
            locker.rollback()
        assert gone, "workers outlived their daemon"
    finally:
        node.stop()
        engine.dispose()
