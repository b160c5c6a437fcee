"""Single declarations per second through the gateway.

    python -m bench.bench_declarations [--clients 8] [--seconds 15]

Starts its own suite (tests/suite.py: the Procfile's processes, SQLite
databases), then 8 closed-loop clients (bench/load.py), each with its own
unit account, send POST /api/declarations/enrolment of new persons back to
back; then the same for /suspension of the persons just enrolled, and for
/enrolment with an Idempotency-Key that was already answered (a retry).
Afterwards `verify` checks that the projections still equal a replay of
the log. Client, gateway and services share the machine: figures are for
comparison between runs on one machine, with /healthz as the baseline."""
import argparse
import itertools
import os
import sys
import threading
from zoneinfo import ZoneInfo

from bench import load, procs
from common.db import make_engine
from services.declarations import rebuild
from tests.factories import enrolment
from tests.suite import ADMIN_PASSWORD, start_suite


def cpu_seconds(suite):
    """CPU seconds used so far by each process of the suite (and its
    children, e.g. gunicorn's worker); Linux only, else zeros."""
    return {name: sum(procs.cpu_seconds(pid) for pid in procs.tree(proc.pid))
            for name, proc in suite.procs.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.bench_declarations")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args(argv)
    with start_suite() as suite:
        admin = suite.login("admin", ADMIN_PASSWORD)
        units = [suite.new_unit(admin) for _ in range(args.clients)]
        headers = [{"Authorization": f"Bearer {u['token']}"} for u in units]
        enrolled = [[] for _ in units]  # per client, the persons it enrolled
        lock = threading.Lock()
        numbers = itertools.count(1_000_000)

        def client_of(i):
            return i // 1_000_000  # load.run numbers request i of client n as n*1e6+i

        def enrol(i):
            n = client_of(i)
            with lock:
                body = enrolment(next(numbers))
            enrolled[n].append(body)
            return "POST", "/api/declarations/enrolment", headers[n], body

        def suspend(i):
            n = client_of(i)
            body = enrolled[n].pop() if enrolled[n] else enrolment(0)
            return "POST", "/api/declarations/suspension", headers[n], {
                "cert_type": body["cert_type"], "cert_no": body["cert_no"], "name": body["name"],
                "reason": "03"}

        retried = enrolment(999_999)
        key_headers = [{**h, "Idempotency-Key": "bench-retry"} for h in headers]

        def retry(i):
            n = client_of(i)
            return "POST", "/api/declarations/enrolment", key_headers[n], retried

        def run(name, fn, until=None):
            return load.run(suite.url, name, fn, clients=args.clients, seconds=args.seconds, until=until)

        noop = run("GET /healthz (no-op)", lambda i: ("GET", "/healthz", {}, None))
        print(noop.line())
        before = cpu_seconds(suite)
        results = [run("POST /api/declarations/enrolment", enrol)]
        spent = {name: cpu_seconds(suite)[name] - before[name] for name in before}
        declared = results[0].count
        # Suspend only the persons just enrolled, then stop.
        results.append(run("POST /api/declarations/suspension", suspend,
                           until=sum(len(e) for e in enrolled)))
        results.append(run("POST enrolment, answered Idempotency-Key", retry))
        for r in results:
            print(r.line(noop))
        # (the warm-up second is in the CPU but not in the count: an upper bound)
        print("CPU per enrolment, by process (ms): " + ", ".join(
            f"{name} {seconds / max(declared, 1) * 1000:.1f}" for name, seconds in spent.items()))
        # Only the first answer to the retried key is a 201 that declared.
        errors = sum(r.errors for r in results)
        engine = make_engine(f"sqlite:///{os.path.join(suite.workdir, 'declarations.db')}")
        count, differences = rebuild.verify(engine, ZoneInfo("Asia/Shanghai"))
        engine.dispose()
        print(f"verify after the run: {count} events, {len(differences)} differences; {errors} error answers")
    return 1 if differences or errors else 0


if __name__ == "__main__":
    sys.exit(main())
