"""Result rows get their ids back in the order they were given (`processor.store.results._insert_results`).

Correlation ties each stored result to a submission by the id it was given back, so an id paired with the
wrong row would tie one destination's outcome to another's fax. SQLite is asked for no RETURNING order (one
statement, not one per row) and the ids are sorted; PostgreSQL gets one array per column (`processor.store.bulk`)
and sorts them too. These tests hold that to what is stored, on both backends,
with a table that already has rows and gaps, and across SQLAlchemy's batches of a few hundred rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from processor.store.db import session_scope
from processor.store.inbound import Envelope, RawStore
from processor.store.models import FaxResultRow
from processor.store.results import _insert_results

RESULTS = FaxResultRow.__table__


def rows_for(message_id: int, labels: list[str]) -> list[dict[str, object]]:
    return [dict(inbound_message_id=message_id, kind="result", detected_by="test", vendor="interfax",
                 vendor_message=label, outcome="failed", reason="busy", retryable=True, forwarded=False,
                 created_at=datetime.now(UTC)) for label in labels]


def stored_labels(engine: Engine, ids: list[int]) -> list[str]:
    with engine.connect() as connection:
        by_id = dict(connection.execute(sa.select(RESULTS.c.id, RESULTS.c.vendor_message)
                                        .where(RESULTS.c.id.in_(ids))).all())
    return [by_id[result_id] for result_id in ids]


@pytest.mark.parametrize("count", [1, 2, 7, 2600])
def test_ids_come_back_in_the_order_of_the_rows(engine: Engine, count: int) -> None:
    mail = RawStore(engine).put(b"Subject: x\r\n\r\nbody\r\n", Envelope("", ("fax@example.test",)))
    # Rows already there, the newest deleted: new ids start after a gap, not at 1.
    with session_scope(engine) as session:
        _insert_results(session, rows_for(mail.id, ["old-1", "old-2", "old-3"]))
        session.execute(sa.delete(RESULTS).where(RESULTS.c.vendor_message == "old-3"))
    # Labels out of sort order, so that rows sorted by label would not pass either.
    labels = [f"row-{(index * 7919) % count:05d}-{index}" for index in range(count)]
    with session_scope(engine) as session:
        ids = _insert_results(session, rows_for(mail.id, labels))
    assert len(ids) == count == len(set(ids))
    assert stored_labels(engine, ids) == labels


def test_a_value_too_long_for_its_column_is_refused_not_cut(engine: Engine) -> None:
    """PostgreSQL gets one array per column (`processor.store.bulk`): cast to `varchar(32)[]` a 41-character
    number would be cut to 32 without a word; as `text[]` the column refuses it, as a plain INSERT does. SQLite
    keeps no lengths and stores it whole."""
    mail = RawStore(engine).put(b"Subject: x\r\n\r\nbody\r\n", Envelope("", ("fax@example.test",)))
    rows = rows_for(mail.id, ["fits", "too long"])
    rows[0]["fax_number"], rows[1]["fax_number"] = "+81355550101", "+" + "1" * 40
    if engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DataError, match="too long"), session_scope(engine) as session:
            _insert_results(session, rows)
        return
    with session_scope(engine) as session:
        ids = _insert_results(session, rows)
    with engine.connect() as connection:
        assert connection.execute(sa.select(RESULTS.c.fax_number).where(RESULTS.c.id == ids[1])).scalar() == rows[1][
            "fax_number"]
