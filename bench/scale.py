"""What years of stored results cost the queries that run again and again: the metrics scrape, `/healthz`,
the report and the digest, the tracking sweep, retention's daily look, and a worker recording new mail.

    .venv/bin/python bench/scale.py [--rows N] [--days D] [POSTGRESQL_URL]   # default: a temporary SQLite file

Rows are never deleted (retention drops raw bytes, not rows), so `inbound_messages`, `fax_results` and
`fax_submissions` grow by every mail for as long as the daemon runs. The bench records a seed of mails through a
worker (the bench mix, the end-to-end bench's InterFAX results, and fax submissions followed by their results:
results, submissions, matches, number verdicts), then copies the seed's mails, results, submissions and matches
until `fax_results` holds at least N rows (default 1,000,000), spread back over D days (default 1,095: three
years), each copy with its own ids, dates and fax numbers, and times each query, best of three, at the seed's
size and at N. A PostgreSQL server is used in a throw-away schema, dropped afterwards.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.perf import bodies, interfax_bodies, scratch_database
from processor.config import Settings
from processor.ops.metrics import read_snapshot, read_totals, run_checks
from processor.ops.report import collect
from processor.run.worker import drain
from processor.store.db import create_db_engine, migrate, session_scope
from processor.store.inbound import Envelope, RawStore
from processor.store.models import FaxMatchRow, FaxResultRow, FaxSubmissionRow, InboundMessage
from processor.store.retention import Cutoffs, due_raw
from processor.store.tracking import sweep
from tests.submissionfactory import result, submission

CHUNK = 20_000


def seed(engine: sa.Engine, url: str, mails: int) -> None:
    """Store `mails` mails and let a worker record them: every table gets rows as the daemon writes them. A
    quarter are fax submissions (BCC copies of mails to `<number>@fax.tc`) whose InterFAX results come after
    them (delivered, a wrong number, busy), so tracking's tables and views hold rows too."""
    faxes = mails // 8
    rest = mails - 2 * faxes
    worker_engine = create_db_engine(url, durable=False)
    started = datetime.now(UTC) - timedelta(hours=2)
    numbers = [f"03-5555-{i:04d}" for i in range(50)]
    outcomes = [("0", ""), ("3912", "FAX番号が使用不可です"), ("6017", "話中"), *[("0", "")] * 7]
    batches = [
        [*bodies(rest // 2, 2048), *interfax_bodies(rest - rest // 2)],
        [submission([numbers[i % 50]], f"件名{i} /b", when=started + timedelta(seconds=i)) for i in range(faxes)],
        [result(numbers[i % 50], *outcomes[i % len(outcomes)], subject=f"件名{i}",
                when=started + timedelta(seconds=i + 20)) for i in range(faxes)],
    ]
    for batch in batches:  # results after their submissions, as they arrive
        RawStore(engine).put_many([(body.replace(b"\r\n..", b"\r\n."),
                                    Envelope("", ("fax@faxbounce.test",), peer="127.0.0.1:1")) for body in batch])
        drain(worker_engine, Settings())
    worker_engine.dispose()


#: What each copy changes besides its dates: its own id past the seed's, the ids it points at moved the same,
#: and its own values where a value names one mail or one fax.
_COPIED = (InboundMessage.__table__, FaxResultRow.__table__, FaxSubmissionRow.__table__, FaxMatchRow.__table__)
_POINTERS = {"inbound_message_id": "inbound_messages", "result_id": "fax_results", "submission_id": "fax_submissions"}
_OWN_VALUES = ("message_id", "event_key", "transaction_id", "original_message_id")
_RESULTS = FaxResultRow.__table__
_EVENT_VALUES = ("event_key", "transaction_id")


def grow(engine: sa.Engine, rows: int, days: int) -> None:
    """Copy the seed's mails, results, submissions and matches, whole copies, until `fax_results` holds at least
    `rows` rows, each copy `days / copies` days older than the last. A copy has ids past the seed's and its own
    sha256, fax numbers, event keys, transaction ids and Message-IDs (each names one fax or mail: copies that
    shared them would be thousands of copies of one). Each copied result also has an event key and a transaction
    id of its own: the seed's InterFAX results repeat ~15 fixtures, so ~70 of them share each, where a real
    office's results have one each (two or three for a notice forwarded); shared keys made PostgreSQL's planner
    expect 630 rows for 20 keys and hash-join a scan of `fax_matches` for the tracking lookahead."""
    with engine.connect() as connection:
        seeds = {table.name: [dict(r._mapping) for r in connection.execute(sa.select(table))] for table in _COPIED}
    steps = {name: max((row["id"] for row in seeds[name]), default=0) for name in _POINTERS.values()}
    steps["inbound_messages"] = max(row["id"] for row in seeds["inbound_messages"])
    per_copy = len(seeds["fax_results"])
    copies = max(1, -(-(rows - per_copy) // per_copy))
    step = timedelta(days=days) / copies
    pending: dict[str, list[dict[str, Any]]] = {table.name: [] for table in _COPIED}

    def flush() -> None:
        with engine.begin() as connection:
            for table in _COPIED:  # in the order the foreign keys need
                if pending[table.name]:
                    connection.execute(table.insert(), pending[table.name])
                    pending[table.name].clear()

    for copy in range(1, copies + 1):
        older = step * copy
        for table in _COPIED:
            dated = [c.name for c in table.columns if isinstance(c.type, sa.types.TypeDecorator)]
            for row in seeds[table.name]:
                new = dict(row)
                if "id" in new:
                    new["id"] += copy * steps[table.name]
                for column, target in _POINTERS.items():
                    if new.get(column) is not None:
                        new[column] += copy * steps[target]
                for column in _OWN_VALUES:
                    if new.get(column):
                        new[column] = f"{new[column]}/{copy}"
                if table is _RESULTS:  # one event, one transaction each: the seed's fixtures repeat theirs
                    for column in _EVENT_VALUES:
                        if new.get(column):
                            new[column] = f"{new[column]}.{row['id']}"
                if new.get("fax_number"):
                    new["fax_number"] = f"{new['fax_number'][:-3]}{copy % 1000:03d}"
                if "sha256" in new:
                    new["sha256"] = f"{copy:08d}{new['sha256'][8:]}"
                if "lease_until" in new:
                    new["lease_until"] = None
                for name in dated:
                    if new[name] is not None:
                        new[name] -= older
                pending[table.name].append(new)
        if sum(len(waiting) for waiting in pending.values()) >= CHUNK:
            flush()
    flush()
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":  # rows inserted with their ids leave the sequences behind
            for table in ("inbound_messages", "fax_results", "fax_submissions"):
                connection.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                           f"(SELECT max(id) FROM {table}))"))
        connection.execute(sa.text("ANALYZE"))
        connection.commit()


def best(seconds: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of `repeat` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        seconds()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def queries(engine: sa.Engine, url: str) -> dict[str, Callable[[], object]]:
    """The recurring work, each as the daemon or a command runs it."""
    settings = Settings()
    now = datetime.now(UTC)

    def tracking_sweep() -> None:
        with session_scope(engine) as session:
            sweep(session, settings.tracking, now)
            session.rollback()

    def rows_of(sql: str) -> Callable[[], object]:
        def read() -> object:
            with engine.connect() as connection:
                return connection.execute(sa.text(sql)).all()
        return read

    since = sa.bindparam("since", type_=FaxResultRow.__table__.c.happened_at.type)
    return {
        "README: failures of the last 24 hours": lambda: _read(engine, sa.text(
            "SELECT failed_at, fax_number, reason, code FROM failures WHERE failed_at >= :since "
            "ORDER BY failed_at DESC").bindparams(since), now - timedelta(hours=24)),
        "README: faxes that did not arrive, newest 100 (`fax_status`)": rows_of(
            "SELECT submitted_at, fax_number, state, reason, action FROM fax_status "
            "WHERE state IN ('failed', 'no_result', 'pending') ORDER BY submitted_at DESC LIMIT 100"),
        "README: `number_health` verdicts not ok (the whole history)": rows_of(
            "SELECT fax_number, verdict FROM number_health WHERE verdict <> 'ok'"),
        "metrics scrape (`read_snapshot`: backlog, lag, outbox)": lambda: read_snapshot(engine),
        "metrics totals (`read_totals`, in the background every 300 s)": lambda: read_totals(engine),
        "`/healthz` checks": lambda: run_checks(engine, settings.metrics),
        "`faxbounce report` (24 h)": lambda: collect(engine, now - timedelta(hours=24)),
        "tracking sweep": tracking_sweep,
        "retention: what is due": lambda: due_raw(engine, Cutoffs(now - timedelta(days=90),
                                                                  now - timedelta(days=7))),
    }


def _read(engine: sa.Engine, statement: sa.TextClause, since: datetime) -> list[sa.Row]:
    with engine.connect() as connection:
        return connection.execute(statement, {"since": since}).all()


def record_new(engine: sa.Engine, url: str, count: int = 300) -> float:
    """Milliseconds per mail for a worker to record `count` new InterFAX results on top of what is stored: each a
    new fax with its own transaction id (the fixtures' copies would repeat the seed's), delivered or failed, to
    the seed's numbers and others."""
    outcomes = [("0", ""), ("3912", "FAX番号が使用不可です"), ("6017", "話中"), *[("0", "")] * 7]
    now = datetime.now(UTC)
    RawStore(engine).put_many([(result(f"03-{5555 + i % 2}-{i % 100:04d}", *outcomes[i % len(outcomes)],
                                       subject=f"新件{i}", when=now - timedelta(minutes=30) + timedelta(seconds=i)),
                                Envelope("", ("fax@faxbounce.test",), peer="127.0.0.1:1")) for i in range(count)])
    worker_engine = create_db_engine(url, durable=False)
    started = time.perf_counter()
    done = drain(worker_engine, Settings())
    elapsed = time.perf_counter() - started
    worker_engine.dispose()
    return elapsed / max(done, 1) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?",
                        help="a PostgreSQL server's URL, used in a throw-away schema (default: a temporary SQLite)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="fax_results rows to grow to (default 1,000,000)")
    parser.add_argument("--days", type=int, default=1095, help="days the rows span (default 1,095)")
    parser.add_argument("--seed", type=int, default=2000, help="mails recorded by a worker first (default 2,000)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with scratch_database(args.url, "scale") as url:
        engine = create_db_engine(url)
        migrate(engine)
        seed(engine, url, args.seed)
        with engine.connect() as connection:
            small = connection.scalar(sa.select(sa.func.count()).select_from(FaxResultRow.__table__))
        timings = {name: [best(run)] for name, run in queries(engine, url).items()}
        record_small = record_new(engine, url)
        started = time.perf_counter()
        grow(engine, args.rows, args.days)
        grown = time.perf_counter() - started
        with engine.connect() as connection:
            large = connection.scalar(sa.select(sa.func.count()).select_from(FaxResultRow.__table__))
            mails = connection.scalar(sa.select(sa.func.count()).select_from(InboundMessage.__table__))
            faxes = connection.scalar(sa.select(sa.func.count()).select_from(FaxSubmissionRow.__table__))
        for name, run in queries(engine, url).items():
            timings[name].append(best(run))
        record_large = record_new(engine, url)
        dialect = engine.dialect.name
        engine.dispose()
    print(f"{dialect}: grown from {small:,} to {large:,} results ({mails:,} mails, {faxes:,} submissions) "
          f"in {grown:.0f} s\n")
    print(f"| {dialect} | {small:,} results, ms | {large:,} results, ms |")
    print("|---|---:|---:|")
    for name, (before, after) in timings.items():
        print(f"| {name} | {before:,.1f} | {after:,.1f} |")
    print(f"| a worker recording a new InterFAX result, per mail | {record_small:,.2f} | {record_large:,.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
