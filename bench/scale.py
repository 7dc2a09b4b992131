"""What years of stored results cost the queries that run again and again: the metrics scrape, `/healthz`,
the report and the digest, the tracking sweep, retention's daily look, and a worker recording new mail.

    .venv/bin/python bench/scale.py [--rows N] [--days D] [POSTGRESQL_URL]   # default: a temporary SQLite file

Rows are never deleted (retention drops raw bytes, not rows), so `inbound_messages` and `fax_results` grow by
every mail for as long as the daemon runs. The bench records a seed of real mails through a worker (the bench
mix and the end-to-end bench's InterFAX results: results, submissions, matches, number verdicts, outbox rows),
then copies the seed's mails and results until `fax_results` holds N rows (default 1,000,000), spread back over D
days (default 1,095: three years), each copy with its own ids, dates and fax numbers, and times each query, best
of three, at the seed's size and at N. A PostgreSQL server is used in a throw-away schema, dropped afterwards.
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
from processor.store.models import FaxResultRow, InboundMessage
from processor.store.retention import Cutoffs, due_raw
from processor.store.tracking import sweep

CHUNK = 20_000


def seed(engine: sa.Engine, url: str, mails: int) -> None:
    """Store `mails` mails and let a worker record them: every table gets rows as the daemon writes them."""
    half = mails // 2
    stored = [(body.replace(b"\r\n..", b"\r\n."), Envelope("", ("fax@faxbounce.test",), peer="127.0.0.1:1"))
              for body in [*bodies(half, 2048), *interfax_bodies(mails - half)]]
    RawStore(engine).put_many(stored)
    worker_engine = create_db_engine(url, durable=False)
    drain(worker_engine, Settings())
    worker_engine.dispose()


def grow(engine: sa.Engine, rows: int, days: int) -> None:
    """Copy the seed's mails and results until `fax_results` holds `rows` rows, each copy `days / copies` days
    older than the last, with ids past the seed's, its own sha256, fax numbers, event keys, transaction ids and
    Message-IDs (each names one fax or mail: copies that shared them would be thousands of copies of one)."""
    messages, results = InboundMessage.__table__, FaxResultRow.__table__
    with engine.connect() as connection:
        seed_messages = [dict(r._mapping) for r in connection.execute(sa.select(messages))]
        seed_results = [dict(r._mapping) for r in connection.execute(sa.select(results))]
    copies = max(1, -(-(rows - len(seed_results)) // len(seed_results)))
    message_step = max(m["id"] for m in seed_messages)
    result_step = max(r["id"] for r in seed_results)
    step = timedelta(days=days) / copies
    dated = [c.name for c in messages.columns if isinstance(c.type, sa.types.TypeDecorator)]
    result_dated = [c.name for c in results.columns if isinstance(c.type, sa.types.TypeDecorator)]
    pending_messages: list[dict[str, Any]] = []
    pending_results: list[dict[str, Any]] = []
    added = len(seed_results)

    def flush() -> None:
        with engine.begin() as connection:
            if pending_messages:
                connection.execute(messages.insert(), pending_messages)
            if pending_results:
                connection.execute(results.insert(), pending_results)
        pending_messages.clear()
        pending_results.clear()

    for copy in range(1, copies + 1):
        older = step * copy
        for row in seed_messages:
            new = dict(row, id=row["id"] + copy * message_step, sha256=f"{copy:08d}{row['sha256'][8:]}",
                       message_id=f"{row['message_id']}/{copy}" if row["message_id"] else None, lease_until=None)
            for name in dated:
                if new[name] is not None:
                    new[name] -= older
            pending_messages.append(new)
        for row in seed_results:
            if added >= rows:
                break
            new = dict(row, id=row["id"] + copy * result_step,
                       inbound_message_id=row["inbound_message_id"] + copy * message_step,
                       **{name: f"{row[name]}/{copy}" if row[name] else None  # one fax, one event: unique
                          for name in ("event_key", "transaction_id", "original_message_id")})
            if new["fax_number"]:
                new["fax_number"] = f"{new['fax_number'][:-3]}{copy % 1000:03d}"
            for name in result_dated:
                if new[name] is not None:
                    new[name] -= older
            pending_results.append(new)
            added += 1
        if len(pending_messages) + len(pending_results) >= CHUNK:
            flush()
        if added >= rows:
            break
    flush()
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":  # rows inserted with their ids leave the sequences behind
            for table in ("inbound_messages", "fax_results"):
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
    """Milliseconds per mail for a worker to record `count` new InterFAX results on top of what is stored."""
    RawStore(engine).put_many([(body.replace(b"\r\n..", b"\r\n."), Envelope("", ("fax@faxbounce.test",),
                                                                            peer="127.0.0.1:1"))
                               for body in interfax_bodies(count, start=10_000_000)])
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
        for name, run in queries(engine, url).items():
            timings[name].append(best(run))
        record_large = record_new(engine, url)
        dialect = engine.dialect.name
        engine.dispose()
    print(f"{dialect}: grown from {small:,} to {large:,} results ({mails:,} mails) in {grown:.0f} s\n")
    print(f"| {dialect} | {small:,} results, ms | {large:,} results, ms |")
    print("|---|---:|---:|")
    for name, (before, after) in timings.items():
        print(f"| {name} | {before:,.1f} | {after:,.1f} |")
    print(f"| a worker recording a new InterFAX result, per mail | {record_small:,.2f} | {record_large:,.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
