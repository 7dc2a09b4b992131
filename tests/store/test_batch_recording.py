"""A batch recorded in one transaction writes what recording its mails one by one writes (issue #12).

`record_outcomes` refreshes the stop list once per batch when nobody is told of its changes, and writes each
mail's results with one statement; the rows, the matches, the stop list and the events must not depend on how
the mails were batched. Each scenario is stored in two fresh databases, recorded one mail per transaction in
the first and as one batch in the second, then both are compared.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from processor.config import Settings, WebhookSettings
from processor.run.pipeline import Pipeline
from processor.store.db import create_db_engine, migrate
from processor.store.inbound import Envelope, RawStore, WorkQueue
from tests.submissionfactory import result, submission

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
HOOKS = Settings(webhooks=(WebhookSettings(url="http://127.0.0.1:9/x", secret="whsec_" + "A" * 44),))
A, B = "03-5555-0101", "06-5555-0202"
A_E164, B_E164 = "+81355550101", "+81655550202"


def at(minutes: int) -> datetime:
    return BASE + timedelta(minutes=minutes)


def failed(number: str, minutes: int, code: str = "3912", label: str = "FAX番号が使用不可です") -> Callable[[], bytes]:
    return lambda: result(number, code, label, when=at(minutes))


def in_two_mailboxes(number: str, minutes: int, transaction_id: str) -> list[Callable[[], bytes]]:
    """One failure notice stored twice (two mailboxes): two mails, one fax event (`event_key`)."""
    notice: list[bytes] = []

    def original() -> bytes:
        notice[:] = [result(number, "3912", "FAX番号が使用不可です", transaction_id=transaction_id, when=at(minutes))]
        return notice[0]

    return [original, lambda: b"Delivered-To: hanako@example.co.jp\r\n" + notice[0]]


def delivered(number: str, minutes: int) -> Callable[[], bytes]:
    return lambda: result(number, "0", when=at(minutes))


def submitted(number: str, minutes: int) -> Callable[[], bytes]:
    return lambda: submission((number,), when=at(minutes))


# (name, mails in arrival order, expected stop list {number: (verdict, failures)}, expected matches)
SCENARIOS: list[tuple[str, list[Callable[[], bytes]], dict[str, tuple[str, int]], int]] = [
    ("two failures of one number", [failed(A, 0), failed(A, 60, "3936", "音声応答")], {A_E164: ("stop", 2)}, 0),
    ("failure, delivery, failure", [failed(A, 0), delivered(A, 60), failed(A, 120)], {A_E164: ("check", 1)}, 0),
    ("two numbers interleaved", [failed(A, 0), failed(B, 10), failed(A, 60), delivered(B, 70)],
     {A_E164: ("stop", 2), B_E164: ("ok", 0)}, 0),
    ("a result before its submission, then another failure",
     [failed(A, 3), submitted(A, 0), failed(A, 200)], {A_E164: ("stop", 2)}, 1),
    ("a submission, its failure and a second failure",
     [submitted(A, 0), failed(A, 3), failed(A, 240, "3936", "音声応答")], {A_E164: ("stop", 2)}, 1),
    ("one failure told in two mailboxes, two faxes waiting",
     [submitted(A, 0), submitted(A, 30), *in_two_mailboxes(A, 5, "900000101")], {A_E164: ("check", 1)}, 2),
]


@pytest.fixture
def two_databases(db_url: str, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two empty, migrated databases on the backend of `db_url` (the second: another file or schema)."""
    urls = [db_url]
    admin = None
    if db_url.startswith("sqlite"):
        urls.append(f"sqlite:///{tmp_path / 'second.sqlite3'}")
    else:
        server = db_url.split("?", 1)[0]
        schema = f"fbtest_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(server)
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        urls.append(f"{server}?options=-csearch_path%3D{schema}")
    engines = [create_db_engine(url) for url in urls]
    for engine in engines:
        migrate(engine)
    try:
        yield engines[0], engines[1]
    finally:
        for engine in engines:
            engine.dispose()
        if admin is not None:
            with admin.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def _record(engine: Engine, mails: list[bytes], settings: Settings, batch: int) -> None:
    RawStore(engine).put_many([(raw, Envelope("", ("copy@faxbounce.test",))) for raw in mails])
    queue = WorkQueue(engine, "node/1")
    pipeline = Pipeline(engine, settings, queue, "node")
    while claimed := queue.claim(batch):
        pipeline.run(claimed)


