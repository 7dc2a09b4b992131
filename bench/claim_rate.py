"""How long a worker's claim of one mail takes, by how many mails wait: the work queue's cost per claim.

    .venv/bin/python bench/claim_rate.py [--waiting 100,3000,10000] [--claims 200] [DATABASE_URL]

For each backlog size, stores that many of the end-to-end bench's 2 KB InterFAX results in a new database (a
temporary SQLite file, or a throw-away schema of the PostgreSQL server at DATABASE_URL), then times `claims`
claims of one mail each, as a worker makes them while the SMTP side waits for SQLite's lock (the give-way). A
claim's cost should not depend on the backlog: revision 0010 gave it an index for its first look (a mail whose
attempt did not finish), which read the whole backlog before.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.perf import interfax_bodies, postgres_schema
from processor.store.db import create_db_engine, migrate
from processor.store.inbound import Envelope, RawStore, WorkQueue


def claim_time(url: str, waiting: int, claims: int) -> float:
    """Mean seconds of one claim of one mail with `waiting` mails stored in the database at `url`."""
    engine = create_db_engine(url)
    migrate(engine)
    RawStore(engine).put_many([(body, Envelope("", ("fax@faxbounce.test",))) for body in interfax_bodies(waiting)])
    if engine.dialect.name == "postgresql":  # the planner's statistics, as autovacuum would have them
        with engine.begin() as connection:
            connection.execute(sa.text("ANALYZE inbound_messages"))
    queue = WorkQueue(create_db_engine(url, durable=False), "bench/1")
    started = time.perf_counter()
    for _ in range(claims):
        queue.claim(1)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed / claims


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", help="a PostgreSQL server's SQLAlchemy URL (default: SQLite files)")
    parser.add_argument("--waiting", default="100,3000,10000", help="backlog sizes, comma-separated")
    parser.add_argument("--claims", type=int, default=200, help="claims timed per backlog (default 200)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    for waiting in (int(n) for n in args.waiting.split(",")):
        if args.url is None:
            url = f"sqlite:///{tempfile.mkdtemp()}/claim-rate.sqlite3"
            seconds = claim_time(url, waiting, args.claims)
        else:
            with postgres_schema(args.url, "claim_rate") as url:
                seconds = claim_time(url, waiting, args.claims)
        dialect = "postgresql" if args.url else "sqlite"
        print(f"{dialect}: {waiting:,} mails waiting: one claim of one mail {seconds * 1e6:,.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
