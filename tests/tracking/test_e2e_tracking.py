"""End to end: the real `faxbounce serve`, BCC copies of submissions and their results over SMTP.

The daemon runs with a 2-second result timeout and a fast sweep, so a fax without a result turns
`no_result` within seconds, by the sweep inside the daemon's worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonctl import Daemon, start_daemon
from submissionfactory import result, submission

from processor.store.db import create_db_engine, migrate


@pytest.fixture
def daemon(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    engine = create_db_engine(db_url)
    migrate(engine)
    engine.dispose()
    monkeypatch.delenv("FAXBOUNCE_TRACKING_RESULT_TIMEOUT", raising=False)  # it would win over the one below
    running = start_daemon(db_url, tmp_path, metrics=False, FAXBOUNCE_RESULT_TIMEOUT="2",
                           FAXBOUNCE_TRACKING_SWEEP_INTERVAL="0.2")
    yield running
    assert running.stop() == 0, running.log.read_text()


def assert_sent(daemon: Daemon, raw: bytes, **options: object) -> None:
    code, reply = daemon.send(raw, **options)  # type: ignore[arg-type]
    assert code == 250, reply


def test_bcc_copy_and_results_give_delivered_and_failed(daemon: Daemon) -> None:
    # The BCC copy of a list send (Postfix sender_bcc_maps): fax addresses in To, envelope to faxbounce.
    copy = submission(["03-5555-0101", "06-5555-0202"], "見積書送付の件 /b")
    assert_sent(daemon, copy, mail_from="taro@example.co.jp", rcpt=("fax-copy@faxbounce.test",))
    assert_sent(daemon, result("03-5555-0101", "0", subject="見積書送付の件", transaction_id="700000001"))
    assert_sent(daemon, result("06-5555-0202", "3912", "FAX番号が使用不可です", subject="見積書送付の件",
                       transaction_id="700000002"))
    query = ("SELECT fax_number, state, reason, action, match_method, transaction_id FROM fax_status "
             "ORDER BY fax_number")
    expected = [("+81355550101", "delivered", "delivered", None, "number_subject", "700000001"),
                ("+81655550202", "failed", "invalid_number", "verify_number", "number_subject", "700000002")]
    assert daemon.wait_for(query, expected) == expected, daemon.log.read_text()


def test_submission_without_result_turns_no_result_after_the_timeout(daemon: Daemon) -> None:
    # Only the envelope names the fax address (a Bcc the mailer stripped): still a submission.
    started = time.monotonic()
    assert_sent(daemon, submission(["045-555-0303"], "納品書", header=""), mail_from="taro@example.co.jp",
                rcpt=("0455550303@fax.tc",))
    query = "SELECT fax_number, state, reason, action FROM fax_status"
    submitted = [("+81455550303", "submitted", None, None)]
    assert daemon.wait_for(query, submitted, seconds=1.5) == submitted, daemon.log.read_text()
    expected = [("+81455550303", "no_result", "no_result", "account")]
    assert daemon.wait_for(query, expected) == expected, daemon.log.read_text()
    assert time.monotonic() - started >= 1.0  # 2 s after the Date header, which has whole seconds
    notes = daemon.wait_for("SELECT action_en FROM fax_status", [], seconds=0)
    assert "authorised sender" in str(notes[0][0])
