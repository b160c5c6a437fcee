"""The delay from a declaration's commit until the roster shows it, at a
steady rate of declarations.

    python -m bench.bench_event_flow [--rate 200] [--seconds 20] [--backend sqlite|postgresql]

Starts its own suite (tests/suite.py: the Procfile's processes, a private
RabbitMQ vhost) on SQLite files or on fresh PostgreSQL databases. A driver
thread declares enrolments through the declarations use case straight into
the declarations database at `--rate` per second (several per transaction
when one commit at a time cannot keep the pace: `--per-commit`), and notes
each one's commit time. A poller thread reads the residents database every
5 milliseconds and notes when each event's roster row becomes visible.
The delay of an event is visible - committed: relay poll, publish with
confirm, broker, residents' transaction. Prints p50, p90, p99 and max.

The declarations are written by this process, not through the gateway, so
that the figure is the event flow alone and the rate does not depend on the
gateway's or the declarations service's throughput (bench_gateway measures
those).
"""
import argparse
import contextlib
import statistics
import threading
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from common.db import make_engine
from services.declarations import declaring
from services.declarations.store import DeclarationsStore
from tests.databases import postgres_database
from tests.factories import enrolment
from tests.suite import ADMIN_PASSWORD, start_suite

TZ = ZoneInfo("Asia/Shanghai")


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Driver(threading.Thread):
    """Declares `total` enrolments at `rate` per second, `per_commit` in
    each transaction; `committed[record_id]` = time.time() after commit."""

    def __init__(self, url, unit, rate, total, per_commit, first):
        super().__init__(daemon=True)
        self.engine = make_engine(url)
        self.unit, self.rate, self.total, self.per_commit = unit, rate, total, per_commit
        self.first = first
        self.committed = {}
        self.behind = 0.0

    def run(self):
        actor = {"account": "bench"}
        start = time.perf_counter()
        with Session(self.engine) as session:
            store = DeclarationsStore(session)
            for n in range(0, self.total, self.per_commit):
                due = start + n / self.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:
                    self.behind = max(self.behind, -delay)
                items = [("enrol", enrolment(self.first + i))
                         for i in range(n, min(n + self.per_commit, self.total))]
                outcomes = declaring.declare_many(store, self.unit, actor, items,
                                                  datetime.now(UTC), TZ)
                at = time.time()
                for outcome in outcomes:
                    assert outcome["ok"], outcome
                    self.committed[outcome["record"]["record_id"]] = at
        self.elapsed = time.perf_counter() - start
        self.engine.dispose()


class Poller(threading.Thread):
    """Notes when each event's row shows in the residents database."""

    def __init__(self, url, interval=0.005):
        super().__init__(daemon=True)
        self.engine = make_engine(url)
        self.interval = interval
        self.seen = {}
        self.stop = threading.Event()

    def run(self):
        last = 0
        query = text("SELECT position, event_id FROM resident_history WHERE position > :last ORDER BY position")
        with self.engine.connect() as conn:
            while not self.stop.is_set():
                rows = conn.execute(query, {"last": last}).all()
                conn.rollback()
                at = time.time()
                for position, event_id in rows:
                    self.seen.setdefault(event_id, at)
                    last = max(last, position)
                time.sleep(self.interval)
        self.engine.dispose()


class Probe(threading.Thread):
    """Notes when each event arrives on a queue of its own: the relay's share
    of the delay (commit -> published and routed)."""

    def __init__(self, amqp_uri):
        super().__init__(daemon=True)
        self.uri = amqp_uri
        self.seen = {}
        self.stop = threading.Event()
        self.ready = threading.Event()

    def run(self):
        from kombu import Connection

        from services.declarations.relay import subscriber_queue

        with Connection(self.uri) as conn:
            queue = subscriber_queue("bench.event-flow-probe")(conn.channel())
            queue.declare()
            self.ready.set()

            def on_message(body, message):
                self.seen.setdefault(body["event_id"], time.time())
                message.ack()

            with conn.Consumer([queue], callbacks=[on_message], accept=["json"]):
                while not self.stop.is_set():
                    try:
                        conn.drain_events(timeout=0.2)
                    except TimeoutError:
                        pass
            queue.delete()


