"""Independent scaling on one machine (issue 8, point 3): the processes of
deploy/Procfile with TWO declarations instances (each DeclarationsService +
OutboxRelay, as the Procfile line runs them) and TWO residents instances, one
auth, one notices, one gateway, on one private broker vhost, each service on
its own fresh PostgreSQL database migrated by `python -m deploy.migrate
upgrade` (dropped after).

2,000 declarations go through the gateway from 12 client threads across four
units: 1,600 enrolments, then 200 transfers (an enrolment in another unit)
and 200 suspensions. Then:

- no event lost or duplicated: positions are 1..N without gaps, event ids
  unique, every 201's record is in the log, N equals the 201s;
- the projections equal a replay (`python -m services.declarations.cli verify`);
- the residents roster converges to what the log says, unit by unit, and to
  the declarations' insured counts; each event was applied exactly once
  (history rows per position; apply counts summed over both instances = N);
- one relay publishes at any time: a test queue bound to the exchange gets
  every position exactly once, the published counter is N on one instance
  and 0 on the other, the holder in `relay_state` is the one whose log says
  it holds the lease, and sampled `declarations_relay_lease_held` never
  sums above 1; a second test stops the holder and shows the other instance
  taking over after the release, still publishing each position once;
- both declarations instances did work: RPC calls of `enrol`/`suspend`
  counted per process (Prometheus on each METRICS_PORT).
- both residents instances did work: the roster feed is a single-active-
  consumer queue (one instance applies, in order; the other stands by), so
  "both work" is shown by RPC reads, roster pages and lookups, served by
  each instance; who applied the events is reported too.

The relay and consumer lag gauges (issue 8, point 4) are sampled while the
declarations run and must be within 0..N, and 0 once the roster caught up.
"""
import re
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import requests
from kombu import Connection
from sqlalchemy import text

from common.db import make_engine
from services.declarations.relay import subscriber_queue
from tests.factories import enrolment
from tests.faults.conftest import fold, listed, listed_key, read_log
from tests.suite import ADMIN_PASSWORD, ROOT, metric, start_suite

pytestmark = [pytest.mark.http, pytest.mark.timeout(900)]  # 2,000 declarations on a shared machine

CLIENTS = 12
UNITS = 4
ENROLMENTS, TRANSFERS, SUSPENSIONS = 1600, 200, 200
DECLARATIONS = ENROLMENTS + TRANSFERS + SUSPENSIONS
AUDIT_QUEUE = "scaling-audit"
FIRST_PERSON = 7_000_000
HOLDS = re.compile(r"^(\S+ \S+) INFO \S+ \[[^]]*\] relay (\S+): took the lease at position (\d+)", re.M)
RELEASED = re.compile(r"^(\S+ \S+) INFO \S+ \[[^]]*\] relay (\S+): released the lease at position (\S+)", re.M)


@pytest.fixture(scope="module")
def suite():
    env = {
        "RELAY_SUBSCRIBER_QUEUES": AUDIT_QUEUE,  # the test's own subscriber
        "GATEWAY_THREADS": str(CLIENTS),
        "RESIDENTS_CATCHUP_INTERVAL": "2",
    }
    with start_suite(env, instances={"declarations": 2, "residents": 2}, database="postgresql") as s:
        s.admin_token = s.login("admin", ADMIN_PASSWORD)
        yield s


# -- helpers ------------------------------------------------------------------

class Driver:
    """Declarations through the gateway, each with its own Idempotency-Key
    and retried with the same key on a 5xx or a dropped connection."""

    def __init__(self, suite):
        self.suite = suite
        self.records = []  # (kind, record answer) of every 201
        self.failures = []
        self.retries = 0
        self.lock = threading.Lock()

    def one(self, step):
        unit, kind, body = step
        key = uuid.uuid4().hex
        for _attempt in range(4):
            try:
                r = self.suite.api("POST", f"/api/declarations/{kind}", unit["token"], json=body,
                                   headers={"Idempotency-Key": key})
            except requests.RequestException as error:
                r = error
            if not isinstance(r, Exception) and r.status_code < 500:
                break
            with self.lock:
                self.retries += 1
            time.sleep(0.5)
        with self.lock:
            if isinstance(r, Exception) or r.status_code != 201:
                self.failures.append((kind, getattr(r, "status_code", None), getattr(r, "text", repr(r))))
            else:
                self.records.append((kind, unit["unit"]["id"], r.json()))

    def run(self, steps):
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(self.one, steps))


