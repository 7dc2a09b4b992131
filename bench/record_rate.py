"""How long the worker's recording transaction takes for one mail: the part of a worker's time that holds
SQLite's write lock while the SMTP side waits to commit new mail (the give-way records one mail per
transaction while mail waits).

    .venv/bin/python bench/record_rate.py [--count N] [POSTGRESQL_URL]   # default: a temporary SQLite file;
    # a PostgreSQL server is used in a throw-away schema, dropped afterwards

Stores N of the end-to-end bench's 2 KB InterFAX results, claims and judges them all beforehand (parse,
classify, trust), then records them one per transaction, as `Pipeline._record` does, and prints the mean
and the best and median of chunks of 100 (the machine's speed drifts within a run).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.perf import interfax_bodies, scratch_database
from processor.config import Settings
from processor.run.pipeline import Pipeline
from processor.store.db import create_db_engine, migrate
from processor.store.inbound import Envelope, RawStore, WorkQueue

CHUNK = 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?",
                        help="a PostgreSQL server's URL, used in a throw-away schema (default: a temporary SQLite)")
    parser.add_argument("--count", type=int, default=2000, help="mails (default 2000)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with scratch_database(args.url, "record-rate") as url:
        engine = create_db_engine(url)
        migrate(engine)
        RawStore(engine).put_many([(body.replace(b"\r\n..", b"\r\n."), Envelope("", ("fax@faxbounce.test",),
                                                                                   peer="127.0.0.1:1"))
                                   for body in interfax_bodies(args.count)])
        worker_engine = create_db_engine(url, durable=False)
        queue = WorkQueue(worker_engine, "bench/1", lease_seconds=3600)
        pipeline = Pipeline(worker_engine, Settings(), queue, "bench")
        recordings = [pipeline._judge(mail) for mail in queue.claim(args.count)]
        chunks: list[float] = []
        started = time.perf_counter()
        for start in range(0, len(recordings), CHUNK):
            chunk_started = time.perf_counter()
            for recording in recordings[start:start + CHUNK]:
                pipeline._record([recording], 0)
            chunks.append((time.perf_counter() - chunk_started) / len(recordings[start:start + CHUNK]))
        mean = (time.perf_counter() - started) / len(recordings)
        worker_engine.dispose()
        engine.dispose()
    print(f"{engine.dialect.name}: {len(recordings)} one-mail recording transactions: {mean * 1e6:,.0f} µs each; "
          f"chunks of {CHUNK}: best {min(chunks) * 1e6:,.0f}, median {statistics.median(chunks) * 1e6:,.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
