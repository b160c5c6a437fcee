"""A city on PostgreSQL, filled through the HTTP API, and what it costs to
read, export, take an enrolment campaign's peak and rebuild at each size.

    python -m bench.bench_city [--persons 2000000] [--quick] [--checkpoints 100000,500000,2000000]
                               [--plans bench/city-plans.txt] [--samples 200] [--uploaders 6]
                               [--instances batches=2] [--env NAME=VALUE] [--max-minutes 300]
                               [--rebuild all|last|none] [--residents-rebuild all|last|none] [--no-peak]
    make bench-city BENCH_ARGS=--quick

Starts the suite on PostgreSQL (tests/suite.py: a fresh, migrated database
per service on a private RabbitMQ vhost; dropped at the end, also on Ctrl-C)
and fills it through the real write path only: the admin API registers the
units (about N/2,000 of them over Quanzhou's 12 county-level divisions, the
division's GB/T 2260 code in each unit's credit code and name; sizes skewed,
most 500-3,000, about one in a hundred large, the largest 40,000); the units
upload Excel enrolment files (POST /api/batches, at most --file-rows rows per
file, --uploaders units at once); then "three years of history" for the
persons just enrolled: 9% transferred to another unit (the new unit's
enrolment file: a transfer-in), 12% suspended (the unit's suspension file)
and 0.2% changed (single POST /api/declarations/change). The API cannot
backdate: every event occurs now, so "three years" are the counts of three
years, not their dates (the 12-month stats show them all in this month).

At each checkpoint (100,000, 500,000, 2,000,000 persons, those <= N, and N)
it waits until the residents roster has applied the whole log, then prints
(with the load average of the moment):

- fill rate: rows/s from the first upload to the last batch done, and
  including the wait until the rosters had applied everything;
- p50/p99 of GET /api/unit, the roster page (page 2 of 20 of the largest
  unit), roster search by ID, lookup, records with filters, 12-month stats
  (--samples requests each, 2 clients);
- export of the largest unit: time and the peak RSS of the residents and
  gateway processes (VmHWM, reset before);
- the campaign peak: 8, then 32 units each uploading a 5,000-row enrolment
  file at the same moment: rows/s from the first upload to the last batch
  done, the p50/p99 of GET /api/unit and of the roster page asked from
  another thread meanwhile, 409s (counted, retried after a pause), and the
  roster lag: seconds from the last batch's answer until the residents
  checkpoint reaches the log's last position (every uploaded person is in
  the rosters). The peak's persons stay in the city (they count towards
  the next checkpoint);
- rebuild and verify of the declarations log (python -m
  services.declarations.cli, events/s);
- residents' rebuild from position 0: residents has no rebuild command, so
  the bench stops the residents process, empties its roster tables and sets
  its checkpoint to 0, starts it again and times its catch-up from the log
  (the first catch-up fires RESIDENTS_CATCHUP_INTERVAL seconds after start).

With --plans FILE, at the last checkpoint EXPLAIN (ANALYZE, BUFFERS) of every
request-path query (bench/city_plans.py) is written to FILE and every Seq
Scan is listed. The targets of issue 14 are printed with PASS/FAIL at the
end. Batch uploads may be answered 201 with the result or 202 (queued; the
bench then polls GET /api/batches/{batch_no} until done or failed).

Progress and the reads touch only 127.0.0.1. Every loop is bounded in count
and time; --max-minutes bounds the whole run (the phases still to come are
skipped and said so).
"""
import argparse
import contextlib
import io
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import timedelta
from urllib.parse import quote

import psycopg
import requests

from bench import procs
from common.queues import PLATFORM_QUEUES
from common.protect import process_index
from bench.city_data import CITY, DIVISIONS, People, business_today, enrolment_row, plan_units, suspension_row
from tests import fixtures_xlsx as fx
from tests import suite as suites


def street_of(unit):
    """The 乡镇/街道 in a unit's name (its division's town)."""
    match = re.match(rf"{CITY}{unit.division_name}(.+?(?:街道|镇|乡))", unit.name)
    return match.group(1) if match else "城区"


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UNIT_PASSWORD = "City@2026!"  # set by the operator at registration
UNIT_PASSWORD_CHANGED = "City@2026!changed"  # the unit's own, from its first sign-in
CHECKPOINTS = (100_000, 500_000, 2_000_000)
TRANSFER_SHARE, SUSPENSION_SHARE, CHANGE_SHARE = 0.09, 0.12, 0.002  # over three years
PEAK_ROWS = 5000
TARGETS = {"peak_rows_per_s": 10_000, "peak_read_p99_ms": 250, "roster_lag_s": 10,
           "read_growth": 1.5, "rebuild_events_per_s": 20_000}
READS = ("GET /api/unit", "roster page", "roster search by ID", "lookup", "records with filters",
         "12-month stats")

STOP = threading.Event()


class Stopped(Exception):
    pass


class OutOfTime(Exception):
    pass


def load():
    return os.getloadavg()[0]


def say(text):
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}Z] {text}", flush=True)


def pct(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = Counter()

    def add(self, key, n=1):
        with self.lock:
            self.c[key] += n

    def take(self):
        with self.lock:
            out, self.c = dict(self.c), Counter()
        return out


# -- the suite ----------------------------------------------------------------

@contextlib.contextmanager
def city_suite(extra_env, instances):
    """tests/suite.py's start_suite(database="postgresql"), also allowing
    several instances of a Procfile line that is not one of the four
    services (e.g. `batches`), which start_suite refuses."""
    instances = instances or {}
    if set(instances) <= set(suites.SERVICES):
        with suites.start_suite(extra_env=extra_env, instances=instances, database="postgresql") as s:
            yield s
        return
    unknown = set(instances) - set(suites.procfile())
    if unknown:
        raise SystemExit(f"no Procfile line {', '.join(sorted(unknown))}")
    with contextlib.ExitStack() as stack:
        vhost = stack.enter_context(suites.Vhost())
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="edt-city-"))
        urls = stack.enter_context(suites.postgres_databases())
        suite = suites.Suite(vhost.uri, workdir, extra_env, instances, urls)
        try:
            suite.start()
            yield suite
        finally:
            suite.stop()


