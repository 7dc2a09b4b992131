"""How fast one worker drains a backlog, alone (no SMTP load): the processing half of end to end.

    .venv/bin/python bench/worker_rate.py [--interfax] [POSTGRESQL_URL]   # default: a temporary SQLite file;
    # a PostgreSQL server is used in a throw-away schema, dropped afterwards
    .venv/bin/python -m cProfile -s cumulative bench/worker_rate.py | head -60   # where the time goes

Stores 3,000 mails of bench/perf.py's mix (with `--interfax`: the 2 KB InterFAX results that the end-to-end
bench sends), then times `worker.drain` over them.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.perf import bodies, interfax_bodies, scratch_database
from processor.config import Settings
from processor.run.worker import drain
from processor.store.db import create_db_engine, migrate
from processor.store.inbound import Envelope, RawStore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?",
                        help="a PostgreSQL server's URL, used in a throw-away schema (default: a temporary SQLite)")
    parser.add_argument("--interfax", action="store_true", help="the end-to-end bench's InterFAX results")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with scratch_database(args.url, "worker-rate") as url:
        engine = create_db_engine(url)
        migrate(engine)
        mails = [(body.replace(b"\r\n..", b"\r\n."), Envelope("", ("fax@faxbounce.test",), peer="127.0.0.1:1"))
                 for body in (interfax_bodies(3000) if args.interfax else bodies(3000, 2048))]
        RawStore(engine).put_many(mails)
        worker_engine = create_db_engine(url, durable=False)
        started = time.perf_counter()
        done = drain(worker_engine, Settings())
        elapsed = time.perf_counter() - started
        worker_engine.dispose()
        engine.dispose()
    print(f"{engine.dialect.name}: {done} mails in {elapsed:.1f} s = {done / elapsed:.0f} mails/s on one worker")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
