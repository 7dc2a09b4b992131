"""Every result row faxbounce writes carries `happened_at`: its `occurred_at`, else its mail's arrival.

The stop list reads a number's latest delivery and failure, and its failures that can still count, from the index
`(fax_number, outcome, happened_at)` (store/numbers.py); a row written without it, or with another time, would
vanish from the stop list or count at the wrong time. Each path that writes results is checked on both backends:
a batch of first-time mails (one INSERT for the run), a mail processed again (its rows replaced), a submission
in the batch (mail by mail), and `record_classification`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from processor.config import Settings
from processor.run.judge import classify_bytes
from processor.run.pipeline import Pipeline, process_message
from processor.store.inbound import Envelope, RawStore, WorkQueue
from processor.store.models import InboundMessage
from processor.store.results import record_classification
from tests.submissionfactory import result, submission

SAMPLES = Path(__file__).resolve().parents[1] / "data"
# Dated (the notice gives the completion time) and undated results (it gives none) of the sample mails.
DATED = ("interfax/text-ja-01.eml", "interfax/csv-01.eml", "interfax/xml-01.eml")
UNDATED = ("interfax/text-ja-05.eml", "interfax/html-ja-02.eml", "interfax/xml-02.eml")
WHEN = datetime(2026, 11, 20, 1, 15, 7, tzinfo=UTC)


def _rows(engine: Engine) -> list[sa.Row]:
    with engine.connect() as connection:
        return connection.execute(sa.text(
            "SELECT r.id, r.occurred_at, r.happened_at, m.received_at FROM fax_results r "
            "JOIN inbound_messages m ON m.id = r.inbound_message_id ORDER BY r.id")).all()


def _utc(value: object) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _assert_happened_at(engine: Engine) -> tuple[int, int]:
    """Every row's happened_at is its occurred_at, else its mail's arrival; returns (dated, undated) counts."""
    rows = _rows(engine)
    assert rows
    for row in rows:
        assert row.happened_at is not None, row
        assert _utc(row.happened_at) == _utc(row.occurred_at if row.occurred_at is not None else row.received_at)
    dated = sum(row.occurred_at is not None for row in rows)
    return dated, len(rows) - dated


def _process(engine: Engine, mails: list[bytes], batch: int) -> list[int]:
    stored = RawStore(engine).put_many([(raw, Envelope("", ("copy@faxbounce.test",))) for raw in mails])
    queue = WorkQueue(engine, "node/1")
    pipeline = Pipeline(engine, Settings(), queue, "node")
    while claimed := queue.claim(batch):
        pipeline.run(claimed)
    return [s.id for s in stored]


def test_a_batch_of_result_mails_writes_happened_at(engine: Engine) -> None:
    _process(engine, [(SAMPLES / name).read_bytes() for name in DATED + UNDATED], batch=20)
    dated, undated = _assert_happened_at(engine)
    assert dated >= 3 and undated >= 3


def test_a_mail_processed_again_and_a_submission_in_the_batch_write_happened_at(engine: Engine) -> None:
    mails = [submission(("03-5555-0101",), when=WHEN),
             result("03-5555-0101", "3912", "FAX番号が使用不可です", when=WHEN), (SAMPLES / UNDATED[0]).read_bytes()]
    ids = _process(engine, mails, batch=20)
    for mail_id in ids:
        assert process_message(engine, mail_id, Settings()) is not None
    dated, undated = _assert_happened_at(engine)
    assert dated and undated


def test_record_classification_writes_happened_at(engine: Engine) -> None:
    raw = (SAMPLES / UNDATED[0]).read_bytes()
    stored = RawStore(engine).put(raw, Envelope("", ("copy@faxbounce.test",)))
    settings = Settings()
    _, classification = classify_bytes(raw, settings.processing, settings.tracking, ("copy@faxbounce.test",))
    with Session(engine) as session, session.begin():
        message = session.get(InboundMessage, stored.id)
        assert message is not None
        record_classification(session, message, message_id_header=None, subject=None, from_address=None,
                              classification=classification)
    assert _assert_happened_at(engine) == (0, len(classification.results))