def _state(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        def rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(row) for row in connection.execute(sa.text(sql))]

        return {
            "messages": rows("SELECT id, status, kind FROM inbound_messages ORDER BY id"),
            "results": rows("SELECT id, inbound_message_id, fax_number, outcome, reason FROM fax_results ORDER BY id"),
            "matches": rows("SELECT result_id, submission_id, method, confidence FROM fax_matches "
                            "ORDER BY result_id, submission_id"),
            "submissions": rows("SELECT id, fax_number, state, reason, result_id, match_method FROM fax_submissions "
                                "ORDER BY id"),
            "stoplist": rows("SELECT fax_number, national, verdict, reason, failures, last_failure_at, "
                             "last_delivered_at FROM number_stoplist ORDER BY fax_number"),
            "events": sorted((row[0], row[1], _without_clock(row[2])) for row in rows(
                "SELECT event_id, event_type, body FROM notify_outbox")),
        }


def _without_clock(body: str) -> str:
    """The body without its timestamp (a `number.stopped` event is stamped when it is written)."""
    data = json.loads(body)
    data.pop("timestamp")
    return json.dumps(data, sort_keys=True)


@pytest.mark.parametrize("settings", [Settings(), HOOKS], ids=["nobody told", "webhooks"])
@pytest.mark.parametrize(("name", "mails", "stoplist", "matches"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_a_batch_records_what_one_by_one_records(two_databases: tuple[Engine, Engine], settings: Settings,
                                                 name: str, mails: list[Callable[[], bytes]],
                                                 stoplist: dict[str, tuple[str, int]], matches: int) -> None:
    one_by_one, batched = two_databases
    raw = [make() for make in mails]
    _record(one_by_one, raw, settings, batch=1)
    _record(batched, raw, settings, batch=len(raw))
    expected, got = _state(one_by_one), _state(batched)
    assert {row[0]: (row[2], row[4]) for row in got["stoplist"]} == stoplist
    assert len(got["matches"]) == matches
    assert all(status == "processed" for _, status, _ in got["messages"])
    assert bool(got["events"]) == bool(settings.webhooks)
    assert got == expected


def test_beyond_the_lookahead_limit_every_result_still_finds_its_submission(
        two_databases: tuple[Engine, Engine], monkeypatch: pytest.MonkeyPatch) -> None:
    """`Lookahead` holds at most `_LIMIT` submissions of the run's numbers; past that it must look every result's
    candidates up, never decide from the part it read. The limit is lowered to 2 for 4 submissions: three on day
    0 and one on day 3, which a read cut to the first rows would miss, so that the day-3 failure would find
    nothing to match."""
    from processor.store.tracking import Lookahead

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)

    def when(minutes: int) -> datetime:
        return start + timedelta(minutes=minutes)

    day3 = 3 * 24 * 60
    subs = [submission((A,), when=when(m)) for m in (0, 10, 20, day3)]
    fails = [result(A, "3912", "FAX番号が使用不可です", when=when(m)) for m in (25, day3 + 5)]
    limited, unlimited = two_databases
    for engine in (limited, unlimited):
        _record(engine, subs, Settings(), batch=1)
    _record(unlimited, fails, Settings(), batch=len(fails))
    monkeypatch.setattr(Lookahead, "_LIMIT", 2)
    _record(limited, fails, Settings(), batch=len(fails))
    got = _state(limited)
    assert len(got["matches"]) == 2
    matched = {row[4] for row in got["submissions"] if row[4] is not None}  # result_id of each decided submission
    assert len(matched) == 2
    assert got == _state(unlimited)
