"""Export and search of a large unit's roster.

    python -m bench.bench_export [--persons 50000] [--searches 200]

Starts its own suite (tests/suite.py), registers a unit and fills its roster
with --persons residents through the residents projection (synthetic
enrolment events applied in batches, written to the running service's
database), plus a few thousand residents of another unit. Then:

- export: GET /api/residents/export of the whole roster through the gateway:
  time, file size, and the peak resident memory (VmHWM, reset before the
  export through /proc/<pid>/clear_refs) of the residents and gateway
  processes. Target: each process at most 200 MB.
- the same workbook written in this process (openpyxl write-only) as a
  reference for the time.
- search: GET /api/residents?cert_no=<exact> for --searches random persons
  (typed with spaces and a lower-case x where the number has one): p50/p99,
  next to GET /healthz measured the same way.
"""
import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy.orm import Session

from common.db import make_engine
from common.events import ENROLLED
from services.residents import export, feed, roster
from services.residents.models import Base
from services.residents.store import RosterStore
from tests.factories import enrolment
from tests.suite import ADMIN_PASSWORD, start_suite


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def events(units, start=1):
    """Enrolment events (payload shape) of persons 0.. for `units`: a list
    of (unit, count)."""
    position = start - 1
    at = datetime(2026, 1, 1, tzinfo=UTC)
    serial = 10_000_000
    for unit, count in units:
        for _ in range(count):
            position += 1
            serial += 1
            person = enrolment(serial)
            person.update(gender="1" if int(person["cert_no"][16]) % 2 else "2",
                          birth_date=f"{person['cert_no'][6:10]}-{person['cert_no'][10:12]}-{person['cert_no'][12:14]}",
                          hukou_address="福建省泉州市丰泽区东海街道东海社区", remark=None)
            yield {
                "position": position, "event_id": f"bench-{position}", "type": ENROLLED,
                "schema_version": 1, "occurred_at": (at + timedelta(seconds=position)).isoformat(),
                "unit": unit, "person": {k: person[k] for k in ("cert_type", "cert_no", "name")},
                "data": {**person, "action": "new_enrolment"}, "batch_no": None,
                "record_id": f"bench-{position}",
            }


def apply_events(session, store, stream, batch=2000):
    """Apply the events of `stream` through the residents service's own
    projection code, `batch` at a time."""
    chunk = []
    for event in stream:
        chunk.append(event)
        if len(chunk) == batch:
            feed.apply_in_order(store, chunk, datetime.now(UTC))
            session.expunge_all()
            chunk = []
    if chunk:
        feed.apply_in_order(store, chunk, datetime.now(UTC))


def fill(url, units, batch=2000):
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    cert_nos = []

    def noting_first_unit(stream):
        for event in stream:
            if event["unit"]["id"] == units[0][0]["id"]:
                cert_nos.append(event["person"]["cert_no"])
            yield event

    with Session(engine, expire_on_commit=False) as session:
        apply_events(session, RosterStore(session), noting_first_unit(events(units)), batch)
    engine.dispose()
    return cert_nos


def worker_of(pid):
    """gunicorn serves from a child of the process the suite started."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        children = [int(c) for c in f.read().split()]
    return children[0] if children else pid


def reset_peak(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def memory(pid):
    """(VmRSS, VmHWM) of a process in MB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount, _unit = line.split()
                values[key[:-1]] = int(amount) / 1024
    return values["VmRSS"], values["VmHWM"]


def timed_get(session, url, **kwargs):
    started = time.perf_counter()
    r = session.get(url, timeout=300, **kwargs)
    return time.perf_counter() - started, r


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=50_000)
    parser.add_argument("--others", type=int, default=5_000, help="residents of another unit")
    parser.add_argument("--searches", type=int, default=200)
    args = parser.parse_args(argv)

    workdir = tempfile.mkdtemp(prefix="edt-bench-export-")
    residents_url = f"sqlite:///{workdir}/residents.db"
    with start_suite({"RESIDENTS_DATABASE_URL": residents_url,
                      "RESIDENTS_CATCHUP_INTERVAL": "3600"}) as suite:
        admin = suite.login("admin", ADMIN_PASSWORD)
        unit = suite.new_unit(admin)
        other = suite.new_unit(admin)
        ref = lambda u: {k: u["unit"][k] for k in ("id", "name", "credit_code")}  # noqa: E731
        started = time.perf_counter()
        cert_nos = fill(residents_url, [(ref(unit), args.persons), (ref(other), args.others)])
        print(f"filled {args.persons} + {args.others} residents through the projection "
              f"in {time.perf_counter() - started:.1f} s")

        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {unit['token']}"
        pids = {"residents": suite.procs["residents"].pid,
                "gateway": worker_of(suite.procs["gateway"].pid)}
        timed_get(http, f"{suite.url}/api/residents", params={"size": 1})  # warm up

        # export through the gateway
        for pid in pids.values():
            reset_peak(pid)
        before = {name: memory(pid)[0] for name, pid in pids.items()}
        seconds, r = timed_get(http, f"{suite.url}/api/residents/export")
        assert r.status_code == 200, r.text[:300]
        after = {name: memory(pid) for name, pid in pids.items()}
        print(f"export of {r.headers['X-Row-Count']} residents via GET /api/residents/export: "
              f"{seconds:.2f} s, {len(r.content) / 1e6:.1f} MB .xlsx")
        for name in pids:
            print(f"  {name:<10} RSS before {before[name]:6.1f} MB, peak during export "
                  f"{after[name][1]:6.1f} MB (target <= 200 MB)")

        # the same workbook in this process
        engine = make_engine(residents_url)
        with Session(engine) as session, tempfile.TemporaryFile() as f:
            started = time.perf_counter()
            rows = export.write_roster(RosterStore(session).roster_stream(unit["unit"]["id"]), f)
            print(f"write_roster in this process: {rows} rows in {time.perf_counter() - started:.2f} s")
        engine.dispose()

        # exact search by cert_no
        picks = random.sample(cert_nos, min(args.searches, len(cert_nos)))
        latencies, baseline = [], []
        for cert_no in picks:
            typed = cert_no[:6] + " " + cert_no[6:].lower()
            seconds, r = timed_get(http, f"{suite.url}/api/residents", params={"cert_no": typed})
            assert r.status_code == 200 and r.json()["total"] == 1, r.text[:300]
            latencies.append(seconds * 1000)
            seconds, _ = timed_get(http, f"{suite.url}/healthz")
            baseline.append(seconds * 1000)
        print(f"search by cert_no in a {args.persons}-person unit, {len(picks)} searches via HTTP: "
              f"p50 {percentile(latencies, 50):.1f} ms  p99 {percentile(latencies, 99):.1f} ms  "
              f"mean {statistics.mean(latencies):.1f} ms  (GET /healthz p50 {percentile(baseline, 50):.1f} ms)")

        engine = make_engine(residents_url)
        with Session(engine) as session:
            store = RosterStore(session)
            started = time.perf_counter()
            for cert_no in picks:
                assert roster.roster(store, unit["unit"]["id"], {"cert_no": cert_no}, 1, 20)["total"] == 1
            per = (time.perf_counter() - started) / len(picks) * 1000
        engine.dispose()
        print(f"  the same search as a store query in this process: {per:.2f} ms")
    os.system(f"rm -rf {workdir}")


if __name__ == "__main__":
    main()
