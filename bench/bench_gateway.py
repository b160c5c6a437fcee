"""Gateway throughput and latency, each as a ratio to the same gunicorn's
no-op endpoint (/healthz) measured in the same run.

    python -m bench.bench_gateway [--clients 32] [--seconds 10] [--roster 50000]
                                  [--workers N] [--threads N] [--profile DIR]

Starts its own suite (tests/suite.py: the Procfile's processes, SQLite
databases, a private RabbitMQ vhost), registers a unit and fills its roster
with --roster persons through the residents projection (see fill_roster),
waits until the services are idle, then closed-loop clients (bench/load.py) drive, for
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
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench import bench_export, load, procs, pyspy
from common.db import make_engine
from services.residents.models import Resident
from services.residents.store import RosterStore
from tests.factories import enrolment
from tests.suite import ADMIN_PASSWORD, start_suite

TARGETS = {"GET /api/unit": 0.25, "GET /api/residents": 0.25, "POST /api/declarations/enrolment": 0.10}


FAKE_FROM = 1_000_000_001  # log positions of the filled rows, far above the bench's real ones


def fill_roster(suite, unit, count, batch=2000):
    """Give `unit` a roster of `count` persons, written into the running
    residents service's database by its own projection code (feed.apply_in_order)
    from synthetic enrolment events, as bench_export does. Their positions
    start at FAKE_FROM, and the checkpoint is put back to 0 afterwards, so
    the real events of the enrolment benchmark (positions 1, 2, ...) are
    applied by the service as usual. (Declaring them through the log instead
    takes minutes: the relay publishes 50,000 events one confirm at a time.)"""
    url = suite.env["RESIDENTS_DATABASE_URL"]
    engine = make_engine(url)
    ref = {k: unit["unit"][k] for k in ("id", "name", "credit_code")}
    with Session(engine, expire_on_commit=False) as session:
        store = RosterStore(session)
        store.begin_apply()
        store.set_checkpoint(FAKE_FROM - 1, datetime.now(UTC))
        store.commit()
        bench_export.apply_events(session, store, bench_export.events([(ref, count)], start=FAKE_FROM), batch)
        store.begin_apply()
        store.set_checkpoint(0, datetime.now(UTC))
        store.commit()
        total = session.scalar(select(func.count()).select_from(Resident).where(Resident.unit_id == ref["id"]))
    engine.dispose()
    if total != count:
        raise RuntimeError(f"the roster has {total} of {count} persons")


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
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="the services' databases (postgresql: a fresh, migrated database each)")
    args = parser.parse_args(argv)
    env = dict(e.split("=", 1) for e in args.env)
    if args.workers:
        env["GATEWAY_WORKERS"] = str(args.workers)
    if args.threads:
        env["GATEWAY_THREADS"] = str(args.threads)
    # Catch-up is the residents service's safety net; here it would only read
    # the filled checkpoint while the roster is being written.
    env.setdefault("RESIDENTS_CATCHUP_INTERVAL", "3600")
    with start_suite(env, database=args.database) as suite:
        print(f"databases: {args.database}", flush=True)
        print(f"gateway: {suite.env['GATEWAY_WORKERS']} worker(s) x {suite.env['GATEWAY_THREADS']} threads; "
              f"{args.clients} clients, {args.seconds:.0f} s each", flush=True)
        admin = suite.login("admin", ADMIN_PASSWORD)
        unit = suite.new_unit(admin)
        headers = {"Authorization": f"Bearer {unit['token']}"}
        t0 = time.perf_counter()
        fill_roster(suite, unit, args.roster)
        print(f"roster of {args.roster} filled (through the residents projection) in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)

        pids = {f"gateway-{i}": pid for i, pid in enumerate(gateway_workers(suite))}
        pids.update({name: suite.procs[name].pid for name in ("auth", "declarations", "residents")})
        t0 = time.perf_counter()
        idle = procs.wait_idle(list(pids.values()))
        print(f"services {'idle' if idle else 'STILL BUSY'} after {time.perf_counter() - t0:.0f} s more", flush=True)

        def run(name, fn):
            cpu = {n: procs.cpu_seconds(p) for n, p in pids.items()}
            if not args.profile or not pyspy.available():
                result = load.run(suite.url, name, fn, clients=args.clients, seconds=args.seconds)
            else:
                slug = name.split()[1].strip("/").replace("/", "_")
                # the recording starts with the clients' warm-up second and covers the window
                with pyspy.Recorder(pids, os.path.join(args.profile, slug), args.seconds):
                    result = load.run(suite.url, name, fn, clients=args.clients, seconds=args.seconds)
            # CPU of each process per request, warm-up included (an upper bound)
            result.cpu = {n: (procs.cpu_seconds(p) - cpu[n]) / max(result.count, 1) * 1000 for n, p in pids.items()}
            return result

        def cpu_line(r):
            return ("    CPU per request (ms, upper bound): "
                    + ", ".join(f"{n} {ms:.2f}" for n, ms in r.cpu.items()) + f"; total {sum(r.cpu.values()):.2f}")

        noop = run("GET /healthz (no-op)", lambda i: ("GET", "/healthz", {}, None))
        print(noop.line(), flush=True)
        print(cpu_line(noop), flush=True)
        fresh = itertools.count(60_000_000)  # not among the filled persons
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
            print(cpu_line(r), flush=True)
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
