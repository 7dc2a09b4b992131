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
