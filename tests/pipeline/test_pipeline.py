"""Stored mail through parse and classification into result rows, on both backends."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from mailfactory import interfax_failure, plain
from sqlalchemy.engine import Engine

import processor.run.judge as judge
import processor.run.pipeline as pipeline
from processor.config import ProcessingSettings, Settings
from processor.errors import ParseError
from processor.run.worker import drain
from processor.store.db import session_scope
from processor.store.inbound import Envelope, RawStore
from processor.store.models import FaxResultRow, InboundMessage, InboundRaw, MessageStatus

SETTINGS = Settings()


def _store(engine: Engine, raw: bytes) -> int:
    return RawStore(engine).put(raw, Envelope("sender@example.com", ("fax@faxbounce.test",))).id


def _results(engine: Engine, message_id: int) -> list[FaxResultRow]:
    with session_scope(engine) as session:
        return list(session.scalars(sa.select(FaxResultRow).where(FaxResultRow.inbound_message_id == message_id)))


def _message(engine: Engine, message_id: int) -> InboundMessage:
    with session_scope(engine) as session:
        return session.get_one(InboundMessage, message_id)


def _raw(engine: Engine, message_id: int) -> bytes | None:
    with engine.connect() as connection:
        return connection.scalar(sa.select(InboundRaw.raw).where(InboundRaw.inbound_message_id == message_id))


def test_interfax_failure_becomes_a_failure_row(engine: Engine) -> None:
    message_id = _store(engine, interfax_failure(number="03-5555-0101", code="3912"))
    outcome = pipeline.process_message(engine, message_id, SETTINGS)
    assert outcome is not None and outcome.status == MessageStatus.PROCESSED
    message = _message(engine, message_id)
    assert (message.status, message.kind, message.detected_by) == ("processed", "interfax_result", "interfax_result")
    assert message.subject.startswith("FAX送信が失敗しました")
    with engine.connect() as connection:
        row = connection.execute(sa.text(
            "SELECT reason, fax_number, code, retryable, action_ja, action_en FROM failures")).one()
    assert row.reason == "invalid_number"
    assert row.fax_number == "+81355550101"
    assert row.code == "3912"
    assert not row.retryable
    assert "FAX番号" in row.action_ja and row.action_en


def test_unrelated_mail_is_processed_without_results(engine: Engine) -> None:
    message_id = _store(engine, plain())
    pipeline.process_message(engine, message_id, SETTINGS)
    assert _message(engine, message_id).kind == "unrelated"
    assert _results(engine, message_id) == []


def test_reprocess_replaces_results_idempotently(engine: Engine) -> None:
    message_id = _store(engine, interfax_failure())
    for _ in range(3):
        pipeline.process_message(engine, message_id, SETTINGS)
    rows = _results(engine, message_id)
    assert len(rows) == 1
    assert _message(engine, message_id).attempts == 3


def test_unparseable_keeps_raw_and_says_why(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = b"\x00\x01 not a mail"
    message_id = _store(engine, raw)

    def broken(_raw: bytes, _envelope_recipients: tuple[str, ...] = ()) -> None:
        raise ParseError("MIME parse failed: test")

    monkeypatch.setattr(judge, "parse_mail", broken)
    outcome = pipeline.process_message(engine, message_id, SETTINGS)
    assert outcome is not None and outcome.status == MessageStatus.UNPARSEABLE
    message = _message(engine, message_id)
    assert _raw(engine, message_id) == raw
    assert message.status == "unparseable" and "test" in message.error


def test_classification_crash_marks_error_and_moves_on(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = _store(engine, plain("boom")), _store(engine, plain("fine"))
    real = judge.classify

    def flaky(mail, default_country="JP", **kwargs):  # type: ignore[no-untyped-def]
        if mail.subject == "boom":
            raise RuntimeError("detector bug")
        return real(mail, default_country=default_country, **kwargs)

    monkeypatch.setattr(judge, "classify", flaky)
    assert drain(engine, Settings()) == 2
    assert _message(engine, first).status == "error" and "detector bug" in _message(engine, first).error
    assert _message(engine, second).status == "processed"


def test_slow_mail_is_cut_off(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    message_id = _store(engine, plain())

    def slow(mail, default_country="JP", **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(5)

    monkeypatch.setattr(judge, "classify", slow)
    started = time.monotonic()
    settings = Settings(processing=ProcessingSettings(max_seconds_per_message=1))
    outcome = pipeline.process_message(engine, message_id, settings)
    assert time.monotonic() - started < 3
    assert outcome is not None and outcome.status == "error"
    assert "longer than 1s" in _message(engine, message_id).error


def test_mail_that_kept_killing_the_worker_is_skipped(engine: Engine) -> None:
    message_id = _store(engine, plain())
    with session_scope(engine) as session:
        session.get_one(InboundMessage, message_id).attempts = 3  # three attempts that never finished
    outcome = pipeline.process_message(engine, message_id, Settings(processing=ProcessingSettings(max_attempts=3)))
    assert outcome is not None and outcome.status == "error"
    assert "3 attempts" in _message(engine, message_id).error
    assert _raw(engine, message_id) is not None
