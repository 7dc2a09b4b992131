"""The stop list's reads (`store/numbers.py`) give the verdict the rules give over a number's whole history.

`refresh_numbers` reads only what the rules need: each number's latest delivery and failure, and of the failures
that can still count the latest result of each fax event, grouped in SQL. The oracle here is the plain way:
every stored result of the number, each with its `fax_event_key`, handed to `decide_number`. Histories are
written as rows (dated and undated results, mail bounces, submissions that tie results together, empty and
bracketed ids, ties in time) and compared on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from processor.config import NumberSettings
from processor.notify.stoplist import NumberEvent, decide_number
from processor.store.models import FaxMatchRow, FaxResultRow, FaxSubmissionRow, InboundMessage
from processor.store.numbers import fax_event_key, refresh_numbers

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
NUMBER = "+81355550101"
OTHER = "+81655550202"
RULES = NumberSettings()


@dataclass(frozen=True)
class Row:
    """One stored result: days before NOW (None: undated, the mail's arrival counts), what it says, its ids."""

    days: float | None
    outcome: str = "failed"
    reason: str = "invalid_number"
    retryable: bool | None = False
    transaction: str | None = None
    original: str | None = None
    submission: int | None = None
    kind: str = "fax_result"
    arrived_days: float = 0.0
    number: str = NUMBER


HISTORIES = {
    "nothing but a delivery": [Row(3, "delivered", "delivered", None)],
    "one number failure": [Row(2)],
    "two failures of one fax (same transaction)": [Row(2, transaction="t1"), Row(1, transaction="t1")],
    "two failures of two faxes": [Row(2, transaction="t1"), Row(1, transaction="t2")],
    "empty transaction ids are no event": [Row(2, transaction=""), Row(1, transaction="")],
    "a submission ties two transactions": [Row(2, transaction="t1", submission=1),
                                           Row(1, transaction="t2", submission=1)],
    "bracketed and bare Message-IDs": [Row(2, original="<a@x>"), Row(1, original="a@x")],
    "failures before the latest delivery do not count": [Row(5), Row(4), Row(3, "delivered", "delivered", None),
                                                         Row(1)],
    "undated failure arrived after a dated delivery": [Row(3, "delivered", "delivered", None),
                                                       Row(None, arrived_days=1)],
    "undated delivery arrived after dated failures": [Row(5), Row(4), Row(None, "delivered", "delivered", None,
                                                                           arrived_days=2)],
    "old failures decay": [Row(120), Row(95), Row(2)],
    "busy three times in a week": [Row(d, reason="busy", retryable=True, transaction=f"b{d}") for d in (6, 4, 1)],
    "busy three times, one fax": [Row(d, reason="busy", retryable=True, transaction="b") for d in (6, 4, 1)],
    "busy over a month": [Row(d, reason="busy", retryable=True) for d in (25, 14, 1)],
    "one fax, busy then a number failure": [Row(3, reason="busy", retryable=True, transaction="x"),
                                            Row(2, transaction="x")],
    "account failures say nothing, but are the latest failure": [Row(3), Row(1, reason="credit_limit")],
    "mail bounces are not fax results": [Row(2, kind="dsn"), Row(1, "delivered", "delivered", None, kind="dsn")],
    "ties in time, two reasons": [Row(2, transaction="t"), Row(2, reason="voice_answer", transaction="t")],
    "another number's results stay its own": [Row(2, number=OTHER), Row(1, number=OTHER), Row(3)],
}


def _write(engine: Engine, rows: list[Row]) -> None:
    with Session(engine) as session, session.begin():
        submissions: dict[int, int] = {}
        for seq, row in enumerate(rows):
            arrived = NOW - timedelta(days=row.days if row.days is not None else row.arrived_days, seconds=-seq)
            occurred = None if row.days is None else NOW - timedelta(days=row.days)
            message = InboundMessage(received_at=arrived, rcpt_tos=[], size=1, sha256=f"{seq:064x}",
                                     status="processed", attempts=1)
            session.add(message)
            session.flush()
            result = FaxResultRow(
                inbound_message_id=message.id, kind=row.kind, detected_by="test", vendor="interfax",
                outcome=row.outcome, reason=row.reason, retryable=row.retryable, fax_number=row.number,
                transaction_id=row.transaction, original_message_id=row.original, created_at=arrived,
                occurred_at=occurred, happened_at=occurred or arrived)
            session.add(result)
            session.flush()
            if row.submission is not None:
                if row.submission not in submissions:
                    submission = FaxSubmissionRow(inbound_message_id=message.id, recipient=f"{seq}@fax.tc",
                                                  found_in="to", submitted_at=arrived, state="failed",
                                                  state_at=arrived, created_at=arrived, fax_number=row.number)
                    session.add(submission)
                    session.flush()
                    submissions[row.submission] = submission.id
                session.add(FaxMatchRow(submission_id=submissions[row.submission], result_id=result.id,
                                        method="test", confidence="high", matched_at=arrived))


def _oracle(engine: Engine, number: str) -> tuple[str, str | None, int, datetime | None, datetime | None]:
    """The verdict from every stored result of the number, read the plain way."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(FaxResultRow.id, FaxResultRow.outcome, FaxResultRow.reason, FaxResultRow.retryable,
                      FaxResultRow.vendor, FaxResultRow.transaction_id, FaxResultRow.original_message_id,
                      FaxResultRow.occurred_at, InboundMessage.received_at,
                      sa.select(sa.func.min(FaxMatchRow.submission_id))
                      .where(FaxMatchRow.result_id == FaxResultRow.id).scalar_subquery().label("submission_id"))
            .join(InboundMessage, InboundMessage.id == FaxResultRow.inbound_message_id)
            .where(FaxResultRow.fax_number == number, FaxResultRow.kind != "dsn",
                   FaxResultRow.outcome.in_(("delivered", "failed")))
            .order_by(FaxResultRow.id)).all()
    events = [NumberEvent(fax_event_key(r.id, number, r.submission_id, r.vendor, r.transaction_id,
                                        r.original_message_id),
                          _utc(r.occurred_at or r.received_at), r.outcome, r.reason, r.retryable) for r in rows]
    verdict = decide_number(events, NOW, RULES)
    return (str(verdict.verdict), verdict.reason, verdict.failures, verdict.last_failure_at,
            verdict.last_delivered_at)


def _stored(engine: Engine, number: str) -> tuple[str, str | None, int, datetime | None, datetime | None] | None:
    with Session(engine) as session, session.begin():
        refresh_numbers(session, [NUMBER, OTHER], RULES, now=NOW)
    with engine.connect() as connection:
        row = connection.execute(sa.text(
            "SELECT verdict, reason, failures, last_failure_at, last_delivered_at FROM number_verdicts "
            "WHERE fax_number = :n"), {"n": number}).one_or_none()
    if row is None:
        return None
    return (row.verdict, row.reason, row.failures, _utc(_datetime(row.last_failure_at)),
            _utc(_datetime(row.last_delivered_at)))


def _datetime(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value  # type: ignore[return-value]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _assert_as_the_rules_say(engine: Engine) -> None:
    for number in (NUMBER, OTHER):
        expected = _oracle(engine, number)
        stored = _stored(engine, number)
        if expected[3] is None and expected[4] is None:
            assert stored is None or stored[:3] == ("ok", None, 0)
        else:
            assert stored == expected, number


@pytest.mark.parametrize("history", list(HISTORIES.values()), ids=list(HISTORIES))
def test_refresh_gives_what_the_rules_give_over_the_whole_history(engine: Engine, history: list[Row]) -> None:
    _write(engine, history)
    _assert_as_the_rules_say(engine)


def test_a_thousand_results_of_one_fax_count_once(engine: Engine) -> None:
    """The case the grouping is for: a number's failures, mostly about the same faxes, many times over."""
    _write(engine, [Row(None if i % 3 == 0 else 1 + i % 5 / 10, reason=("busy", "invalid_number")[i % 2],
                        retryable=i % 2 == 0, transaction=f"t{i % 4}", arrived_days=0.5) for i in range(1000)])
    expected = _oracle(engine, NUMBER)
    assert expected[:3] == ("stop", "invalid_number", 4)  # two number faxes and two busy ones, after the rules
    assert _stored(engine, NUMBER) == expected


_ROWS = st.builds(
    Row,
    days=st.one_of(st.none(), st.sampled_from([0.5, 1, 1, 2, 3, 6, 8, 20, 89, 91, 200])),
    outcome=st.sampled_from(["failed", "failed", "failed", "delivered", "pending"]),
    reason=st.sampled_from(["invalid_number", "voice_answer", "busy", "no_answer", "credit_limit", "unknown"]),
    retryable=st.sampled_from([True, False, None]),
    transaction=st.sampled_from([None, "", "t1", "t2"]),
    original=st.sampled_from([None, "", "<m1@x>", "m1@x", "<m2@x>"]),
    submission=st.sampled_from([None, None, 1, 2]),
    kind=st.sampled_from(["fax_result", "fax_result", "dsn"]),
    arrived_days=st.sampled_from([0, 1, 4, 100]),
    number=st.sampled_from([NUMBER, NUMBER, OTHER]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(_ROWS, max_size=14))
def test_generated_histories(engine: Engine, history: list[Row]) -> None:
    with engine.begin() as connection:  # each example starts from no results
        for table in ("fax_matches", "fax_submissions", "number_verdicts", "fax_results", "inbound_messages"):
            connection.execute(sa.text(f"DELETE FROM {table}"))
    _write(engine, history)
    _assert_as_the_rules_say(engine)
