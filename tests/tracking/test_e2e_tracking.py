"""End to end: the real `faxbounce serve`, BCC copies of submissions and their results over SMTP.

The daemon runs with a 2-second result timeout and a fast sweep, so a fax without a result turns
`no_result` within seconds, by the sweep inside the daemon's worker.
"""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from submissionfactory import result, submission

from processor.store.db import create_db_engine, migrate


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    port: int
    url: str
    log: Path

    def send(self, raw: bytes, mail_from: str = "", rcpts: tuple[str, ...] = ("fax-results@faxbounce.test",)) -> None:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
            refused = client.sendmail(mail_from, list(rcpts), raw)
        assert not refused

    def wait_for(self, query: str, expected: list[tuple[object, ...]], seconds: float = 20) -> list[tuple[object, ...]]:
        engine = create_db_engine(self.url)
        deadline = time.monotonic() + seconds
        try:
            while True:
                with engine.connect() as connection:
                    rows = [tuple(r) for r in connection.execute(sa.text(query))]
                if rows == expected or time.monotonic() > deadline:
                    return rows
                time.sleep(0.1)
        finally:
            engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def daemon(db_url: str, tmp_path: Path) -> Iterator[Daemon]:
    engine = create_db_engine(db_url)
    migrate(engine)
    engine.dispose()
    port = _free_port()
    log = tmp_path / "daemon.log"
    env = dict(os.environ, FAXBOUNCE_DATABASE_URL=db_url, FAXBOUNCE_SMTP_HOST="127.0.0.1",
               FAXBOUNCE_SMTP_PORT=str(port), FAXBOUNCE_PROCESSING_POLL_INTERVAL="0.2",
               FAXBOUNCE_RESULT_TIMEOUT="2", FAXBOUNCE_TRACKING_SWEEP_INTERVAL="0.2", FAXBOUNCE_METRICS_PORT="0")
    env.pop("FAXBOUNCE_CONFIG", None)
    env.pop("FAXBOUNCE_TRACKING_RESULT_TIMEOUT", None)
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "processor", "serve"], cwd=tmp_path, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, log.read_text()
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    running = Daemon(process, port, db_url, log)
    yield running
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(timeout=15) == 0, log.read_text()
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_bcc_copy_and_results_give_delivered_and_failed(daemon: Daemon) -> None:
    # The BCC copy of a list send (Postfix sender_bcc_maps): fax addresses in To, envelope to faxbounce.
    daemon.send(submission(["03-5555-0101", "06-5555-0202"], "見積書送付の件 /b"), mail_from="taro@example.co.jp",
                rcpts=("fax-copy@faxbounce.test",))
    daemon.send(result("03-5555-0101", "0", subject="見積書送付の件", transaction_id="700000001"))
    daemon.send(result("06-5555-0202", "3912", "FAX番号が使用不可です", subject="見積書送付の件",
                       transaction_id="700000002"))
    query = ("SELECT fax_number, state, reason, action, match_method, transaction_id FROM fax_status "
             "ORDER BY fax_number")
    expected = [("+81355550101", "delivered", "delivered", None, "number_subject", "700000001"),
                ("+81655550202", "failed", "invalid_number", "verify_number", "number_subject", "700000002")]
    assert daemon.wait_for(query, expected) == expected, daemon.log.read_text()


def test_submission_without_result_turns_no_result_after_the_timeout(daemon: Daemon) -> None:
    # Only the envelope names the fax address (a Bcc the mailer stripped): still a submission.
    started = time.monotonic()
    daemon.send(submission(["045-555-0303"], "納品書", header=""), mail_from="taro@example.co.jp",
                rcpts=("0455550303@fax.tc",))
    query = "SELECT fax_number, state, reason, action FROM fax_status"
    submitted = [("+81455550303", "submitted", None, None)]
    assert daemon.wait_for(query, submitted, seconds=1.5) == submitted, daemon.log.read_text()
    expected = [("+81455550303", "no_result", "no_result", "account")]
    assert daemon.wait_for(query, expected) == expected, daemon.log.read_text()
    assert time.monotonic() - started >= 1.0  # 2 s after the Date header, which has whole seconds
    notes = daemon.wait_for("SELECT action_en FROM fax_status", [], seconds=0)
    assert "authorised sender" in str(notes[0][0])