class Databases:
    """Read-only looks at the services' databases (positions, counts) and
    the residents reset of the rebuild measurement."""

    def __init__(self, suite):
        self.urls = {s: suite.env[f"{s.upper()}_DATABASE_URL"] for s in suites.SERVICES}
        self.conns = {}

    def conn(self, service):
        conn = self.conns.get(service)
        if conn is None or conn.closed:
            conn = self.conns[service] = psycopg.connect(self.urls[service].replace("+psycopg", ""),
                                                         autocommit=True)
        return conn

    def scalar(self, service, sql, params=None):
        return self.conn(service).execute(sql, params).fetchone()[0]

    def log_position(self):
        return self.scalar("declarations", "SELECT coalesce(max(position), 0) FROM events")

    def roster_position(self):
        return self.scalar("residents", "SELECT coalesce(max(position), 0) FROM residents_checkpoint")

    def relay_position(self):
        """The last position the outbox relay had confirmed on the broker."""
        return self.scalar("declarations", "SELECT coalesce(max(position), 0) FROM relay_state")

    def close(self):
        for conn in self.conns.values():
            conn.close()


def wait_roster(dbs, target=None, timeout=3600, poll=0.1):
    """Seconds until the residents checkpoint reaches `target` (default: the
    log's last position now); None after `timeout` (the position then in
    `wait_roster.last`)."""
    target = dbs.log_position() if target is None else target
    started = time.perf_counter()
    last_print = started
    while True:
        if STOP.is_set():
            raise Stopped()
        position = dbs.roster_position()
        wait_roster.last = position
        now = time.perf_counter()
        if position >= target:
            return now - started
        if now - started > timeout:
            return None
        if now - last_print > 60:
            say(f"   ... roster at {position:,} of {target:,} (load {load():.1f})")
            last_print = now
        time.sleep(poll)


# -- HTTP ------------------------------------------------------------------------