class Sampler:
    """Reads every service process's metrics twice a second while the
    declarations run: lease holders and the lag gauges."""

    def __init__(self, suite):
        self.suite = suite
        self.samples = []
        self.stopped = threading.Event()

    def __enter__(self):
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(10)

    def loop(self):
        while not self.stopped.is_set():
            try:
                self.samples.append(snapshot(self.suite))
            except requests.RequestException:
                pass
            self.stopped.wait(0.5)


def snapshot(suite):
    decl = {p: suite.metrics(p) for p in suite.instances("declarations") if p in suite.procs}
    res = {p: suite.metrics(p) for p in suite.instances("residents") if p in suite.procs}
    return {
        "lease_held": {p: metric(m, "declarations_relay_lease_held") for p, m in decl.items()},
        "relay_lag": {p: metric(m, "declarations_relay_lag_events") for p, m in decl.items()},
        "consumer_lag": {p: metric(m, "consumer_lag_events", consumer="residents") for p, m in res.items()},
    }


def plan(units):
    people = [enrolment(FIRST_PERSON + i) for i in range(ENROLMENTS)]
    first = [(units[i % UNITS], "enrolment", p) for i, p in enumerate(people)]
    then = [(units[(i + 1) % UNITS], "enrolment", people[i]) for i in range(TRANSFERS)]
    then += [(units[i % UNITS], "suspension",
              {"cert_type": "01", "cert_no": people[i]["cert_no"], "name": people[i]["name"], "reason": "02"})
             for i in range(TRANSFERS, TRANSFERS + SUSPENSIONS)]
    return first, then


def drain(suite, expect, timeout=60):
    """Messages of the audit queue until `expect` arrived (then any extra
    that follows within a second): [(position, event_id, headers)]."""
    got = []
    deadline = time.time() + timeout
    with Connection(suite.env["AMQP_URI"]) as conn:
        queue = subscriber_queue(AUDIT_QUEUE)(conn.channel())
        queue.declare()
        quiet_until = None
        while time.time() < deadline:
            message = queue.get(no_ack=False)
            if message is None:
                if len(got) >= expect:
                    quiet_until = quiet_until or time.time() + 1
                    if time.time() > quiet_until:
                        break
                time.sleep(0.05)
                continue
            body = message.decode()
            got.append((body["position"], body["event_id"], message.headers))
            assert message.properties.get("message_id") == str(body["event_id"])
            message.ack()
    return got


def residents_checkpoint(suite):
    engine = make_engine(suite.env["RESIDENTS_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT position FROM residents_checkpoint")).scalar() or 0
    finally:
        engine.dispose()


def wait_roster(suite, position, timeout=90):
    deadline = time.time() + timeout
    while residents_checkpoint(suite) < position:
        assert time.time() < deadline, f"roster at {residents_checkpoint(suite)}, log at {position}"
        time.sleep(0.3)


def roster_of(suite, unit):
    items, page = [], 1
    while True:
        r = suite.api("GET", "/api/residents", unit["token"], params={"page": page, "size": 200})
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        if len(items) >= body["total"]:
            return {listed_key(i): (unit["unit"]["id"], i["status"], i["name"]) for i in items}
        page += 1


def relay_log(suite, process):
    with open(f"{suite.workdir}/{process}.log", encoding="utf-8", errors="replace") as f:
        content = f.read()
    return HOLDS.findall(content), RELEASED.findall(content)


def calls(values, service, *methods):
    return sum(metric(values, "service_entrypoint_calls_total", service=service, method=m, outcome="ok")
               for m in methods)


def duplicates(audit, published):
    """What a failure should say: the positions received more than once,
    as ranges, and who published how much."""
    counts = {}
    for position, _, _ in audit:
        counts[position] = counts.get(position, 0) + 1
    extra = sorted(p for p, n in counts.items() if n > 1)
    ranges, start = [], None
    for i, p in enumerate(extra):
        if start is None:
            start = p
        if i + 1 == len(extra) or extra[i + 1] != p + 1:
            ranges.append(f"{start}-{p}" if p != start else str(p))
            start = None
    return f"{len(audit)} messages; repeated positions {', '.join(ranges)}; published per instance {published}"


def relay_lines(suite):
    lines = []
    for process in suite.instances("declarations"):
        with open(f"{suite.workdir}/{process}.log", encoding="utf-8", errors="replace") as f:
            lines += [f"\n{process}: {line.rstrip()}" for line in f if "relay" in line]
    return "".join(lines[:200])


def publisher_runs(audit):
    """[(publisher id, first position, count)] of consecutive messages by one relay."""
    runs = []
    for position, _, headers in audit:
        if runs and runs[-1][0] == headers["publisher"]:
            runs[-1][2] += 1
        else:
            runs.append([headers["publisher"], position, 1])
    return [tuple(r) for r in runs]


