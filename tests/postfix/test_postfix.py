"""faxbounce behind a real Postfix configured by the snippets it ships (config/postfix/, shown in the README).

One private Postfix (tests/postfix/postfixctl.py) and one real `faxbounce serve` for the module. A stand-in
for fax.tc on 127.0.0.1 accepts every fax address but one, which it refuses at RCPT time. Skipped with its
reason where Postfix or root is missing, except in CI (CI=true), where it must run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from daemonctl import Daemon, free_port, start_daemon, wait_until
from postfix.longline import POSTFIX_LINE_LIMIT, long_line_html_result
from postfix.postfixctl import Postfix, postfix_unavailable, start_postfix
from submissionfactory import submission

from processor.store.db import create_db_engine

DATA = Path(__file__).resolve().parents[1] / "data"
REFUSED_NUMBER = "0399990000"  # the stand-in fax.tc refuses this one at RCPT time
SENDER = "sales@example.co.jp"  # a mailbox of config/postfix/fax_result_bcc

_reason = postfix_unavailable()
if _reason and os.environ.get("CI") == "true":
    pytest.fail(f"CI must run the Postfix integration test: {_reason}", pytrace=False)
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")


class _FaxService:
    """fax.tc as Postfix sees it: refuses REFUSED_NUMBER at RCPT, takes (and drops) everything else."""

    async def handle_RCPT(self, server: object, session: object, envelope: object, address: str,
                          options: list[str]) -> str:
        if address.lower().startswith(REFUSED_NUMBER + "@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: not a registered fax destination"
        envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


@dataclass
class Stack:
    postfix: Postfix
    daemon: Daemon
    db_url: str
    work: Path

    def rows(self, query: str, **params: object) -> list[tuple[object, ...]]:
        engine = create_db_engine(self.db_url)
        try:
            with engine.connect() as connection:
                return [tuple(r) for r in connection.execute(sa.text(query), params)]
        finally:
            engine.dispose()

    def wait_rows(self, query: str, expected: list[tuple[object, ...]], seconds: float = 15,
                  **params: object) -> list[tuple[object, ...]]:
        rows = wait_until(lambda: (r := self.rows(query, **params)) == expected and r, seconds, 0.2)
        return rows or self.rows(query, **params)

    def explain(self) -> str:
        return f"--- postfix log ---\n{self.postfix.log()}\n--- faxbounce log ---\n{self.daemon.log.read_text()}"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    work = Path(tempfile.mkdtemp(prefix="faxbounce-postfix-"))  # not under pytest's 0700 tmp: postfix reads it
    os.chmod(work, 0o711)  # Postfix's daemons (user postfix) pass through to their directory
    fax_service = Controller(_FaxService(), hostname="127.0.0.1", port=free_port())
    fax_service.start()
    db_url = f"sqlite:///{work / 'faxbounce.sqlite3'}"
    from processor.store.db import migrate

    engine = create_db_engine(db_url)
    migrate(engine)
    engine.dispose()
    daemon = start_daemon(db_url, work, metrics=False, FAXBOUNCE_PROCESSING_WORKERS="1")
    postfix = start_postfix(work / "postfix", free_port(), daemon.smtp_port, {
        "fax.tc": f"smtp:[127.0.0.1]:{fax_service.port}",
        "example.co.jp": "discard:",  # the company's own mailboxes: delivered nowhere, bounced never
        "folded.example.test": f"smtp:[127.0.0.1]:{daemon.smtp_port}",  # faxbounce WITHOUT the recipe
    })
    stack = Stack(postfix, daemon, db_url, work)
    try:
        yield stack
    finally:
        postfix.stop()
        stack.daemon.stop()
        fax_service.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_result_to_a_bccd_mailbox_is_stored_once_and_classified(stack: Stack) -> None:
    raw = (DATA / "interfax" / "html-ja-02.eml").read_bytes()  # InterFAX 6017: busy, retryable
    stack.postfix.send(raw, "support@interfax.co.jp", (SENDER,))
    query = ("SELECT m.rcpt_tos, m.kind, r.code, r.reason FROM inbound_messages m "
             "JOIN fax_results r ON r.inbound_message_id = m.id WHERE m.message_id = :mid")
    rows = stack.wait_rows(query, [('["fax-results@faxbounce.example.com"]', "interfax_result", "6017", "busy")],
                           mid="<h02@interfax.co.jp>")
    assert rows == [('["fax-results@faxbounce.example.com"]', "interfax_result", "6017", "busy")], stack.explain()


def test_long_html_line_survives_through_the_faxbounce_transport(stack: Stack) -> None:
    raw = long_line_html_result(number="03-5555-0105")
    line = next(x for x in raw.split(b"\r\n") if len(x) > POSTFIX_LINE_LIMIT)
    stack.postfix.send(raw, "support@interfax.co.jp", (SENDER, "copy@folded.example.test"))
    query = ("SELECT m.rcpt_tos, w.raw, r.code, r.outcome FROM inbound_messages m "
             "JOIN inbound_raw w ON w.inbound_message_id = m.id "
             "JOIN fax_results r ON r.inbound_message_id = m.id WHERE r.fax_number = '+81355550105' ORDER BY m.id")
    wait_until(lambda: len(stack.rows(query)) == 2, 15, 0.2)
    by_route = {rcpt: (bytes(stored), code, outcome) for rcpt, stored, code, outcome in stack.rows(query)}
    assert set(by_route) == {'["fax-results@faxbounce.example.com"]', '["copy@folded.example.test"]'}, \
        stack.explain()
    stored, code, outcome = by_route['["fax-results@faxbounce.example.com"]']
    assert line in stored
    assert (code, outcome) == ("3912", "failed")
    # The control: Postfix's default smtp transport folds the line inside a character; faxbounce joins the fold.
    folded, code, _outcome = by_route['["copy@folded.example.test"]']
    assert line not in folded and code == "3912"  # folded on the way, and joined again by the parser (#10)


def test_bcc_only_number_is_tracked(stack: Stack) -> None:
    raw = submission(numbers=("0355550201",), subject="Bcc test /b")  # the header names one number
    stack.postfix.send(raw, SENDER, ("0355550201@fax.tc", "0355550202@fax.tc"))  # the second: Bcc only
    query = ("SELECT fax_number, found_in FROM fax_submissions WHERE subject_base = 'Bcc test' "
             "ORDER BY fax_number")
    rows = stack.wait_rows(query, [("+81355550201", "to"), ("+81355550202", "envelope")])
    assert rows == [("+81355550201", "to"), ("+81355550202", "envelope")], stack.explain()
    copies = stack.rows("SELECT rcpt_tos FROM inbound_messages WHERE subject LIKE 'Bcc test%'")
    assert len(copies) == 1 and "fax-submissions+0355550202@faxbounce.example.com" in str(copies[0][0])


def test_submission_refused_by_postfix_itself_fails_the_fax(stack: Stack) -> None:
    raw = submission(numbers=(REFUSED_NUMBER,), subject="Refused test")
    stack.postfix.send(raw, SENDER, (f"{REFUSED_NUMBER}@fax.tc",))
    query = "SELECT state FROM fax_status WHERE fax_number = '+81399990000'"
    rows = stack.wait_rows(query, [("failed",)], seconds=20)
    assert rows == [("failed",)], stack.explain()
    notices = stack.rows("SELECT mail_from, rcpt_tos, kind FROM inbound_messages WHERE rcpt_tos LIKE '%fax-bounces%'")
    # A report about <number>@fax.tc is the fax service refusing a fax (issue #10): a result with the number.
    assert [(n[1], n[2]) for n in notices] == [('["fax-bounces@faxbounce.example.com"]', "interfax_bounce")], notices
    numbers = stack.rows("SELECT r.fax_number, r.outcome FROM fax_results r JOIN inbound_messages m "
                         "ON m.id = r.inbound_message_id WHERE m.rcpt_tos LIKE '%fax-bounces%'")
    assert [tuple(row) for row in numbers] == [("+81399990000", "failed")], numbers


def test_mail_queued_while_faxbounce_is_down_arrives_after_it_starts(stack: Stack) -> None:
    assert stack.daemon.stop() == 0
    raw = (DATA / "interfax" / "html-ja-01.eml").read_bytes()  # InterFAX 0: delivered
    stack.postfix.send(raw, "support@interfax.co.jp", (SENDER,))
    assert wait_until(lambda: "fax-results@faxbounce.example.com" in stack.postfix.queued(), 10, 0.2), \
        stack.explain()
    stack.daemon = start_daemon(stack.db_url, stack.work, metrics=False, smtp_port=stack.daemon.smtp_port,
                                FAXBOUNCE_PROCESSING_WORKERS="1")
    stack.postfix.flush()
    query = "SELECT r.code, r.outcome FROM fax_results r JOIN inbound_messages m ON m.id = r.inbound_message_id " \
            "WHERE m.message_id = '<h01@interfax.co.jp>'"
    rows = stack.wait_rows(query, [("0", "delivered")], seconds=20)
    assert rows == [("0", "delivered")], stack.explain()
    assert "Mail queue is empty" in stack.postfix.queued()