class Client:
    def __init__(self, base):
        self.base = base
        self.local = threading.local()

    def session(self):
        s = getattr(self.local, "s", None)
        if s is None:
            s = self.local.s = requests.Session()
        return s

    def call(self, method, path, token=None, timeout=120, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.session().request(method, self.base + path, headers=headers, timeout=timeout, **kwargs)

    def timed_get(self, path, token, timeout=60):
        started = time.perf_counter()
        try:
            r = self.call("GET", path, token, timeout=timeout)
            r.content  # noqa: B018 - the whole body
            status = r.status_code
        except requests.RequestException:
            status = 599
        return (time.perf_counter() - started) * 1000, status


DONE = ("done", "failed")


def upload(client, token, business_type, data, name, counters, timeout=1800, poll=0.5):
    """Upload one file; return its result once every row is decided:
    {batch_no, total, succeeded, failed, failures, status, t0, t_answer,
    t_done, conflicts}. 201 is the old synchronous answer, 202 a queued
    batch (polled). 409s and overload answers are counted and retried after
    a pause; the same Idempotency-Key is sent each time."""
    key = uuid.uuid4().hex
    t0 = time.time()
    conflicts = 0
    for _attempt in range(60):
        if STOP.is_set():
            raise Stopped()
        if time.time() - t0 > timeout:
            break
        try:
            r = client.call("POST", f"/api/batches?business_type={business_type}", token, timeout=900,
                            headers={"Idempotency-Key": key}, files={"file": (name, data, XLSX)})
        except requests.RequestException:
            counters.add("upload_errors")
            time.sleep(2)
            continue
        if r.status_code == 409:
            conflicts += 1
            counters.add("409")
            time.sleep(0.5 + random.random() * 1.5)
            continue
        if r.status_code in (429, 500, 502, 503, 504):
            counters.add(f"upload_{r.status_code}")
            time.sleep(2)
            continue
        if r.status_code not in (200, 201, 202):
            raise RuntimeError(f"upload {name}: HTTP {r.status_code} {r.text[:300]}")
        counters.add(f"http_{r.status_code}")
        t_answer = time.time()
        body = r.json()
        if body.get("status") not in (None,) + DONE or r.status_code == 202:
            body = poll_batch(client, token, body["batch_no"], counters, t0 + timeout, poll)
        t_done = time.time() if body.get("status") in DONE or r.status_code == 202 else t_answer
        return {**body, "t0": t0, "t_answer": t_answer, "t_done": t_done, "conflicts": conflicts,
                "http": r.status_code}
    raise RuntimeError(f"upload {name}: no answer after {time.time() - t0:.0f} s")


def poll_batch(client, token, batch_no, counters, deadline, poll):
    while time.time() < deadline:
        if STOP.is_set():
            raise Stopped()
        time.sleep(poll)
        try:
            r = client.call("GET", f"/api/batches/{quote(batch_no)}", token, timeout=60)
        except requests.RequestException:
            counters.add("poll_errors")
            continue
        if r.status_code != 200:
            counters.add(f"poll_{r.status_code}")
            continue
        body = r.json()
        if body.get("status") in DONE:
            return body
    raise RuntimeError(f"batch {batch_no} not done by the deadline")


# -- the bench ---------------------------------------------------------------------

class City:
    def __init__(self, args, suite):
        self.args = args
        self.suite = suite
        self.client = Client(suite.url)
        self.dbs = Databases(suite)
        self.rng = random.Random(args.seed)
        self.units = plan_units(args.persons, args.seed, f"c{args.seed % 10000:04d}u")
        peaks = len(self.checkpoints()) * 40 * PEAK_ROWS
        self.people = People(args.persons + peaks + 10, salt=args.seed % 30_000)
        self.enrolled = 0  # persons 0..enrolled-1 were enrolled by the fill
        self.next_free = args.persons  # the peaks' new persons
        self.unit_ptr = 0
        self.counters = Counters()
        self.results = {}
        self.deadline = time.time() + args.max_minutes * 60
        self.admin = None

    def checkpoints(self):
        marks = sorted({c for c in self.args.checkpoints if c <= self.args.persons} | {self.args.persons})
        return marks

    def time_left(self):
        return self.deadline - time.time()

    def check_time(self, phase):
        if self.time_left() <= 0:
            raise OutOfTime(phase)

    # units
    def ensure_units(self, units):
        todo = [u for u in units if u.token is None]
        if not todo:
            return
        started = time.perf_counter()

        def make(u):
            if STOP.is_set():
                raise Stopped()
            body = {"name": u.name, "account": u.account, "credit_code": u.credit_code, "password": UNIT_PASSWORD,
                    "division": u.division, "street": street_of(u)}
            r = self.client.call("POST", "/api/admin/units", self.admin, json=body)
            if r.status_code != 201:
                raise RuntimeError(f"unit {u.name}: HTTP {r.status_code} {r.text[:300]}")
            u.id = r.json()["id"]
            r = self.client.call("POST", "/api/auth/login", json={"account": u.account, "password": UNIT_PASSWORD})
            if r.status_code != 200:
                raise RuntimeError(f"login {u.account}: HTTP {r.status_code} {r.text[:300]}")
            u.token = r.json()["token"]
            # an operator-set password is an initial one: changed before anything else
            r = self.client.call("PUT", "/api/auth/password", u.token,
                                 json={"old_password": UNIT_PASSWORD, "new_password": UNIT_PASSWORD_CHANGED})
            if r.status_code != 204:
                raise RuntimeError(f"password change {u.account}: HTTP {r.status_code} {r.text[:300]}")

        with ThreadPoolExecutor(4) as pool:
            for f in as_completed([pool.submit(make, u) for u in todo]):
                f.result()
        say(f"registered {len(todo)} units through POST /api/admin/units and logged them in "
            f"({time.perf_counter() - started:.1f} s; load {load():.1f})")

    def created_units(self):
        return [u for u in self.units if u.token is not None]

    # files
    def run_jobs(self, jobs, workers):
        """jobs: [(unit, business_type, [person index], on_success)]; builds
        each file in the worker and uploads it. Returns (rows, first start,
        last done, results)."""
        results = []
        lock = threading.Lock()

        def one(job):
            unit, business_type, persons, on_success = job
            if STOP.is_set():
                raise Stopped()
            if business_type == "enrolment":
                rows = [enrolment_row(self.people, i, unit) for i in persons]
            else:
                rows = [suspension_row(self.people, i, self.rng) for i in persons]
            data = fx.big(business_type, rows)
            res = upload(self.client, unit.token, business_type, data, f"{business_type}-{unit.index}.xlsx",
                         self.counters)
            if res.get("status") == "failed":
                raise RuntimeError(f"batch {res.get('batch_no')} failed: {json.dumps(res, ensure_ascii=False)[:500]}")
            bad_rows = {f.get("row") for f in res.get("failures") or []}
            if res.get("failed"):
                self.counters.add("rows_refused", res["failed"])
                first = (res.get("failures") or [{}])[0]
                self.counters.add("refused: " + str(first.get("reason") or first)[:80])
            for n, i in enumerate(persons):
                if n + 2 not in bad_rows:
                    on_success(i)
            with lock:
                results.append(res)
            return res

        if not jobs:
            return 0, time.time(), time.time(), 0
        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(one, job) for job in jobs]
            try:
                for f in as_completed(futures):
                    f.result()
            except BaseException:
                STOP.set()
                for f in futures:
                    f.cancel()
                raise
        rows = sum(len(j[2]) for j in jobs)
        return rows, min(r["t0"] for r in results), max(r["t_done"] for r in results), len(results)

    # the fill
    def enrol_segment(self, upto):
        """Enrol persons self.enrolled..upto-1 into the units in plan order."""
        people, units = self.people, self.units
        lo = self.enrolled
        plan = []  # (unit, [persons])
        i = lo
        while i < upto:
            u = units[self.unit_ptr]
            take = min(u.size - u.filled, upto - i)
            if take > 0:
                plan.append((u, list(range(i, i + take))))
                u.filled += take
                i += take
            if u.filled >= u.size:
                self.unit_ptr += 1
        self.ensure_units([u for u, _ in plan])
        jobs = []
        for u, persons in plan:
            division = next(n for n, d in enumerate(DIVISIONS) if d[0] == u.division)
            for i in persons:  # most were born in the division, some elsewhere in the city
                people.home[i] = division if self.rng.random() < 0.85 else self.rng.randrange(len(DIVISIONS))
            for s in range(0, len(persons), self.args.file_rows):
                jobs.append((u, "enrolment", persons[s:s + self.args.file_rows], self._enrolled(u)))
        self.rng.shuffle(jobs)  # many units at once, as in a campaign
        rows, first, last, files = self.run_jobs(jobs, self.args.uploaders)
        self.enrolled = upto
        return rows, first, last, files

    def _enrolled(self, unit):
        def mark(i):
            self.people.unit[i] = unit.index
            self.people.status[i] = 1
        return mark

    def _moved(self, unit):
        def mark(i):
            self.people.unit[i] = unit.index
        return mark

    def _suspended(self, i):
        self.people.status[i] = 2

    def history_segment(self, lo, hi):
        """Three years of history of persons lo..hi-1: transfers, then
        suspensions (files per unit), then changes (single declarations)."""
        people, rng = self.people, self.rng
        if hi <= lo:
            return {"transfers": (0, 0, 0), "suspensions": (0, 0, 0), "changes": (0, 0)}
        units = self.created_units()
        by_division = defaultdict(list)
        for u in units:
            by_division[u.division].append(u)
        count = hi - lo
        # transfers: the receiving unit's enrolment file (transfer-in)
        movers = rng.sample(range(lo, hi), min(count, round(count * TRANSFER_SHARE)))
        incoming = defaultdict(list)
        for i in movers:
            if people.status[i] != 1 or len(units) < 2:
                continue
            here = self.units[people.unit[i]]
            pool = by_division[here.division] if rng.random() < 0.7 and len(by_division[here.division]) > 1 else units
            target = rng.choice(pool)
            while target is here:
                target = rng.choice(units)
            incoming[target.index].append(i)
        jobs = [(self.units[t], "enrolment", persons[s:s + self.args.file_rows], self._moved(self.units[t]))
                for t, persons in incoming.items() for s in range(0, len(persons), self.args.file_rows)]
        t_rows, t_first, t_last, t_files = self.run_jobs(jobs, self.args.uploaders)
        # suspensions: the holding unit's suspension file
        candidates = [i for i in rng.sample(range(lo, hi), min(count, round(count * SUSPENSION_SHARE * 1.2)))
                      if people.status[i] == 1][:round(count * SUSPENSION_SHARE)]
        leaving = defaultdict(list)
        for i in candidates:
            leaving[people.unit[i]].append(i)
        jobs = [(self.units[u], "suspension", persons[s:s + self.args.file_rows], self._suspended)
                for u, persons in leaving.items() for s in range(0, len(persons), self.args.file_rows)]
        s_rows, s_first, s_last, s_files = self.run_jobs(jobs, self.args.uploaders)
        # changes: one POST each
        changers = [i for i in rng.sample(range(lo, hi), min(count, max(1, round(count * CHANGE_SHARE))))
                    if people.status[i] in (1, 2)]
        c_started = time.time()

        def change(i):
            if STOP.is_set():
                raise Stopped()
            u = self.units[people.unit[i]]
            new_phone = f"137{rng.randrange(10**8):08d}"
            body = {"cert_type": "01", "cert_no": people.cert_no(i), "name": people.name(i),
                    "changes": {"phone": new_phone, "address": f"{u.division_name}新址{i % 97}号"}}
            for _ in range(5):
                try:
                    r = self.client.call("POST", "/api/declarations/change", u.token, json=body, timeout=60)
                except requests.RequestException:
                    self.counters.add("change_errors")
                    time.sleep(1)
                    continue
                if r.status_code == 201:
                    people.phone_changes[i] = new_phone
                    return
                self.counters.add(f"change_{r.status_code}")
                if r.status_code < 500:
                    return
                time.sleep(1)

        with ThreadPoolExecutor(8) as pool:
            for f in as_completed([pool.submit(change, i) for i in changers]):
                f.result()
        c_seconds = time.time() - c_started
        return {"transfers": (t_rows, t_last - t_first if t_rows else 0, t_files),
                "suspensions": (s_rows, s_last - s_first if s_rows else 0, s_files),
                "changes": (len(changers), c_seconds)}

    # reads
    def sample(self):
        """Tokens and persons the reads ask about: the largest unit (unit 0)
        and persons still in it; other units at random."""
        big = self.units[0]
        here = [i for i in range(min(self.enrolled, big.size * 2)) if self.people.unit[i] == 0]
        created = self.created_units()
        return big, here, created

    def measure_reads(self, samples, clients=2):
        big, here, created = self.sample()
        rng = random.Random(self.args.seed + self.enrolled)
        today = business_today()
        since = (today - timedelta(days=30)).isoformat()
        everyone = range(self.enrolled)

        def pick_here():
            return rng.choice(here)

        def request(name):
            if name == "GET /api/unit":
                return "/api/unit", rng.choice(created).token
            if name == "roster page":
                return "/api/residents?page=2&size=20", big.token
            if name == "roster search by ID":
                return f"/api/residents?cert_no={self.people.cert_no(pick_here())}", big.token
            if name == "lookup":
                i = rng.choice(everyone)
                if rng.random() < 0.2:
                    i = self.next_free + 10**6 + rng.randrange(10**6)  # never enrolled
                return (f"/api/residents/lookup?cert_type=01&cert_no={self.people.cert_no(i)}"
                        f"&name={quote(self.people.name(i))}", rng.choice(created).token)
            if name == "records with filters":
                return (f"/api/declarations?business_type=enrolment&from={since}"
                        f"&name={quote(self.people.name(pick_here()))}", big.token)
            return "/api/unit/stats?months=12", rng.choice(created).token

        out = {}
        for name in READS:
            lock = threading.Lock()
            plans = [request(name) for _ in range(samples + 10 * clients)]
            latencies, statuses = [], Counter()

            def worker(k):
                mine = plans[k::clients]
                for n, (path, token) in enumerate(mine):
                    if STOP.is_set():
                        return
                    ms, status = self.client.timed_get(path, token)
                    if n < 10:
                        continue  # warm-up
                    with lock:
                        latencies.append(ms)
                        statuses[status] += 1

            threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
            watched = self.service_pids()
            cpu = {n: sum(procs.cpu_seconds(p) for p in pids) for n, pids in watched.items()}
            for t in threads:
                t.start()
            for t in threads:
                t.join(600)
            cpu = {n: (sum(procs.cpu_seconds(p) for p in pids) - cpu[n]) * 1000 / max(len(plans), 1)
                   for n, pids in watched.items()}
            errors = sum(n for s, n in statuses.items() if s != 200)
            out[name] = {"p50": pct(latencies, 50), "p99": pct(latencies, 99), "max": max(latencies or [0]),
                         "n": len(latencies), "errors": errors, "load": load(), "cpu_ms": cpu}
            r = out[name]
            busy = ", ".join(f"{n} {ms:.1f}" for n, ms in cpu.items() if ms >= 0.5)
            say(f"   {name:22s} p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  max {r['max']:7.1f} ms  "
                f"({r['n']} requests, {errors} errors; load {r['load']:.1f}; CPU ms per request: {busy})")
        return out

    def service_pids(self):
        """{process name: [pids]} of the suite (gunicorn with its workers)."""
        return {name: procs.tree(proc.pid) for name, proc in self.suite.procs.items()}

    # export
    def measure_export(self):
        big = self.units[0]
        watched = {"residents": procs.tree(self.suite.procs["residents"].pid),
                   "gateway": procs.tree(self.suite.procs["gateway"].pid)}
        for pids in watched.values():
            procs.reset_peaks(pids)
        started = time.perf_counter()
        r = self.client.call("GET", "/api/residents/export", big.token, timeout=900)
        seconds = time.perf_counter() - started
        peaks = {name: max(procs.peak_mb(p) for p in pids) for name, pids in watched.items()}
        result = {"status": r.status_code, "seconds": seconds, "rows": int(r.headers.get("X-Row-Count") or 0),
                  "bytes": len(r.content), "peak_mb": peaks, "load": load()}
        say(f"   export of the largest unit: HTTP {r.status_code}, {result['rows']:,} rows, "
            f"{result['bytes'] / 1e6:.1f} MB in {seconds:.1f} s; peak RSS residents {peaks['residents']:.0f} MB, "
            f"gateway {peaks['gateway']:.0f} MB (load {result['load']:.1f})")
        return result

    # the campaign peak
    def peak(self, units_at_once):
        big, _here, created = self.sample()
        rng = random.Random(self.args.seed * 7 + units_at_once + self.enrolled)
        chosen = rng.sample([u for u in created if u is not big], min(units_at_once, len(created) - 1))
        if len(chosen) < units_at_once:  # a small city: some units upload twice
            chosen += [rng.choice(created) for _ in range(units_at_once - len(chosen))]
        files = []
        for u in chosen:
            persons = list(range(self.next_free, self.next_free + PEAK_ROWS))
            self.next_free += PEAK_ROWS
            division = next(n for n, d in enumerate(DIVISIONS) if d[0] == u.division)
            for i in persons:
                self.people.home[i] = division
            rows = [enrolment_row(self.people, i, u) for i in persons]
            files.append((u, persons, fx.big("enrolment", rows)))
        self.wait_roster_current("before the peak")
        procs.wait_idle([p.pid for p in self.suite.procs.values()], timeout=30, busy_share=0.3)
        self.counters.take()
        barrier = threading.Barrier(len(files) + 3)  # the uploaders, two readers and this thread
        done = threading.Event()
        reads = {"GET /api/unit": [], "roster page": []}
        read_status = Counter()
        results = [None] * len(files)
        errors = []

        def uploader(k):
            u, persons, data = files[k]
            try:
                barrier.wait(60)
                results[k] = upload(self.client, u.token, "enrolment", data, f"campaign-{u.index}.xlsx",
                                    self.counters, timeout=1800, poll=0.25)
                for i in persons:
                    self.people.unit[i] = u.index
                    self.people.status[i] = 1
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        def reader(name, path_of):
            # one thread per read, so that a slow roster page does not thin
            # out the samples of GET /api/unit
            barrier.wait(60)
            for _n in range(20_000):
                if done.is_set() or STOP.is_set():
                    return
                path, token = path_of()
                ms, status = self.client.timed_get(path, token, timeout=60)
                with lock:
                    reads[name].append(ms)
                    read_status[status] += 1
                time.sleep(0.05)

        lock = threading.Lock()
        tokens = [u.token for u in created]
        readers = [threading.Thread(target=reader, daemon=True, args=(
                       "GET /api/unit", lambda: ("/api/unit", rng.choice(tokens)))),
                   threading.Thread(target=reader, daemon=True, args=(
                       "roster page", lambda: ("/api/residents?page=2&size=20", big.token)))]
        threads = [threading.Thread(target=uploader, args=(k,), daemon=True) for k in range(len(files))]
        for t in threads + readers:
            t.start()
        barrier.wait(60)
        for t in threads:
            t.join(1800)
        done.set()
        for t in readers:
            t.join(120)
        if errors:
            raise errors[0]
        target = self.dbs.log_position()
        last_answer = max(r["t_done"] for r in results)
        lag_wait = wait_roster(self.dbs, target, timeout=self.args.roster_timeout)
        lag = None if lag_wait is None else time.time() - last_answer
        first = min(r["t0"] for r in results)
        rows = sum(r.get("succeeded") or 0 for r in results)
        seconds = last_answer - first
        counters = self.counters.take()
        accepted = sum(1 for r in results if r.get("status", "done") == "done" and r.get("succeeded") == PEAK_ROWS
                       and r["conflicts"] == 0)
        out = {"units": len(files), "rows": rows, "seconds": seconds, "rows_per_s": rows / seconds if seconds else 0,
               "accepted_first_time": accepted, "conflicts": counters.get("409", 0),
               "answers": {k: v for k, v in counters.items() if k.startswith("http_")},
               "other": {k: v for k, v in counters.items() if not k.startswith("http_") and k != "409"},
               "answer_s": [round(r["t_answer"] - r["t0"], 2) for r in results],
               "reads": {k: {"p50": pct(v, 50), "p99": pct(v, 99), "max": max(v or [0]), "n": len(v)}
                         for k, v in reads.items()},
               "read_errors": sum(n for s, n in read_status.items() if s != 200),
               "roster_lag_s": lag, "roster_position": wait_roster.last, "log_position": target,
               "load": load()}
        self.enrolled_extra = getattr(self, "enrolled_extra", 0) + rows
        say(f"   peak {len(files)} units x {PEAK_ROWS:,} rows: {rows:,} rows accepted in {seconds:.1f} s = "
            f"{out['rows_per_s']:,.0f} rows/s; {accepted}/{len(files)} accepted without a retry, "
            f"409s {out['conflicts']}; answers {out['answers']} {out['other'] or ''} (load {out['load']:.1f})")
        say(f"     upload answer times (s): min {min(out['answer_s'])}, median {statistics.median(out['answer_s'])}, "
            f"max {max(out['answer_s'])}")
        for k, v in out["reads"].items():
            say(f"     during it, {k:14s} p50 {v['p50']:7.1f} ms  p99 {v['p99']:7.1f} ms  max {v['max']:7.1f} ms "
                f"({v['n']} requests)")
        say(f"     read errors {out['read_errors']}; roster lag after the last answer: "
            + (f"{lag:.1f} s" if lag is not None else
               f"NOT CURRENT after {self.args.roster_timeout} s (at {wait_roster.last:,} of {target:,})"))
        return out

    def wait_roster_current(self, why):
        started = time.perf_counter()
        target = self.dbs.log_position()
        before = self.dbs.roster_position()
        seconds = wait_roster(self.dbs, target, timeout=min(self.args.roster_timeout, max(self.time_left(), 60)))
        if seconds is None:
            raise OutOfTime(f"the roster did not apply the log ({wait_roster.last:,} of {target:,}) {why}")
        if target - before > 1000:
            say(f"   roster current {why}: {target - before:,} events applied in {seconds:.1f} s "
                f"({(target - before) / max(seconds, 1e-9):,.0f} events/s; load {load():.1f})")
        return time.perf_counter() - started

    # rebuilds
    def rebuild(self):
        env = {**self.suite.env, "PYTHONPATH": suites.ROOT}
        url = self.suite.env["DECLARATIONS_DATABASE_URL"]
        out = {}
        for command in ("rebuild", "verify"):
            started = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "services.declarations.cli", command, "--database-url", url],
                               env=env, cwd=suites.ROOT, capture_output=True, text=True, timeout=3600)
            seconds = time.perf_counter() - started
            events = self.dbs.log_position()
            text = (p.stdout + p.stderr).strip().splitlines()
            said = text[-1] if text else ""
            # the command's own time (without the interpreter's start and imports)
            own = re.search(r"in ([\d.]+) s", said) or re.search(r"\(([\d.]+) s\)", said)
            own_s = float(own.group(1)) if own else seconds
            out[command] = {"exit": p.returncode, "seconds": own_s, "wall_s": seconds, "events": events,
                            "events_per_s": events / own_s, "said": said, "load": load()}
            say(f"   {command} of the declarations log: {events:,} events in {own_s:.1f} s = "
                f"{events / own_s:,.0f} events/s ({seconds:.1f} s with the process start), exit {p.returncode}: "
                f"{said[:160]} (load {load():.1f})")
        return out

    def residents_rebuild(self):
        """Residents has no rebuild command: stop it, empty its roster and set
        its checkpoint to 0, start it and time its catch-up from the log."""
        target = self.dbs.log_position()
        # Residents catches up from the log (events_after) faster than the
        # relay publishes; restarted from 0 it takes every message the relay
        # still sends as a gap to fill from 0 (hundreds of thousands of
        # events per message). So first let the relay finish publishing.
        relay_behind = target - self.dbs.relay_position()
        started = time.perf_counter()
        while self.dbs.relay_position() < target and time.perf_counter() - started < 900:
            if STOP.is_set():
                raise Stopped()
            time.sleep(0.5)
        say(f"   the relay was {relay_behind:,} events behind the log; it published them in "
            f"{time.perf_counter() - started:.1f} s" + ("" if self.dbs.relay_position() >= target else
                                                        " (NOT ALL: timeout)"))
        self.suite.stop_process("residents")
        conn = self.dbs.conn("residents")
        # The roster queue still holds every event the relay published that
        # the catch-up applied ahead of it: the log has them all: purge.
        queued = purge_queue(self.suite, PLATFORM_QUEUES["residents"])
        time.sleep(2)
        purge_queue(self.suite, PLATFORM_QUEUES["residents"])
        say(f"   residents' queue held about {queued} messages (management stats): purged")
        tables = [t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                  if t not in ("alembic_version", "residents_checkpoint")]
        with conn.transaction():  # every table of the projection (the roster, histories, unit versions...)
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables))
            conn.execute("UPDATE residents_checkpoint SET position = 0")
        say(f"   residents stopped; emptied {', '.join(tables)}; checkpoint set to 0; started again")
        started = time.perf_counter()
        self.suite.start_process("residents")
        moved = wait_roster(self.dbs, 1, timeout=120)  # the process start and the first catch-up
        moved_at = time.perf_counter()
        seconds = wait_roster(self.dbs, target, timeout=min(self.args.residents_rebuild_timeout,
                                                            max(self.time_left(), 60)))
        elapsed = time.perf_counter() - started
        applying = time.perf_counter() - moved_at
        applied = wait_roster.last
        out = {"events": target, "applied": applied, "seconds": elapsed, "complete": seconds is not None,
               "events_per_s": applied / elapsed, "apply_events_per_s": applied / max(applying, 1e-9),
               "start_s": moved, "load": load()}
        say(f"   residents' rebuild from 0: {applied:,} of {target:,} events in {elapsed:.1f} s = "
            f"{applied / elapsed:,.0f} events/s from the restart; {applied / max(applying, 1e-9):,.0f} events/s "
            f"from its first applied event ({moved if moved is None else round(moved, 1)} s after the restart)"
            + ("" if seconds is not None else " (STOPPED at the timeout)") + f" (load {load():.1f})")
        return out

    # the run
    def run(self):
        self.admin = self.suite.login("admin", suites.ADMIN_PASSWORD)
        say(f"city of {self.args.persons:,} persons in {len(self.units)} units "
            f"(largest {self.units[0].size:,}; sizes p50 {statistics.median(u.size for u in self.units):,.0f}, "
            f"max of the rest {max([u.size for u in self.units[1:]] or [0]):,}); "
            f"checkpoints {', '.join(f'{c:,}' for c in self.checkpoints())}")
        counts = Counter(u.division_name for u in self.units)
        say("units by division: " + ", ".join(f"{d[1]} {d[0]} {counts[d[1]]}" for d in DIVISIONS))
        marks = self.checkpoints()
        for n, mark in enumerate(marks):
            city = self.enrolled + getattr(self, "enrolled_extra", 0)
            result = self.results[mark] = {"persons_target": mark}
            try:
                self.check_time(f"fill to {mark:,}")
                upto = max(self.enrolled, min(self.args.persons, self.enrolled + (mark - city)))
                lo = self.enrolled
                say(f"== fill to {mark:,} persons: enrolment of persons {lo:,}..{upto - 1:,} "
                    f"({self.args.uploaders} uploads at once, at most {self.args.file_rows:,} rows a file)")
                roster_before = self.dbs.roster_position()
                rows, first, last, files = self.enrol_segment(upto)
                declared = last - first if rows else 0
                say(f"   enrolment: {rows:,} rows in {files} files declared in {declared:.1f} s = "
                    f"{rows / max(declared, 1e-9):,.0f} rows/s (first upload to last batch done; load {load():.1f}); "
                    f"{self.counters.take()}")
                history = self.history_segment(lo, upto)
                for kind in ("transfers", "suspensions"):
                    k_rows, k_seconds, k_files = history[kind]
                    say(f"   {kind}: {k_rows:,} rows in {k_files} files in {k_seconds:.1f} s = "
                        f"{k_rows / max(k_seconds, 1e-9):,.0f} rows/s")
                say(f"   changes: {history['changes'][0]:,} single POSTs in {history['changes'][1]:.1f} s; "
                    f"{self.counters.take()}")
                wait = self.wait_roster_current("after the fill")
                total_rows = rows + history["transfers"][0] + history["suspensions"][0] + history["changes"][0]
                span = time.time() - first
                result["fill"] = {"rows": rows, "seconds": declared, "rows_per_s": rows / max(declared, 1e-9),
                                  "all_rows": total_rows, "through_roster_s": span,
                                  "through_roster_rows_per_s": total_rows / max(span, 1e-9),
                                  "roster_wait_s": wait, "load": load()}
                result["history"] = history
                result["persons"] = self.enrolled + getattr(self, "enrolled_extra", 0)
                result["events"] = self.dbs.log_position()
                result["relay_behind"] = result["events"] - self.dbs.relay_position()
                say(f"   the roster has applied the whole log (catching up from the log itself); the relay "
                    f"has {result['relay_behind']:,} events still to publish")
                say(f"== checkpoint {mark:,}: {result['persons']:,} persons, {result['events']:,} events in the log; "
                    f"fill {rows / max(declared, 1e-9):,.0f} enrolment rows/s declared, all {total_rows:,} rows "
                    f"through to the rosters at {total_rows / max(span, 1e-9):,.0f} rows/s (load {load():.1f})")
                if self.args.analyze:
                    started = time.perf_counter()
                    for service in suites.SERVICES:
                        self.dbs.conn(service).execute("ANALYZE")
                    say(f"   ANALYZE of every service database ({time.perf_counter() - started:.1f} s): "
                        "autovacuum is off on this box's server")
                procs.wait_idle([p.pid for p in self.suite.procs.values()], timeout=60, busy_share=0.3)
                self.check_time("reads")
                result["reads"] = self.measure_reads(self.args.samples)
                self.check_time("export")
                result["export"] = self.measure_export()
                last_mark = n == len(marks) - 1
                if self.args.plans and last_mark:
                    self.check_time("plans")
                    result["plans"] = self.plans()
                if not self.args.no_peak:
                    for k in (8, 32):
                        self.check_time(f"peak {k}")
                        result[f"peak{k}"] = self.peak(k)
                if self.args.rebuild == "all" or (self.args.rebuild == "last" and last_mark):
                    self.check_time("rebuild")
                    self.wait_roster_current("before the rebuild")
                    result["rebuild"] = self.rebuild()
                if self.args.residents_rebuild == "all" or (self.args.residents_rebuild == "last" and last_mark):
                    self.check_time("residents rebuild")
                    self.wait_roster_current("before the residents rebuild")
                    result["residents_rebuild"] = self.residents_rebuild()
            except OutOfTime as exc:
                say(f"OUT OF TIME (--max-minutes {self.args.max_minutes}) at: {exc}; the rest is skipped")
                result["stopped"] = str(exc)
                break
        return self.results

    def plans(self):
        from bench import city_plans

        big, here, created = self.sample()
        i = here[len(here) // 2]
        batch = self.client.call("GET", "/api/batches?page=1&size=1", big.token).json()
        items = batch.get("items") or []
        rng = random.Random(5)
        index = process_index()  # stream ids: "p:" + the blind index (services/declarations/sealing.py)
        ids = ["p:" + index.cert_no("01", self.people.cert_no(j))
               for j in rng.sample(range(self.enrolled), min(5000, self.enrolled))]
        sample = {"unit_id": big.id, "other_unit_id": created[-1].id, "token": big.token,
                  "cert_no": self.people.cert_no(i), "name": self.people.name(i),
                  "batch_no": items[0]["batch_no"] if items else None, "position": self.dbs.log_position(),
                  "stream_ids": ids}
        started = time.perf_counter()
        seqs = city_plans.collect(self.dbs.urls, sample, self.args.plans)
        say(f"   EXPLAIN (ANALYZE, BUFFERS) of the request-path queries written to {self.args.plans} "
            f"({time.perf_counter() - started:.1f} s); sequential scans: "
            + ("; ".join(f"[{s}] {label}: {table} (~{n:,} rows)" for s, label, table, n in seqs
                         if n >= city_plans.SMALL) or f"none of a table of {city_plans.SMALL:,} rows or more"))
        return [list(s) for s in seqs]


def purge_queue(suite, queue):
    """Empty `queue` on the suite's vhost (RabbitMQ management API); returns
    how many messages it held."""
    vhost = suite.env["AMQP_URI"].rsplit("/", 1)[1]
    url = f"{suites.MANAGEMENT}/api/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}"
    held = requests.get(url, timeout=10).json().get("messages", 0)
    requests.delete(url + "/contents", timeout=10)
    return held


# -- the summary ----------------------------------------------------------------------

def verdict(ok):
    return "PASS" if ok else "FAIL"


def summary(results, args):
    marks = [m for m in sorted(results) if "reads" in results[m]]
    print("\n======== bench_city summary", flush=True)
    print(f"persons {args.persons:,}, checkpoints {', '.join(f'{m:,}' for m in sorted(results))}; "
          f"load now {load():.1f}")
    print("\n" + f"{'persons (incl. earlier peaks)':32s}" + "".join(f"{results[m].get('persons', m):>22,}" for m in marks))
    def row(label, fn):
        cells = []
        for m in marks:
            try:
                cells.append(f"{fn(results[m]):>22}")
            except (KeyError, TypeError, ValueError):
                cells.append(f"{'-':>22}")
        print(f"{label:32s}" + "".join(cells))
    row("fill rows/s (declared)", lambda r: f"{r['fill']['rows_per_s']:,.0f}")
    row("fill rows/s (to rosters)", lambda r: f"{r['fill']['through_roster_rows_per_s']:,.0f}")
    for name in READS:
        row(f"{name} p50/p99 ms", lambda r, n=name: f"{r['reads'][n]['p50']:.0f} / {r['reads'][n]['p99']:.0f}")
    row("export s / residents MB", lambda r: f"{r['export']['seconds']:.1f} / {r['export']['peak_mb']['residents']:.0f}")
    for k in (8, 32):
        row(f"peak {k}: rows/s", lambda r, k=k: f"{r[f'peak{k}']['rows_per_s']:,.0f}")
        row(f"peak {k}: 409s, first-try ok", lambda r, k=k: f"{r[f'peak{k}']['conflicts']}, {r[f'peak{k}']['accepted_first_time']}/{r[f'peak{k}']['units']}")
        row(f"peak {k}: unit/roster p99", lambda r, k=k: f"{r[f'peak{k}']['reads']['GET /api/unit']['p99']:.0f} / {r[f'peak{k}']['reads']['roster page']['p99']:.0f}")
        row(f"peak {k}: roster lag s", lambda r, k=k: "not current" if r[f"peak{k}"]["roster_lag_s"] is None else f"{r[f'peak{k}']['roster_lag_s']:.1f}")
    row("rebuild events/s", lambda r: f"{r['rebuild']['rebuild']['events_per_s']:,.0f}")
    row("verify events/s", lambda r: f"{r['rebuild']['verify']['events_per_s']:,.0f}")
    row("residents rebuild ev/s", lambda r: f"{r['residents_rebuild']['apply_events_per_s']:,.0f}" + ("" if r['residents_rebuild']['complete'] else " (partial)"))

    print("\ntargets (issue 14, point 7):")
    last = results[marks[-1]] if marks else {}
    def line(name, ok, detail):
        print(f"  {verdict(ok) if ok is not None else 'n/a '}  {name}: {detail}")
    p32 = last.get("peak32")
    line("32 concurrent 5,000-row uploads all accepted at >= 10,000 rows/s",
         None if not p32 else (p32["accepted_first_time"] == p32["units"] and p32["rows_per_s"] >= TARGETS["peak_rows_per_s"]),
         "not measured" if not p32 else f"{p32['accepted_first_time']}/{p32['units']} accepted without a retry "
         f"({p32['conflicts']} 409s), {p32['rows_per_s']:,.0f} rows/s")
    p8 = last.get("peak8")
    if p8:
        worst = max(v["p99"] for v in p8["reads"].values())
        line("reads p99 during the 8-unit peak <= 250 ms", worst <= TARGETS["peak_read_p99_ms"] and p8["read_errors"] == 0,
             ", ".join(f"{k} {v['p99']:.0f} ms" for k, v in p8["reads"].items()) + f", {p8['read_errors']} errors")
        lag = p8["roster_lag_s"]
        line("roster current <= 10 s after the 8-unit peak", lag is not None and lag <= TARGETS["roster_lag_s"],
             "not current" if lag is None else f"{lag:.1f} s (32-unit peak: "
             + ("not current" if not p32 or p32["roster_lag_s"] is None else f"{p32['roster_lag_s']:.1f} s") + ")")
    else:
        line("reads p99 during the 8-unit peak <= 250 ms", None, "not measured")
        line("roster current <= 10 s after the peak", None, "not measured")
    if len(marks) >= 2:
        first, final = results[marks[0]], results[marks[-1]]
        growth = {n: final["reads"][n]["p99"] / first["reads"][n]["p99"] for n in READS}
        line(f"each read's p99 at {final.get('persons', marks[-1]):,} within 1.5x of its p99 at {first.get('persons', marks[0]):,}",
             all(g <= TARGETS["read_growth"] for g in growth.values()),
             ", ".join(f"{n} x{g:.2f}" for n, g in growth.items()))
    else:
        line("each read's p99 at 2,000,000 within 1.5x of 100,000", None, "one checkpoint only")
    rb = last.get("rebuild")
    line("rebuild >= 20,000 events/s on PostgreSQL", None if not rb else rb["rebuild"]["events_per_s"] >= TARGETS["rebuild_events_per_s"],
         "not measured" if not rb else f"{rb['rebuild']['events_per_s']:,.0f} events/s of {rb['rebuild']['events']:,} "
         f"(verify {rb['verify']['events_per_s']:,.0f} events/s, exit {rb['verify']['exit']})")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.bench_city", description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=2_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 persons, 100 reads each")
    parser.add_argument("--checkpoints", default=",".join(map(str, CHECKPOINTS)))
    parser.add_argument("--samples", type=int, default=200, help="requests per read and checkpoint")
    parser.add_argument("--uploaders", type=int, default=6, help="files uploaded at once during the fill")
    parser.add_argument("--file-rows", type=int, default=10_000, help="rows per fill file (<= MAX_UPLOAD_ROWS)")
    parser.add_argument("--plans", help="write EXPLAIN (ANALYZE, BUFFERS) of the request-path queries here")
    parser.add_argument("--no-peak", action="store_true")
    parser.add_argument("--analyze", action="store_true",
                        help="ANALYZE the databases after each fill, as autovacuum would (it is off on the "
                             "development box's server)")
    parser.add_argument("--rebuild", choices=("all", "last", "none"), default="all",
                        help="rebuild + verify of the declarations log at every checkpoint, the last, or none")
    parser.add_argument("--residents-rebuild", choices=("all", "last", "none"), default="all")
    parser.add_argument("--roster-timeout", type=float, default=1800, help="seconds to wait for the roster")
    parser.add_argument("--residents-rebuild-timeout", type=float, default=1200)
    parser.add_argument("--instances", default="", help="NAME=COUNT,... of Procfile lines (e.g. batches=2)")
    parser.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the suite")
    parser.add_argument("--max-minutes", type=float, default=300)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.quick:
        args.persons = min(args.persons, 100_000)
        args.samples = min(args.samples, 100)
    args.checkpoints = [int(c) for c in args.checkpoints.split(",") if c.strip()]
    args.seed = args.seed if args.seed is not None else random.randrange(1, 10**9)
    instances = {k: int(v) for k, v in (p.split("=") for p in args.instances.split(",") if p)}
    env = {"LOGIN_RATE_PER_ACCOUNT": "100000", "LOGIN_RATE_PER_ADDRESS": "100000"}
    env.update(dict(e.split("=", 1) for e in args.env))

    def stop(signum, frame):
        STOP.set()
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, stop)
    say(f"bench_city: {args.persons:,} persons, seed {args.seed}, env {env}, instances {instances or 'default'} "
        f"(load {load():.1f})")
    started = time.perf_counter()
    results = {}
    try:
        with city_suite(env, instances) as suite:
            say(f"suite on PostgreSQL up at {suite.url} in {time.perf_counter() - started:.0f} s: "
                f"{', '.join(suite.procs)}")
            city = City(args, suite)
            results = city.results  # filled as the run goes (also shown when interrupted)
            try:
                city.run()
            except BaseException:
                STOP.set()
                for name in suite.procs:
                    if name != "gateway":
                        print(suite.log_tail(name, 15), file=sys.stderr)
                raise
            finally:
                city.dbs.close()
    except KeyboardInterrupt:
        STOP.set()
        say("interrupted: the suite, its databases and vhost were removed")
        if results:
            summary(results, args)
        return 130
    summary(results, args)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "results": results}, f, ensure_ascii=False, indent=1, default=str)
    say(f"bench_city done in {(time.perf_counter() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
