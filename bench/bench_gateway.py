"""Gateway throughput and latency, each as a ratio to the same gunicorn's
no-op endpoint (/healthz) measured in the same run.

    python -m bench.bench_gateway [--clients 32] [--seconds 10] [--roster 50000]

Starts its own suite (tests/suite.py), fills one unit's roster, then drives
GET /api/unit, GET /api/residents (a page of 20) and POST
/api/declarations/enrolment with closed-loop clients."""
import argparse
import itertools
import sys
import time

from bench import load
from tests.factories import enrolment
from tests.suite import ADMIN_PASSWORD, start_suite

TARGETS = {"GET /api/unit": 0.25, "GET /api/residents": 0.25, "POST /api/declarations/enrolment": 0.10}


def fill_roster(suite, token, count, start):
    """Enrol `count` persons through the gateway with 16 clients."""
    counter = itertools.count(start)
    headers = {"Authorization": f"Bearer {token}"}
    done = load.run(suite.url, "fill", lambda i: ("POST", "/api/declarations/enrolment", headers,
                                                  enrolment(next(counter))),
                    clients=16, seconds=10 ** 6, warmup=0, until=count)
    return done


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--roster", type=int, default=2000)
    args = parser.parse_args(argv)
    with start_suite() as suite:
        admin = suite.login("admin", ADMIN_PASSWORD)
        unit = suite.new_unit(admin)
        headers = {"Authorization": f"Bearer {unit['token']}"}
        t0 = time.perf_counter()
        fill_roster(suite, unit["token"], args.roster, 0)
        print(f"roster of {args.roster} filled in {time.perf_counter() - t0:.1f} s")
        run = lambda name, fn: load.run(suite.url, name, fn, clients=args.clients, seconds=args.seconds)  # noqa: E731
        noop = run("GET /healthz (no-op)", lambda i: ("GET", "/healthz", {}, None))
        print(noop.line())
        fresh = itertools.count(10_000_000)
        results = [
            run("GET /api/unit", lambda i: ("GET", "/api/unit", headers, None)),
            run("GET /api/residents", lambda i: ("GET", "/api/residents?page=2&size=20", headers, None)),
            run("POST /api/declarations/enrolment",
                lambda i: ("POST", "/api/declarations/enrolment", headers, enrolment(next(fresh)))),
        ]
        failed = False
        for r in results:
            ratio = r.rps / noop.rps
            ok = ratio >= TARGETS[r.name] and r.errors == 0
            failed |= not ok
            print(r.line(noop), f"(target {TARGETS[r.name]:.0%})", "OK" if ok else "BELOW TARGET")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
