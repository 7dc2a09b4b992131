"""store/stats.py, store/retention.py and store/columns.py on SQLite and PostgreSQL: the SQL that metrics, health
checks, purge and ingest use, asserted against mails whose state each test sets up itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from mailfactory import plain
from sqlalchemy.engine import Engine

from processor.reasons import Kind, Outcome
from processor.records import Classification, FaxResult
from processor.store.columns import fit, max_chars
from processor.store.db import create_db_engine, session_scope
from processor.store.inbound import Envelope, RawStore
from processor.store.models import FaxResultRow, FaxSubmissionRow, InboundMessage, InboundRaw, MessageStatus
from processor.store.results import record_classification, record_failure
from processor.store.retention import Cutoffs, drop_raw, due_raw, purged_ids
from processor.store.stats import (
    LiveCounts,
    StoredTotals,
    backlog,
    database_identity,
    ingest_summary,
    live_counts,
    stored_totals,
)
from processor.text import clean_text

NOW = datetime.now(UTC)


def _result(reason: str, outcome: Outcome = Outcome.FAILED, number: str = "+81355550101") -> FaxResult:
    return FaxResult(vendor="interfax", outcome=outcome, reason=reason, retryable=None, detected_by="test",
                     fax_number=number)


SIZES: dict[int, int] = {}
"""Bytes stored per mail id, as `_put` handed them over."""


def _put(engine: Engine, subject: str, days_ago: float = 0) -> int:
    raw = plain(subject)
    stored = RawStore(engine).put(raw, Envelope("", ("a@x",), received_at=NOW - timedelta(days=days_ago)))
    SIZES[stored.id] = len(raw)
    return stored.id


def _classify(engine: Engine, message_id: int, kind: Kind, *results: FaxResult) -> None:
    with session_scope(engine) as session:
        message = session.get(InboundMessage, message_id)
        assert message is not None
        record_classification(session, message, message_id_header=None, subject=None, from_address=None,
                              classification=Classification(kind, "test", tuple(results)))


@pytest.fixture
def mails(engine: Engine) -> dict[str, int]:
    """Two results of different reasons on one mail, one result on another, an unrelated mail, a mail in
    error, and two mails still waiting (the oldest 3 days old)."""
    ids = {name: _put(engine, name, days) for name, days in (
        ("two_reasons", 10), ("busy", 9), ("unrelated", 8), ("broken", 7), ("waiting_old", 3), ("waiting", 1))}
    _classify(engine, ids["two_reasons"], Kind.INTERFAX_RESULT, _result("busy"),
              _result("invalid_number", number="+81355550102"))
    _classify(engine, ids["busy"], Kind.INTERFAX_RESULT, _result("busy"))
    _classify(engine, ids["unrelated"], Kind.UNRELATED)
    with session_scope(engine) as session:
        message = session.get(InboundMessage, ids["broken"])
        assert message is not None
        record_failure(session, message, MessageStatus.ERROR, "boom")
    return ids


def test_live_counts_and_stored_totals(engine: Engine, mails: dict[str, int]) -> None:
    live = live_counts(engine)
    assert (live.backlog, live.unparseable, live.unrecognized) == (2, 0, 0)
    assert live.backlog == backlog(engine)
    assert live.oldest_waiting is not None
    assert abs((live.oldest_waiting - (NOW - timedelta(days=3))).total_seconds()) < 1
    totals = stored_totals(engine)
    assert totals.statuses == {"processed": 3, "error": 1, "received": 2}
    assert sorted(totals.results) == [("interfax_result", "failed", "busy", 2),
                                      ("interfax_result", "failed", "invalid_number", 1)]


def test_counts_of_an_empty_store(engine: Engine) -> None:
    assert live_counts(engine) == LiveCounts(0, None, 0, 0)
    assert stored_totals(engine) == StoredTotals({}, ())


def test_ingest_summary_counts_each_mail_once_in_the_total(engine: Engine, mails: dict[str, int]) -> None:
    """Issue #14 (b): a mail with results of two reasons is on both rows, but the total counts it once."""
    ids = [mails[name] for name in ("two_reasons", "busy", "unrelated", "broken", "waiting")]
    summary = ingest_summary(engine, ids)
    rows = {(r.kind, r.reason): (r.mails, r.results) for r in summary.rows}
    assert rows == {("interfax_result", "busy"): (2, 2), ("interfax_result", "invalid_number"): (1, 1),
                    ("unrelated", "-"): (1, 0), ("error", "-"): (1, 0), ("received", "-"): (1, 0)}
    assert (summary.mails, summary.results) == (5, 3)
    assert ingest_summary(engine, []).mails == 0


