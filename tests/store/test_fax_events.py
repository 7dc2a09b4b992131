"""Issue #10: one fax event seen twice counts once; mail nobody could read is kept, warned about and listed;
forwarded results are marked; notices from every InterFAX sending domain are trusted. Both backends."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine
from submissionfactory import JST, result, submission

from processor.config import ProcessingSettings, Settings
from processor.ops.metrics import read_snapshot
from processor.ops.report import WORDS, collect, render
from processor.parse import parse_mail
from processor.reasons import Outcome
from processor.records import FaxResult
from processor.run.pipeline import process_message
from processor.store.db import alembic_config, create_db_engine
from processor.store.inbound import Envelope, RawStore

DATA = Path(__file__).resolve().parents[1] / "data"


def _process(engine: Engine, raw: bytes, rcpt: str = "copy@faxbounce.test", mail_from: str = "") -> int:
    stored = RawStore(engine).put(raw, Envelope(mail_from, (rcpt,), peer="127.0.0.1:25"))
    process_message(engine, stored.id, Settings())
    return stored.id


def _rows(engine: Engine, sql: str, **params: object) -> list[sa.Row]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text(sql), params))


def _forward_of(notice: bytes, when: datetime) -> bytes:
    """The notice forwarded inline by a colleague with Outlook (the header block, then the notice's text)."""
    inner = parse_mail(notice)
    body = ("番号を確認してください。\n\n-----Original Message-----\n"
            f"From: InterFAX <support@interfax.co.jp>\nSent: {when:%Y/%m/%d %H:%M}\nTo: taro@example.co.jp\n"
            f"Subject: {inner.subject}\n\n{inner.plain_text}")
    message = MIMEText(body, "plain", "utf-8")
    message["From"] = "Taro <taro@example.co.jp>"
    message["To"] = "fax-team@example.co.jp"
    message["Subject"] = Header(f"FW: {inner.subject}", "utf-8")
    message["Date"] = format_datetime(when.astimezone(JST))
    message["Message-ID"] = make_msgid(domain="example.co.jp")
    return message.as_bytes()


@pytest.mark.parametrize("forward_first", [False, True], ids=["original-first", "forward-first"])
def test_one_event_told_three_times_counts_once(engine: Engine, forward_first: bool) -> None:
    now = datetime.now(UTC)
    number = "03-5555-0701"
    sender = "taro@example.co.jp"
    _process(engine, submission([number], "見積書 /b", when=now - timedelta(minutes=30)), mail_from=sender)
    # A second, later fax to the same number, still waiting for its result: no copy may take it.
    _process(engine, submission([number], "注文書", when=now - timedelta(minutes=5)), mail_from=sender)
    notice = result(number, "3912", "FAX番号が使用不可です", subject="見積書", transaction_id="800000701",
                    when=now - timedelta(minutes=25))
    copies = [notice, b"Delivered-To: hanako@example.co.jp\r\n" + notice]  # two mailboxes: two stored mails
    forward = _forward_of(notice, now - timedelta(minutes=20))
    for raw in ([forward, *copies] if forward_first else [*copies, forward]):
        _process(engine, raw)

    rows = _rows(engine, "SELECT forwarded, event_key, trusted FROM fax_results ORDER BY id")
    assert len(rows) == 3 and len({r.event_key for r in rows}) == 1
    assert rows[0].event_key == "interfax|t|800000701|3912|+81355550701"
    assert sorted(bool(r.forwarded) for r in rows) == [False, False, True]
    assert [r.trusted for r in rows if r.forwarded] == [None]  # a person's forward: the vendor cannot be checked

    failures = _rows(engine, "SELECT fax_number, forwarded, copies FROM failures")
    assert [(f.fax_number, bool(f.forwarded), f.copies) for f in failures] == [("+81355550701", False, 3)]
    health = _rows(engine, "SELECT results, failures, number_failures FROM number_health WHERE fax_number = :n",
                   n="+81355550701")
    assert [(h.results, h.failures, h.number_failures) for h in health] == [(1, 1, 1)]
    states = _rows(engine, "SELECT subject_base, state FROM fax_status ORDER BY submitted_at")
    assert [(s.subject_base, s.state) for s in states] == [("見積書", "failed"), ("注文書", "submitted")]
    summary = _rows(engine, "SELECT state, faxes FROM daily_summary WHERE state = 'failed'")
    assert sum(s.faxes for s in summary) == 1
    items = [i for i in collect(engine, now - timedelta(hours=1)) if i.action == "verify_number"]
    assert [(i.fax_number, i.count) for i in items] == [("+81355550701", 1)]


def test_an_unmatched_event_told_twice_is_one_failure_to_resend(engine: Engine) -> None:
    now = datetime.now(UTC)
    notice = result("06-5555-0702", "6017", "話中", transaction_id="800000702", when=now - timedelta(minutes=3))
    _process(engine, notice)
    _process(engine, b"Delivered-To: other@example.co.jp\r\n" + notice)
    items = [i for i in collect(engine, now - timedelta(hours=1)) if i.action == "resend"]
    assert [(i.fax_number, i.tracked) for i in items] == [("+81655550702", False)]
    summary = _rows(engine, "SELECT faxes FROM daily_summary WHERE reason = 'busy'")
    assert sum(s.faxes for s in summary) == 1


def test_unrecognized_mail_is_kept_warned_about_once_and_listed(engine: Engine,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    raw = (DATA / "unrecognized" / "faxtc-layout-01.eml").read_bytes()
    with caplog.at_level(logging.WARNING):
        mail_id = _process(engine, raw)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and getattr(r, "mail_id", None) == mail_id]
    assert len(warnings) == 1 and "unrecognized" in warnings[0].getMessage()
    assert "sender domain fax.tc" in warnings[0].getMessage()
    message = _rows(engine, "SELECT m.status, m.kind, r.raw FROM inbound_messages m "
                              "JOIN inbound_raw r ON r.inbound_message_id = m.id WHERE m.id = :i", i=mail_id)[0]
    assert (message.status, message.kind, bytes(message.raw)) == ("processed", "unrecognized", raw)
    assert _rows(engine, "SELECT id FROM fax_results") == []
    listed = _rows(engine, "SELECT inbound_message_id, problem, from_address FROM mail_to_look_at")
    assert [(r.inbound_message_id, r.problem, r.from_address) for r in listed] == [(mail_id, "unrecognized",
                                                                                    "noreply@fax.tc")]
    assert read_snapshot(engine).unrecognized == 1
    items = collect(engine, datetime.now(UTC) - timedelta(hours=1))
    assert [(i.action, i.state, i.mail_id) for i in items] == [("look_at", "unrecognized", mail_id)]
    table = render(items, "table", "en")
    assert "Mail to look at (1)" in table and f"mail id {mail_id}" in table
    assert "確認が必要なメール (1)" in render(items, "table", "ja")


def test_mail_that_could_not_be_processed_is_listed_to_look_at(engine: Engine) -> None:
    stored = RawStore(engine).put(result("03-5555-0704", "0"), Envelope("", ("copy@faxbounce.test",)))
    with engine.begin() as connection:  # three attempts that never finished (the worker was killed each time)
        connection.execute(sa.text("UPDATE inbound_messages SET attempts = 3 WHERE id = :i"), {"i": stored.id})
    process_message(engine, stored.id, Settings(processing=ProcessingSettings(max_attempts=3)))
    listed = _rows(engine, "SELECT inbound_message_id, problem, error FROM mail_to_look_at")
    assert [(r.inbound_message_id, r.problem) for r in listed] == [(stored.id, "error")]
    assert "3 attempts" in listed[0].error
    items = collect(engine, datetime.now(UTC) - timedelta(hours=1))
    assert [(i.action, i.state, i.mail_id) for i in items] == [("look_at", "error", stored.id)]


def test_notices_from_interfax_co_jp_are_trusted_and_the_report_shows_trust(engine: Engine) -> None:
    # tests/data/interfax/text-ja-01.eml came through mta01.interfax.co.jp (Received), with the default settings.
    genuine = _process(engine, (DATA / "interfax" / "text-ja-01.eml").read_bytes())
    look_alike = _process(engine, result("06-5555-0703", "3912", "FAX番号が使用不可です", transaction_id="800000703"))
    failures = _rows(engine, "SELECT inbound_message_id, trusted FROM failures")
    assert {r.inbound_message_id: r.trusted for r in failures} == {genuine: True, look_alike: False}
    items = collect(engine, datetime(2000, 1, 1, tzinfo=UTC))
    assert {i.fax_number: i.trusted for i in items} == {"+81355550101": True, "+81655550703": False}
    table = render(items, "table", "en")
    assert table.count(WORDS["en"]["untrusted"]) == 1  # the look-alike only


def test_the_revision_gives_stored_rows_the_keys_the_code_gives(db_url: str) -> None:
    """Rows written before revision 0004 get their event_key from the migration, equal to FaxResult.event_key."""
    engine = create_db_engine(db_url)
    config = alembic_config(db_url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
    when = datetime(2026, 11, 20, 1, 15, 7, tzinfo=UTC)
    results = [
        FaxResult("interfax", Outcome.FAILED, "busy", True, "interfax_result", code="6017", transaction_id="9|1",
                  fax_number="+81355550101"),
        FaxResult("interfax", Outcome.FAILED, "no_recipients", False, "faxtc_bounce", code="No recipients found",
                  fax_number="+81355550102", submitted_at=when),
        FaxResult("interfax", Outcome.FAILED, "no_recipients", False, "faxtc_bounce", code="5.1.1",
                  fax_number="+81355550103", original_message_id=" <a@b> "),
        FaxResult("mail", Outcome.FAILED, "userunknown", False, "dsn", code="5.1.1", recipient="x@example.com"),
    ]
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO inbound_messages (id, received_at, rcpt_tos, size, sha256, status, attempts) "
            "VALUES (1, :t, '[]', 1, 'x', 'processed', 1)"), {"t": when.replace(tzinfo=None)})
        for index, r in enumerate(results, start=1):
            connection.execute(sa.text(
                "INSERT INTO fax_results (id, inbound_message_id, kind, detected_by, vendor, code, outcome, reason, "
                "fax_number, transaction_id, original_message_id, submitted_at, created_at) VALUES (:id, 1, 'k', "
                ":d, :v, :c, 'failed', :r, :n, :tid, :mid, :s, :t)"),
                {"id": index, "d": r.detected_by, "v": r.vendor, "c": r.code, "r": r.reason, "n": r.fax_number,
                 "tid": r.transaction_id, "mid": r.original_message_id, "t": when,
                 "s": r.submitted_at.replace(tzinfo=None) if r.submitted_at and engine.dialect.name == "sqlite"
                 else r.submitted_at})
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    stored = [row.event_key for row in _rows(engine, "SELECT event_key FROM fax_results ORDER BY id")]
    assert stored == [r.event_key for r in results]
    assert stored[3] is None and stored[1] == "interfax|n|+81355550102|No recipients found|2026-11-20T01:15:07Z"
    engine.dispose()


def test_a_report_about_a_fax_address_reaches_number_health_and_numbers_to_verify(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    # Issue #10, theme 7: the sender's own Postfix reported that fax.tc refused 03-5555-0601@fax.tc (5.1.1).
    with caplog.at_level(logging.WARNING):
        mail_id = _process(engine, (DATA / "dsn-faxtc" / "postfix-remote-01.eml").read_bytes())
    row = _rows(engine, "SELECT kind, fax_number, reason, retryable, trusted FROM fax_results")[0]
    assert (row.kind, row.fax_number, row.reason, bool(row.retryable)) == ("interfax_bounce", "+81355550601",
                                                                           "no_recipients", False)
    assert row.trusted is None  # written by the sender's MTA, not presented as the vendor's: nothing to distrust
    assert not [r for r in caplog.records if getattr(r, "mail_id", None) == mail_id and "trusted" in r.getMessage()]
    health = _rows(engine, "SELECT number_failures FROM number_health WHERE fax_number = '+81355550601'")
    assert [h.number_failures for h in health] == [1]
    items = collect(engine, datetime.now(UTC) - timedelta(days=3650))
    assert [(i.action, i.fax_number) for i in items] == [("verify_number", "+81355550601")]
