"""The reads of `faxbounce report`, the digest and the README's "today's failures" query, at any size.

Rows are never deleted, so these reads must find a period's rows by index instead of reading every result ever
stored (`bench/scale.py` times them at a million results). Each test compares with the plain rule, computed
here from the rows written, on SQLite and PostgreSQL: `failures.failed_at` is the result's `occurred_at`, else
its mail's arrival; a number's latest delivery is the latest of its delivered results (by that same time) and
its delivered submissions (by `state_at`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from processor.store.models import FaxResultRow, FaxSubmissionRow, InboundMessage
from processor.store.reports import _NUMBERS_PER_QUERY, deliveries_by_number

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
MESSAGES, RESULTS, SUBMISSIONS = InboundMessage.__table__, FaxResultRow.__table__, FaxSubmissionRow.__table__


def _utc(value: object) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _write(engine: Engine, results: list[dict[str, object]],
           submissions: list[tuple[datetime, str, str]] = ()) -> None:
    """One mail per result (`arrived`), the result as given (`occurred`: None for an undated one); submissions
    as (state_at, number, state)."""
    mails, rows = [], []
    for seq, result in enumerate(results, start=1):
        arrived = result.pop("arrived")
        occurred = result.pop("occurred")
        mails.append({"id": seq, "received_at": arrived, "rcpt_tos": [], "size": 1, "sha256": f"{seq:064x}",
                      "status": "processed", "attempts": 1})
        rows.append({"id": seq, "inbound_message_id": seq, "kind": "interfax_result", "detected_by": "test",
                     "vendor": "interfax", "outcome": "failed", "reason": "busy", "created_at": arrived,
                     "occurred_at": occurred, "happened_at": occurred or arrived, "forwarded": False, "event_key": None,
                     "fax_number": None, **result})  # every row names every column: one executemany
    with engine.begin() as connection:
        connection.execute(MESSAGES.insert(), mails)
        connection.execute(RESULTS.insert(), rows)
        if submissions:
            connection.execute(SUBMISSIONS.insert(), [
                {"inbound_message_id": 1, "recipient": f"{i}@fax.tc", "found_in": "to", "submitted_at": at,
                 "state_at": at, "created_at": at, "fax_number": number, "state": state}
                for i, (at, number, state) in enumerate(submissions)])


def _history() -> list[dict[str, object]]:
    """Failures and deliveries over ten days, dated and undated (undated ones arrived at their mail's time),
    a dated one whose mail came days later, and a forwarded copy of a failure (one event, two rows)."""
    results: list[dict[str, object]] = []
    for hours in range(0, 240, 7):
        arrived = NOW - timedelta(hours=hours)
        dated = hours % 3 != 0
        results.append({"arrived": arrived, "occurred": arrived - timedelta(minutes=5) if dated else None,
                        "outcome": "failed" if hours % 2 else "delivered", "fax_number": f"+8135555{hours:04d}",
                        "reason": "busy" if hours % 2 else "delivered"})
    results.append({"arrived": NOW - timedelta(hours=1), "occurred": NOW - timedelta(days=4), "fax_number": "+1"})
    results.append({"arrived": NOW - timedelta(hours=2), "occurred": NOW - timedelta(hours=30), "event_key": "k",
                    "fax_number": "+2"})
    results.append({"arrived": NOW - timedelta(hours=3), "occurred": NOW - timedelta(hours=30), "event_key": "k",
                    "fax_number": "+2", "forwarded": True})
    return results


def test_failures_of_a_period_follow_the_rule(engine: Engine) -> None:
    """`failed_at` is `occurred_at`, else the mail's arrival, and `WHERE failed_at >= since` finds exactly the
    failures of that period (one row per event: the forwarded copy stays out)."""
    history = _history()
    expected_at = {seq: _utc(r["occurred"] or r["arrived"]) for seq, r in enumerate(history, start=1)
                   if r.get("outcome", "failed") == "failed" and not r.get("forwarded")}
    _write(engine, history)
    with engine.connect() as connection:
        whole = {row.result_id: _utc(row.failed_at) for row in connection.execute(sa.text(
            "SELECT result_id, failed_at FROM failures"))}
        assert whole == expected_at
        for since in (NOW - timedelta(hours=h) for h in (0, 1, 30, 31, 100, 96, 1000)):
            found = {row.result_id for row in connection.execute(
                sa.text("SELECT result_id FROM failures WHERE failed_at >= :since")
                .bindparams(sa.bindparam("since", type_=FaxResultRow.__table__.c.happened_at.type)),
                {"since": since})}
            assert found == {seq for seq, at in expected_at.items() if at >= since}, since


def test_failures_of_a_period_are_found_by_index(engine: Engine) -> None:
    """The period is read from the index `(outcome, happened_at)`, not by reading every result (0012); before,
    `failed_at` was an expression over two tables that no index could serve."""
    query = "SELECT * FROM failures WHERE failed_at >= '2026-11-30'"
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))
        else:  # an empty table is read whole whatever its indexes: ask whether the index can serve at all
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = " ".join(str(row[0]) for row in connection.exec_driver_sql(f"EXPLAIN {query}"))
    assert "ix_fax_results_outcome_happened_at" in plan, plan


def test_latest_delivery_of_the_numbers_asked_about(engine: Engine) -> None:
    """Each number asked about gets its latest delivery (results by their time, delivered submissions by
    `state_at`); failures, other numbers and numbers without a delivery are not in the answer. More numbers
    than one statement takes are asked in turns."""
    count = 2 * _NUMBERS_PER_QUERY + 500
    results: list[dict[str, object]] = []
    expected: dict[str, datetime] = {}
    for i in range(count):
        number = f"+8130{i:08d}"
        delivered = NOW - timedelta(hours=10, minutes=i)
        results.append({"arrived": delivered + timedelta(minutes=1), "occurred": delivered, "outcome": "delivered",
                        "reason": "delivered", "fax_number": number})
        results.append({"arrived": NOW - timedelta(hours=1), "occurred": None, "fax_number": number})  # failed later
        latest = delivered
        if i % 3 == 0:  # an undated delivery: its mail's arrival counts
            latest = NOW - timedelta(hours=2, minutes=i)
            results.append({"arrived": latest, "occurred": None, "outcome": "delivered", "reason": "delivered",
                            "fax_number": number})
        expected[number] = latest
    submitted = NOW - timedelta(minutes=30)
    submissions = [(submitted, "+813000000005", "delivered"), (NOW, "+813000000006", "failed"),
                   (submitted, "+819999999999", "delivered")]
    expected["+813000000005"] = submitted
    results.append({"arrived": NOW, "occurred": None, "outcome": "delivered", "reason": "delivered",
                    "fax_number": "+810000000000"})  # not asked about
    _write(engine, results, submissions)
    asked = [*expected, "+819999999999", "+81111"]  # one delivered only by a submission, one never delivered
    expected["+819999999999"] = submitted
    with engine.connect() as connection:
        latest = {number: _utc(at) for number, at in deliveries_by_number(connection, asked).items()}
        assert latest == expected
        assert deliveries_by_number(connection, []) == {}