def process_of_id(process_of, holder_id):
    return next(p for key, p in process_of.items() if key in holder_id)


def at(stamp):
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")


# -- the tests ------------------------------------------------------------------

def test_two_declarations_and_two_residents_instances_share_2000_declarations(suite):
    units = [suite.new_unit(suite.admin_token) for _ in range(UNITS)]
    before = read_log(suite, suite.admin_token)
    assert before == []  # fresh databases: the log starts at position 1
    first, then = plan(units)
    driver = Driver(suite)

    started = time.perf_counter()
    with Sampler(suite) as sampler:
        driver.run(first)
        driver.run(then)
        drive_seconds = time.perf_counter() - started
        log = read_log(suite, suite.admin_token)
        wait_roster(suite, len(log))
    converged_seconds = time.perf_counter() - started

    # every declaration answered 201; transfers are transfers
    assert driver.failures == []
    assert len(driver.records) == DECLARATIONS
    actions = [r["action"] for kind, _, r in driver.records if kind == "enrolment"]
    assert actions.count("transfer_in") == TRANSFERS

    # no event lost or duplicated
    positions = [e["position"] for e in log]
    assert positions == list(range(1, DECLARATIONS + 1))
    assert len({e["event_id"] for e in log}) == len(log)
    assert {r["record_id"] for _, _, r in driver.records} == {e["record_id"] for e in log}

    # the projections equal a replay
    verify = subprocess.run([sys.executable, "-m", "services.declarations.cli", "verify"],
                            env=suite.env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"equal a replay of {DECLARATIONS} events" in verify.stdout

    # the roster converged: unit by unit as the log says, counts as declarations says
    expected = listed(fold(log))
    for unit in units:
        uid = unit["unit"]["id"]
        roster = roster_of(suite, unit)
        assert roster == {k: v for k, v in expected.items() if v[0] == uid}
        summary = suite.api("GET", "/api/unit", unit["token"]).json()
        assert summary["insured_count"] == sum(1 for v in roster.values() if v[1] == "active")
    lookups = 0
    for i in range(0, ENROLMENTS, 40):  # a few lookups, each served by one instance
        unit = units[i % UNITS]
        person = enrolment(FIRST_PERSON + i)
        r = suite.api("GET", "/api/residents/lookup", unit["token"],
                      params={"cert_type": "01", "cert_no": person["cert_no"], "name": person["name"]})
        assert r.status_code == 200, r.text
        lookups += 1
    engine = make_engine(suite.env["RESIDENTS_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows, distinct = conn.execute(text(
                "SELECT count(*), count(DISTINCT position) FROM resident_history")).one()
    finally:
        engine.dispose()
    assert distinct == DECLARATIONS  # every event applied, none twice (rows per position unique)
    assert rows == DECLARATIONS + TRANSFERS  # a transfer writes in and out

    # one relay published at a time: the test queue got each position once,
    # in order (two publishers at once would interleave or repeat), in runs
    # each by one instance that took the lease just before its run began
    audit = drain(suite, DECLARATIONS)
    decl = {p: suite.metrics(p) for p in suite.instances("declarations")}
    published = {p: metric(m, "declarations_events_published_total") for p, m in decl.items()}
    assert [p for p, _, _ in audit] == positions, duplicates(audit, published) + relay_lines(suite)
    assert all(h["log_head"] >= p for p, _, h in audit)
    process_of = {f":{suite.procs[p].pid}:": p for p in decl}
    runs = publisher_runs(audit)
    holds = {p: relay_log(suite, p)[0] for p in decl}
    for holder_id, first, _count in runs:
        process = next(p for key, p in process_of.items() if key in holder_id)
        assert (holder_id, str(first - 1)) in {(h[1], h[2]) for h in holds[process]}, (runs, holds)
    assert sum(published.values()) == DECLARATIONS
    for process in decl:
        assert published[process] == sum(c for h, _, c in runs if process_of_id(process_of, h) == process)
    engine = make_engine(suite.env["DECLARATIONS_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            holder, checkpoint = conn.execute(text("SELECT holder, position FROM relay_state")).one()
    finally:
        engine.dispose()
    assert checkpoint == DECLARATIONS
    assert holder == runs[-1][0]
    for sample in sampler.samples:
        assert sum(sample["lease_held"].values()) <= 1, sample

    # both declarations instances took declarations
    declared = {p: calls(m, "declarations", "enrol", "suspend") for p, m in decl.items()}
    assert all(n > 0 for n in declared.values()), declared
    assert sum(declared.values()) >= DECLARATIONS

    # both residents instances served reads; the events were applied once in all
    res = {p: suite.metrics(p) for p in suite.instances("residents")}
    reads = {p: calls(m, "residents", "roster", "lookup") for p, m in res.items()}
    assert all(n > 0 for n in reads.values()), reads
    assert sum(reads.values()) >= lookups + UNITS
    applied = {p: metric(m, "consumer_apply_delay_seconds_count", consumer="residents") for p, m in res.items()}
    assert sum(applied.values()) == DECLARATIONS, applied

    # lag gauges: sensible while running, zero once caught up
    assert sampler.samples, "no metrics sampled while declaring"
    for sample in sampler.samples:
        for lag in (*sample["relay_lag"].values(), *sample["consumer_lag"].values()):
            assert 0 <= lag <= DECLARATIONS, sample
    # once the consumers handled their last deliveries (the standby may have
    # applied them first), every instance reports no lag
    deadline = time.time() + 120  # a cap on a loaded machine, not an expectation
    while True:
        final = snapshot(suite)
        zero = set(final["relay_lag"].values()) == {0} and set(final["consumer_lag"].values()) == {0}
        if zero or time.time() > deadline:
            break
        time.sleep(0.5)
    assert set(final["relay_lag"].values()) == {0}, final
    assert set(final["consumer_lag"].values()) == {0}, final
    for values in (*decl.values(), *res.values()):
        names = {name for name, _ in values}
        assert {"service_entrypoint_calls_total", "service_entrypoint_duration_seconds_bucket"} <= names
    assert all(("declarations_relay_lag_events", frozenset()) in m for m in decl.values())
    assert all(("declarations_events_published_total", frozenset({("type", "resident_enrolled")})) in m
               for m in decl.values() if metric(m, "declarations_events_published_total"))
    assert any(("consumer_lag_events", frozenset({("consumer", "residents")})) in m for m in res.values())

    print(f"\nscaling: {DECLARATIONS} declarations in {drive_seconds:.1f} s "
          f"({DECLARATIONS / drive_seconds:.0f}/s, {CLIENTS} clients, {driver.retries} retries); "
          f"roster caught up after {converged_seconds:.1f} s")
    print(f"scaling: declarations calls per instance {declared}; published per instance {published}; "
          f"publisher runs {[(process_of_id(process_of, h), first, n) for h, first, n in runs]}")
    service_ms = {p: 1000 * sum(metric(m, "service_entrypoint_duration_seconds_sum", service="declarations", method=k)
                                for k in ("enrol", "suspend")) / max(declared[p], 1) for p, m in decl.items()}
    print(f"scaling: mean enrol/suspend time inside each declarations instance (ms) "
          f"{ {p: round(v, 1) for p, v in service_ms.items()} }")
    print(f"scaling: residents reads per instance {reads}; events applied per instance {applied}")
    print(f"scaling: max relay lag {max(max(s['relay_lag'].values()) for s in sampler.samples):.0f}, "
          f"max consumer lag {max(max(s['consumer_lag'].values()) for s in sampler.samples):.0f} "
          f"({len(sampler.samples)} samples)")


def test_the_relay_lease_passes_to_the_other_instance_when_the_holder_stops(suite):
    units = [suite.new_unit(suite.admin_token) for _ in range(2)]
    head = len(read_log(suite, suite.admin_token))
    drain(suite, 0, timeout=5)  # whatever an earlier test left
    holder = next(p for p in suite.instances("declarations")
                  if p in suite.procs and metric(suite.metrics(p), "declarations_relay_lease_held") == 1)
    other = next(p for p in suite.instances("declarations") if p != holder)
    published_before = metric(suite.metrics(other), "declarations_events_published_total")

    suite.stop_process(holder)
    released = relay_log(suite, holder)[1]
    assert released and released[-1][2] == str(head), released  # gave it up, all published

    more = 100
    driver = Driver(suite)
    driver.run([(units[i % 2], "enrolment", enrolment(FIRST_PERSON + 100_000 + i)) for i in range(more)])
    assert driver.failures == [] and len(driver.records) == more
    log = read_log(suite, suite.admin_token)
    assert [e["position"] for e in log] == list(range(1, head + more + 1))

    audit = drain(suite, more)
    assert [p for p, _, _ in audit] == list(range(head + 1, head + more + 1))  # each once, in order
    assert {h["publisher"] for _, _, h in audit} == {relay_log(suite, other)[0][-1][1]}
    assert metric(suite.metrics(other), "declarations_events_published_total") - published_before == more
    took = relay_log(suite, other)[0]
    assert took and took[-1][2] == str(head), took
    assert at(took[-1][0]) >= at(released[-1][0])  # one publisher at a time
    wait_roster(suite, head + more)
