"""Stored mail through parse and classification into result rows, on both backends."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from mailfactory import interfax_failure, plain
from sqlalchemy.engine import Engine

import processor.run.pipeline as pipeline
from processor.config import ProcessingSettings, Settings
from processor.errors import ParseError
from processor.run.worker import drain
from processor.store.db import session_scope
from processor.store.inbound import Envelope, RawStore
from processor.store.models import FaxResultRow, InboundMessage, MessageStatus

SETTINGS = Settings()


def _store(engine: Engine, raw: bytes) -> int:
    return RawStore(engine).put(raw, Envelope("sender@example.com", ("fax@faxbounce.test",))).id


def _results(engine: Engine, message_id: int) -> list[FaxResultRow]:
    with session_scope(engine) as session:
        return list(session.scalars(sa.select(FaxResultRow).where(FaxResultRow.inbound_message_id == message_id)))


def _message(engine: Engine, message_id: int) -> InboundMessage:
    with session_scope(engine) as session:
        message = session.get_one(InboundMessage, message_id)
        _ = message.raw  # deferred column: load it while the session is open
        return message


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

    def broken(_raw: bytes) -> None:
        raise ParseError("MIME parse failed: test")

    monkeypatch.setattr(pipeline, "parse_mail", broken)
    outcome = pipeline.process_message(engine, message_id, SETTINGS)
    assert outcome is not None and outcome.status == MessageStatus.UNPARSEABLE
    message = _message(engine, message_id)
    assert message.raw == raw
    assert message.status == "unparseable" and "test" in message.error


def test_classification_crash_marks_error_and_moves_on(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = _store(engine, plain("boom")), _store(engine, plain("fine"))
    real = pipeline.classify

    def flaky(mail, default_country="JP", **kwargs):  # type: ignore[no-untyped-def]
        if mail.subject == "boom":
            raise RuntimeError("detector bug")
        return real(mail, default_country=default_country, **kwargs)

    monkeypatch.setattr(pipeline, "classify", flaky)
    assert drain(engine, Settings()) == 2
    assert _message(engine, first).status == "error" and "detector bug" in _message(engine, first).error
    assert _message(engine, second).status == "processed"


def test_slow_mail_is_cut_off(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    message_id = _store(engine, plain())

    def slow(mail, default_country="JP", **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(5)

    monkeypatch.setattr(pipeline, "classify", slow)
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
    assert _message(engine, message_id).raw is not None


def test_drain_batches_fresh_mail_and_isolates_retried_mail(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [_store(engine, plain(f"m{i}")) for i in range(7)]
    with session_scope(engine) as session:
        session.get_one(InboundMessage, ids[3]).attempts = 1  # went through a crash before
    calls: list[list[int]] = []
    real = pipeline.process_messages

    def spy(engine_, message_ids, settings, before_write=None):  # type: ignore[no-untyped-def]
        calls.append(list(message_ids))
        return real(engine_, message_ids, settings, before_write)

    import processor.run.worker as worker

    monkeypatch.setattr(worker, "process_messages", spy)
    monkeypatch.setattr(worker, "_BATCH", 50)
    assert drain(engine, Settings()) == 7
    assert calls == [ids[:3], [ids[3]], ids[4:]]
    with session_scope(engine) as session:
        statuses = {session.get_one(InboundMessage, i).status for i in ids}
    assert statuses == {"processed"}


def test_shards_split_the_queue_without_overlap(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [_store(engine, plain(f"s{i}")) for i in range(9)]
    seen: list[list[int]] = []
    real = pipeline.process_messages

    def spy(engine_, message_ids, settings, before_write=None):  # type: ignore[no-untyped-def]
        seen.append(list(message_ids))
        return real(engine_, message_ids, settings, before_write)

    import processor.run.worker as worker

    monkeypatch.setattr(worker, "process_messages", spy)
    assert drain(engine, Settings(), shard=(1, 3)) == 3
    assert [i for batch in seen for i in batch] == [i for i in ids if i % 3 == 1]
    assert drain(engine, Settings(), shard=(0, 3)) + drain(engine, Settings(), shard=(2, 3)) == 6


def test_worker_lets_waiting_mail_commit_first() -> None:
    """On SQLite the worker holds back while the SMTP side has mail waiting for its commit (bounded)."""
    import processor.run.worker as worker

    class Shared:
        value = 0

    waiting = Shared()
    hold_back = worker._after_new_mail(waiting)
    assert hold_back is not None and worker._after_new_mail(None) is None
    started = time.monotonic()
    hold_back()
    assert time.monotonic() - started < 0.05  # nothing waiting: no delay
    waiting.value = 3
    started = time.monotonic()
    hold_back()
    assert worker._YIELD_SECONDS <= time.monotonic() - started < worker._YIELD_SECONDS + 0.2  # bounded