def test_database_identity_names_the_database_not_the_url(engine: Engine, db_url: str) -> None:
    identity = database_identity(engine)
    assert len(identity) == 16 and int(identity, 16) >= 0
    if engine.dialect.name == "sqlite":  # the same file by another spelling of its path
        path = engine.url.database
        assert path is not None
        other = create_db_engine(f"sqlite:///{path.replace('/faxbounce.sqlite3', '/./faxbounce.sqlite3')}")
        different = create_db_engine(f"sqlite:///{path}.other")
    else:  # the same schema through another spelling of the host; another schema
        other = create_db_engine(db_url.replace("127.0.0.1", "localhost"))
        different = create_db_engine(db_url.split("?", 1)[0])  # the default search path: public
    try:
        assert database_identity(other) == identity
        assert database_identity(different) != identity
    finally:
        other.dispose()
        different.dispose()


def test_due_and_drop_raw_follow_both_cutoffs(engine: Engine, mails: dict[str, int]) -> None:
    everything_before_9d = Cutoffs(NOW - timedelta(days=9, hours=12))
    assert due_raw(engine, everything_before_9d).mails == 1  # two_reasons (10 days); busy is 9 days old
    both = Cutoffs(NOW - timedelta(days=9, hours=12), unrelated_before=NOW - timedelta(days=5))
    due = due_raw(engine, both)
    assert due.mails == 2 and due.bytes == SIZES[mails["two_reasons"]] + SIZES[mails["unrelated"]]
    assert drop_raw(engine, both, batch=1) == 2
    assert purged_ids(engine, mails.values()) == {mails["two_reasons"], mails["unrelated"]}
    assert drop_raw(engine, both) == 0  # idempotent
    with pytest.raises(ValueError):
        Cutoffs(None, None)
    # Mail still waiting is never due, however old the cut-off makes it.
    assert due_raw(engine, Cutoffs(NOW + timedelta(days=1))).mails == 2  # busy, broken; not the 2 waiting


def test_text_is_cut_to_the_models_column_sizes() -> None:
    assert max_chars(FaxResultRow.transaction_id) == FaxResultRow.__table__.c.transaction_id.type.length == 128
    assert max_chars(FaxResultRow.smtp_reply) == 8
    assert max_chars(InboundMessage.__table__.c.subject) == 2000
    assert fit(FaxResultRow.smtp_reply, "550 5.1.1 user unknown") == "550 5.1."
    assert fit(FaxSubmissionRow.recipient, None) is None
    with pytest.raises(TypeError, match=r"inbound_raw\.raw declares no length"):
        max_chars(InboundRaw.raw)


def test_clean_text_drops_what_databases_refuse() -> None:
    assert clean_text("a\x00b") == "ab"
    assert clean_text("x\udc80y") == "x?y"  # a lone surrogate (from surrogateescape decoding) becomes ?
    assert clean_text("日本語テキスト", 3) == "日本語"
    assert clean_text(None, 5) is None


def test_hostile_text_is_stored_on_both_backends(engine: Engine) -> None:
    """NUL and lone surrogates from the network go through the one clean_text into every store module."""
    stored = RawStore(engine).put(b"x", Envelope("a\x00b@x", ("c\udc80d@x", "e" * 3000), helo="h\x00"))
    _classify(engine, stored.id, Kind.INTERFAX_RESULT,
              FaxResult(vendor="interfax", outcome=Outcome.FAILED, reason="busy", retryable=None, detected_by="t",
                        vendor_message="v\x00" + "w" * 20_000, smtp_reply="550\x00 5.1.1 x"))
    with engine.connect() as connection:
        message = connection.execute(sa.select(InboundMessage.__table__).where(
            InboundMessage.__table__.c.id == stored.id)).one()
        result = connection.execute(sa.select(FaxResultRow.__table__)).one()
    assert (message.mail_from, message.helo) == ("ab@x", "h")
    assert message.rcpt_tos == ["c?d@x", "e" * 2000]
    assert result.vendor_message == "v" + "w" * 9999 and result.smtp_reply == "550 5.1."
