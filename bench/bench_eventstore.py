"""Event store: single appends and batch appends per second.

    python -m bench.bench_eventstore [--seconds 10] [--batch 500] [--database-url URL]

In this process, on a fresh database (a temporary SQLite file unless
--database-url names an empty one), through the declarations use case the
service runs (services/declarations/declaring.py: validate, decide from the
person's stream, append to the log with its write lock, update the
projections, commit):

- single: one enrolment per transaction, back to back, for --seconds;
- batch: --batch enrolments per transaction (what a batch import does),
  for --seconds.

Prints events appended per second for each, and the batch/single ratio.
No broker and no RPC: the figure is the store's, not the platform's
(bench_gateway measures enrolments through the gateway).
"""
import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from common.db import make_engine
from services.declarations import declaring
from services.declarations.models import Base
from services.declarations.store import DeclarationsStore
from tests.factories import enrolment

TZ = ZoneInfo("Asia/Shanghai")
UNIT = {"id": 1, "name": "泉州市丰泽区东海街道东海社区居民委员会", "credit_code": "91350503MA2Y00001X"}


def run(url, per_commit, seconds, first):
    """Appended events per second, declaring `per_commit` per transaction."""
    engine = make_engine(url)
    appended, n = 0, first
    started = time.perf_counter()
    with Session(engine) as session:
        store = DeclarationsStore(session)
        while time.perf_counter() - started < seconds:
            items = [("enrol", enrolment(n + i)) for i in range(per_commit)]
            n += per_commit
            outcomes = declaring.declare_many(store, UNIT, {"account": "bench"}, items,
                                              datetime.now(UTC), TZ)
            appended += sum(1 for o in outcomes if o["ok"])
    elapsed = time.perf_counter() - started
    engine.dispose()
    return appended, elapsed


def measure(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database-url", help="an empty database (default: a temporary SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edt-bench-store-") as tmp:
        url = args.database_url or f"sqlite:///{os.path.join(tmp, 'declarations.db')}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        count, seconds = run(url, 1, args.seconds, 30_000_000)
        single = count / seconds
        print(f"single appends (1 enrolment per transaction): {count:,} in {seconds:.1f} s = {single:,.0f}/s",
              flush=True)
        count, seconds = run(url, args.batch, args.seconds, 40_000_000)
        batch = count / seconds
        print(f"batch appends ({args.batch} per transaction): {count:,} in {seconds:.1f} s = {batch:,.0f}/s "
              f"({batch / single:.1f}x single)", flush=True)
    return {"single": single, "batch": batch}


def main(argv=None):
    measure(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
