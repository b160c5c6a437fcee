"""Gateway throughput and latency, each as a ratio to the same gunicorn's
no-op endpoint (/healthz) measured in the same run.

    python -m bench.bench_gateway [--clients 32] [--seconds 10] [--roster 50000]
                                  [--workers N] [--threads N] [--profile DIR]

Starts its own suite (tests/suite.py: the Procfile's processes, SQLite
databases, a private RabbitMQ vhost), registers a unit and fills its roster
with --roster persons through the real path: enrolments declared in this
process into the declarations database (500 per transaction), published by
the outbox relay and applied by the residents service; it waits until the
roster has them all. Then closed-loop clients (bench/load.py) drive, for
--seconds each: GET /healthz (the no-op baseline), GET /api/unit, GET
/api/residents?page=2&size=20, and POST /api/declarations/enrolment of new
persons. Target: each read at least 25% of the no-op rate, enrolment at
least 10%, no error answers.

With --profile DIR, py-spy records the gateway worker(s) and the services
during each measured window (bench/pyspy.py) and the top functions of each
process are printed after the figures.
"""
import argparse
import itertools
import os
import sys
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import requests
from sqlalchemy.orm import Session

from bench import load, pyspy
from common.db import make_engine
from services.declarations import declaring
from services.declarations.store import DeclarationsStore
from tests.factories import enrolment
from tests.suite import ADMIN_PASSWORD, start_suite

TARGETS = {"GET /api/unit": 0.25, "GET /api/residents": 0.25, "POST /api/declarations/enrolment": 0.10}
TZ = ZoneInfo("Asia/Shanghai")


def fill_roster(suite, unit, count, first=20_000_000, per_commit=500):
    """Declare `count` enrolments for `unit` straight into the declarations
    database (the use case the service runs), then wait until the residents
    service shows them all (relay -> broker -> roster)."""
    engine = make_engine(suite.env["DECLARATIONS_DATABASE_URL"])
    ref = {k: unit["unit"][k] for k in ("id", "name", "credit_code")}
    with Session(engine) as session:
        store = DeclarationsStore(session)
        for n in range(0, count, per_commit):
            items = [("enrol", enrolment(first + i)) for i in range(n, min(n + per_commit, count))]
            outcomes = declaring.declare_many(store, ref, {"account": "bench"}, items,
                                              datetime.now(timezone.utc), TZ)
            assert all(o["ok"] for o in outcomes), [o for o in outcomes if not o["ok"]][:1]
    engine.dispose()
    headers = {"Authorization": f"Bearer {unit['token']}"}
    deadline = time.time() + max(120, count / 200)
    while time.time() < deadline:
        total = requests.get(f"{suite.url}/api/residents?size=1", headers=headers, timeout=30).json()["total"]
        if total >= count:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the roster shows {total} of {count} persons")


def gateway_workers(suite):
    pid = suite.procs["gateway"].pid
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()] or [pid]


def measure(argv=None):
    """Run the benchmark; returns (noop, [results]) and prints as it goes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--roster", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=None, help="GATEWAY_WORKERS (default: the suite's)")
    parser.add_argument("--threads", type=int, default=None, help="GATEWAY_THREADS (default: the suite's)")
    parser.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the suite")
    parser.add_argument("--profile", help="record py-spy profiles into this directory")
    args = parser.parse_args(argv)
    env = dict(e.split("=", 1) for e in args.env)
    if args.workers:
        env["GATEWAY_WORKERS"] = str(args.workers)
    if args.threads:
        env["GATEWAY_THREADS"] = str(args.threads)
    with start_suite(env) as suite:
        print(f"gateway: {suite.env['GATEWAY_WORKERS']} worker(s) x {suite.env['GATEWAY_THREADS']} threads; "
              f"{args.clients} clients, {args.seconds:.0f} s each", flush=True)
        admin = suite.login("admin", ADMIN_PASSWORD)
        unit = suite.new_unit(admin)
        headers = {"Authorization": f"Bearer {unit['token']}"}
        t0 = time.perf_counter()
        fill_roster(suite, unit, args.roster)
        print(f"roster of {args.roster} filled (declared, relayed, projected) in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)

        pids = {f"gateway-{i}": pid for i, pid in enumerate(gateway_workers(suite))}
        pids.update({name: suite.procs[name].pid for name in ("auth", "declarations", "residents")})

        def run(name, fn):
            if not args.profile or not pyspy.available():
                return load.run(suite.url, name, fn, clients=args.clients, seconds=args.seconds)
            slug = name.split()[1].strip("/").replace("/", "_")
            # the recording starts with the clients' warm-up second and covers the window
            with pyspy.Recorder(pids, os.path.join(args.profile, slug), args.seconds):
                return load.run(suite.url, name, fn, clients=args.clients, seconds=args.seconds, warmup=1.0)

        noop = run("GET /healthz (no-op)", lambda i: ("GET", "/healthz", {}, None))
        print(noop.line(), flush=True)
        fresh = itertools.count(10_000_000)
        results = []
        for name, fn in (
            ("GET /api/unit", lambda i: ("GET", "/api/unit", headers, None)),
            ("GET /api/residents", lambda i: ("GET", "/api/residents?page=2&size=20", headers, None)),
            ("POST /api/declarations/enrolment",
             lambda i: ("POST", "/api/declarations/enrolment", headers, enrolment(next(fresh)))),
        ):
            r = run(name, fn)
            results.append(r)
            ok = r.rps / noop.rps >= TARGETS[r.name] and r.errors == 0
            print(r.line(noop), f"(target {TARGETS[r.name]:.0%})", "OK" if ok else "BELOW TARGET", flush=True)
    if args.profile and pyspy.available():
        for slug in sorted(os.listdir(args.profile)):
            print(f"\npy-spy, {slug} (inclusive share of the samples):")
            print(pyspy.summary(os.path.join(args.profile, slug)))
    return noop, results


def main(argv=None):
    noop, results = measure(argv)
    failed = any(r.rps / noop.rps < TARGETS[r.name] or r.errors for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