@contextlib.contextmanager
def databases(backend):
    if backend == "sqlite":
        yield {}
        return
    with postgres_database() as declarations, postgres_database() as residents:
        yield {"DECLARATIONS_DATABASE_URL": declarations, "RESIDENTS_DATABASE_URL": residents}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200, help="declarations per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--per-commit", type=int, default=0,
                        help="declarations per transaction (default: as few as keep the rate)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--relay-interval", type=float, default=None,
                        help="the relay's RELAY_INTERVAL (default: the platform's, 0.05 s)")
    args = parser.parse_args(argv)
    total = int(args.rate * args.seconds)

    with databases(args.backend) as env, start_suite(
            {**env, **({"RELAY_INTERVAL": str(args.relay_interval)} if args.relay_interval else {})}) as suite:
        admin = suite.login("admin", ADMIN_PASSWORD)
        unit = suite.new_unit(admin)["unit"]
        unit = {"id": unit["id"], "name": unit["name"], "credit_code": unit["credit_code"]}
        declarations_url = suite.env["DECLARATIONS_DATABASE_URL"]
        residents_url = suite.env["RESIDENTS_DATABASE_URL"]

        per_commit = args.per_commit or calibrate(declarations_url, unit, args.rate)
        probe = Probe(suite.env["AMQP_URI"])
        probe.start()
        probe.ready.wait(10)
        poller = Poller(residents_url)
        poller.start()
        driver = Driver(declarations_url, unit, args.rate, total, per_commit, first=8_000_000)
        driver.start()
        driver.join()
        deadline = time.time() + 60
        while time.time() < deadline and not all(r in poller.seen for r in driver.committed):
            time.sleep(0.05)
        poller.stop.set()
        probe.stop.set()
        poller.join()
        probe.join()

    delays = [(poller.seen[r] - at) * 1000 for r, at in driver.committed.items() if r in poller.seen]
    published = [(probe.seen[r] - at) * 1000 for r, at in driver.committed.items() if r in probe.seen]
    print(f"backend {args.backend}: {total} enrolments at {args.rate:.0f}/s target, "
          f"{per_commit} per commit; achieved {total / driver.elapsed:.0f}/s "
          f"(at most {driver.behind * 1000:.0f} ms behind schedule)")
    print(f"roster shows {len(delays)}/{total} events")
    print(f"commit -> roster delay: p50 {percentile(delays, 50):.1f} ms  p90 {percentile(delays, 90):.1f} ms  "
          f"p99 {percentile(delays, 99):.1f} ms  max {max(delays):.1f} ms  mean {statistics.mean(delays):.1f} ms")
    print(f"commit -> on the broker (a probe queue): p50 {percentile(published, 50):.1f} ms  "
          f"p99 {percentile(published, 99):.1f} ms  ({len(published)} events)")


def calibrate(url, unit, rate):
    """The fewest declarations per commit that keep `rate` with room to spare:
    declare a few and time them."""
    engine = make_engine(url)
    with Session(engine) as session:
        store = DeclarationsStore(session)
        started = time.perf_counter()
        for i in range(20):
            declaring.declare_many(store, unit, {"account": "bench"}, [("enrol", enrolment(9_000_000 + i))],
                                   datetime.now(UTC), TZ)
        per_declaration = (time.perf_counter() - started) / 20
    engine.dispose()
    # Leave most of each second free for the services on the same machine.
    per_commit = 1
    while per_commit < 50 and rate / per_commit * per_declaration > 0.35:
        per_commit += 1
    return per_commit


if __name__ == "__main__":
    main()
