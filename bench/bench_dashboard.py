"""The campaign dashboard at city scale: p50/p99 of each level of
GET /api/admin/dashboard (and its daily chart and export) beside the same
gateway's /healthz measured in the same run.

    python -m bench.bench_dashboard [--persons 2000000] [--units 2500] [--requests 100] [--quick]
                                    [--database sqlite|postgresql] [--keep] [--rebuild-template]
                                    [--drop-template] [--build-only] [--baseline DIR]

Builds the declarations database of a city before starting anything: the
units of bench/city_data.py (sizes skewed, most 500-3,000, over the 12
divisions, about eight 乡镇/街道 each) placed as auth's unit feed would
place them (campaign/placing.apply_changes), 1% of them moved to another
division half-way through the log; a log of `--persons` new enrolments
decided by the domain (services/declarations/domain.decide_many, as
bench_rebuild does) from 1 January of last year to today, most of them in
the campaigns (1 Sep-31 Dec), then 5% transfers and 5% suspensions in the
last ten days; ten finished batches per unit with failure reasons; a target
per unit. The projections, the campaign ones included, are then written by
`rebuild` (the code of `python -m services.declarations.cli rebuild`,
folding with projection.Fold as the live path does); its events/s are
printed. The relay's checkpoint is put at the log's end (nothing to
publish).

The city is built into a SQLite file or a PostgreSQL database
(`--database`); with --keep it is kept as a template (bench/out/ or the
database edt_bench_dashboard_<persons>_<units>) and later runs of the same
size start from a copy of it (CREATE DATABASE ... TEMPLATE); each measured
run has its own copy. --baseline DIR measures first the declarations
service of another checkout (`git archive <commit> | tar -x -C DIR`) on
its own copy, then this code's: before and after in one run.

Then auth, declarations and the gateway start (tests/suite.py, a private
vhost; the other services on SQLite; residents and the batch workers are
not needed) and one
client asks, one request after the other, --requests times each: /healthz,
the city level, the largest division's streets, its largest street's units,
every unit of the largest division (sorted by completion), the whole city's
units (page of 50, sorted by completion), the daily chart and the city
export. With the log quiet, answers after the first come from the
declarations service's facts cache (valid while nothing they were read from
changed); then the dashboard levels are asked again with one enrolment
appended through the declaring use case before each request, as during the
campaign. Target: p99 <= 200 ms for each dashboard level. The load
average (1 / 5 / 15 min) is printed with each phase.
"""
import argparse
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from bench.city_data import CITY, plan_units
from common.db import make_engine
from common.protect.runtime import protection
from services.declarations import declaring, domain, rebuild, sealed, sealing
from services.declarations.campaign import placing
from services.declarations.domain import ENROL, SUSPEND, Command
from services.declarations.eventlog import EVENT_COLUMNS, recorder
from services.declarations.models import Base, Batch, Event, RelayState, UnitPlacement, UnitTarget
from services.declarations.relay_store import RELAY
from services.declarations.store import DeclarationsStore
from tests.factories import enrolment, id_number
from tests.suite import ADMIN_PASSWORD, POSTGRES_ADMIN_URL, ROOT, Suite, Vhost

TZ = ZoneInfo("Asia/Shanghai")
TARGET_MS = 200
REASONS = ["公民身份号码：校验位不正确", "联系电话：应为11位手机号码", "人员类别：与年龄不符",
           "姓名：与该证件号码的参保登记信息不一致，请核对", "该人员已在本单位正常参保"]


def say(text):
    print(text, flush=True)


def street_of(unit):
    match = re.match(rf"{CITY}{unit.division_name}(.+?(?:街道|镇|乡))", unit.name)
    return match.group(1) if match else "城区"


def person_data(i):
    cert = id_number(i)
    born = cert[6:14]
    return {"cert_type": "01", "cert_no": cert, "name": "测试" + "甲乙丙丁戊己庚辛壬癸"[i % 10],
            "gender": "1" if int(cert[16]) % 2 else "2", "birth_date": f"{born[:4]}-{born[4:6]}-{born[6:]}",
            "nation": "01", "category": "11", "phone": f"139{i % 10 ** 8:08d}", "hukou_address": None,
            "address": None, "remark": None}


def enrolment_times(count, today, rng):
    """Sorted instants from 1 January last year to today, 85% of them in the
    two campaigns (the current one up to today)."""
    last = today.year - 1
    windows = [(date(last, 1, 1), date(last, 8, 31), 0.10), (date(last, 9, 1), date(last, 12, 31), 0.55),
               (date(today.year, 1, 1), date(today.year, 8, 31), 0.05),
               (date(today.year, 9, 1), today - timedelta(days=10), 0.30)]
    out = []
    for start, end, share in windows:
        if end < start:
            continue
        span = (datetime(end.year, end.month, end.day, 20, tzinfo=TZ)
                - datetime(start.year, start.month, start.day, 8, tzinfo=TZ)).total_seconds()
        base = datetime(start.year, start.month, start.day, 8, tzinfo=TZ)
        out += [base + timedelta(seconds=rng.random() * span) for _ in range(int(count * share) + 1)]
    out.sort()
    return [t.astimezone(UTC) for t in out[:count]]


def append_rows(engine, events):
    """Events with their positions into the log in one statement (COPY on
    PostgreSQL), bypassing the append lock: the city is built before
    anything runs."""
    p = protection(engine)  # the person fields go in sealed, as the store appends them
    with engine.begin() as conn:
        recorder(conn).bulk_insert(Event.__table__, [{c: (sealing.seal(p, e[c]) if c == "data" else e[c])
                                                      for c in EVENT_COLUMNS} for e in events])


def fill(engine, units, persons, today, rng, chunk=20_000):
    """Append the city's log; returns (events, positions at which 1% of the units moved)."""
    refs = {u.id: {"id": u.id, "name": u.name, "credit_code": u.credit_code} for u in units}
    weights, ids = [u.size for u in units], [u.id for u in units]
    times = enrolment_times(persons, today, rng)
    later = set(rng.sample(range(persons), persons // 10))  # transferred or suspended at the end
    kept, position = {}, 0
    p = protection(engine)
    with engine.begin() as conn:
        position = conn.scalar(select(func.max(Event.position))) or 0
    for start in range(0, persons, chunk):
        end = min(persons, start + chunk)
        owners = rng.choices(ids, weights, k=end - start)
        commands = [Command(ENROL, refs[owners[k - start]], person_data(k), {"actor": "bench"})
                    for k in range(start, end)]
        streams = {c.key: sealing.new_stream_id(p, *c.key) for c in commands}
        outcomes, states = domain.decide_many(commands, {}, refs, times[start], times[start].date(),
                                              streams=streams)
        events = [o for o in outcomes if isinstance(o, dict)]
        for k, event in zip(range(start, end), events, strict=True):
            position += 1
            event["position"], event["occurred_at"] = position, times[k]
            if k in later:
                kept[event["stream_id"]] = states[event["stream_id"]]
        append_rows(engine, events)
        if start // chunk % 10 == 0:
            say(f"  {end:,} enrolments appended")
    # the last ten days: half of `later` transferred to another unit, half suspended
    moment = datetime.combine(today - timedelta(days=10), datetime.min.time(), TZ).astimezone(UTC)
    step = timedelta(days=10) / max(len(kept), 1)
    commands = []
    for n, state in enumerate(kept.values()):
        if n % 2:
            commands.append(Command(ENROL, refs[rng.choice(ids)], state["person"] | {
                "cert_type": state["cert_type"], "cert_no": state["cert_no"], "remark": None}, {"actor": "bench"}))
        else:
            commands.append(Command(SUSPEND, refs[state["unit_id"]], {
                "cert_type": state["cert_type"], "cert_no": state["cert_no"], "name": state["person"]["name"],
                "reason": "03", "remark": None}, {"actor": "bench"}))
    for start in range(0, len(commands), chunk):
        part = commands[start:start + chunk]
        streams = {c.key: sealing.new_stream_id(p, *c.key) for c in part}
        outcomes, _ = domain.decide_many(part, {sid: kept[sid] for sid in streams.values()},
                                         refs, moment, moment.date(), streams=streams)
        events = [o for o in outcomes if isinstance(o, dict)]
        for event in events:
            position += 1
            moment += step
            event["position"], event["occurred_at"] = position, moment
        append_rows(engine, events)
    return position


def place(engine, units, now):
    """unit_refs and placements as auth's unit feed would make them."""
    feed = [{"seq": i + 1, "unit_id": u.id, "name": u.name, "credit_code": u.credit_code, "account": u.account,
             "division": u.division, "street": street_of(u), "disabled": False} for i, u in enumerate(units)]
    with Session(engine) as session:
        placing.apply_changes(session, feed, now - timedelta(days=400))
        session.commit()


def batches_and_targets(engine, units, today, rng):
    rows, targets = [], []
    year = today.year
    for u in units:
        targets.append({"year": year, "unit_id": u.id, "target": int(u.size * rng.uniform(0.9, 1.3)),
                        "set_by": "bench", "set_at": datetime.now(UTC)})
        for n in range(10):
            day = today - timedelta(days=rng.randrange(90))
            at = datetime(day.year, day.month, day.day, 10, tzinfo=TZ).astimezone(UTC)
            failed = rng.randrange(0, 30)
            rows.append({"batch_no": f"B{u.id:05d}{n:02d}", "unit_id": u.id, "business_type": "enrolment",
                         "submitted_at": at, "file_name": "参保名单.xlsx", "file_sha256": f"{u.id:032d}{n:032d}",
                         "total": 500, "succeeded": 500 - failed, "failed": failed,
                         "failures": sealed.seal(engine, sealed.BATCH_FAILURES, [
                             {"row": r + 2, "cert_no": "", "name": "", "reason": rng.choice(REASONS)}
                             for r in range(failed)]),
                         "status": "done", "rows_read": 500, "rows_decided": 500, "finished_at": at,
                         "attempts": 1})
    with engine.begin() as conn:
        conn.execute(insert(Batch.__table__), rows)
        conn.execute(insert(UnitTarget.__table__), targets)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def measure(session, url, token, count, between=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    times = []
    for _ in range(count):
        if between:
            between()
        started = time.perf_counter()
        r = session.get(url, headers=headers, timeout=60)
        times.append((time.perf_counter() - started) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {r.status_code} {r.text[:300]}")
    return percentile(times, 50), percentile(times, 99)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.bench_dashboard")
    parser.add_argument("--persons", type=int, default=2_000_000)
    parser.add_argument("--units", type=int, default=2500, help="at most persons/2,000 come from city_data's sizes")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="200,000 persons, 40 requests")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="the declarations service's engine (the other services stay on SQLite)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the built city as a template (SQLite: bench/out/dashboard-city-P-U.db; "
                             "PostgreSQL: database edt_bench_dashboard_P_U) and start from it when it exists")
    parser.add_argument("--rebuild-template", action="store_true", help="build the kept city again")
    parser.add_argument("--drop-template", action="store_true", help="drop the kept city at the end")
    parser.add_argument("--build-only", action="store_true", help="build the city (kept with --keep), measure nothing")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also measure the declarations service of another checkout (e.g. `git archive` "
                             "of an earlier commit), first, on its own copy of the city")
    args = parser.parse_args(argv)
    if args.quick:
        args.persons, args.requests = 200_000, 40
    rng = random.Random(15)
    today = datetime.now(TZ).date()
    now = datetime.now(UTC)
    units = plan_units(max(args.persons, args.units * 2000), 15, "bench")[:args.units]
    for n, u in enumerate(units, start=1):
        u.id = n
    moved = rng.sample(units, max(1, len(units) // 100))
    say(f"bench_dashboard: {len(units):,} units, {args.persons:,} persons, declarations on {args.database}, "
        f"{loads()}")
    city = City(args.database, args.persons, len(units))
    with tempfile.TemporaryDirectory(prefix="edt-dashboard-") as workdir:
        if args.keep and city.exists() and not args.rebuild_template:
            say(f"starting from the kept city {city.name if args.database == 'postgresql' else city.path}")
        else:
            city.drop()
            build(city.create(workdir), units, moved, args.persons, today, now, rng)
        runs = ([("baseline " + args.baseline, args.baseline)] if args.baseline else []) + [("this code", ROOT)]
        if args.build_only:
            runs = []
        try:
            for label, code in runs:
                url = city.copy(workdir)
                try:
                    say(f"\n== {label}: {url.rsplit('/', 1)[-1]}")
                    run(workdir, url, units, moved, args.requests, today, code)
                finally:
                    city.drop_copy(url)
        finally:
            if not args.keep or args.drop_template:
                city.drop()


def loads():
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f}"


class City:
    """Where the built city is kept: a SQLite file or a PostgreSQL database,
    and the copies each measured run starts from."""

    def __init__(self, engine, persons, units):
        self.engine = engine
        self.name = f"edt_bench_dashboard_{persons}_{units}"
        self.path = os.path.join(ROOT, "bench", "out", f"dashboard-city-{persons}-{units}.db")

    def _admin(self, sql):
        from sqlalchemy import create_engine, text

        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                result = conn.execute(text(sql))
                return result.scalar() if result.returns_rows else None
        finally:
            admin.dispose()

    def _url(self, name):
        return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    def exists(self):
        if self.engine == "postgresql":
            return bool(self._admin(f"SELECT count(*) FROM pg_database WHERE datname = '{self.name}'"))
        return os.path.exists(self.path)

    def create(self, workdir):
        if self.engine == "postgresql":
            self._admin(f'CREATE DATABASE "{self.name}"')
            return self._url(self.name)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        return f"sqlite:///{self.path}"

    def drop(self):
        if self.engine == "postgresql":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        elif os.path.exists(self.path):
            os.remove(self.path)

    def copy(self, workdir):
        started = time.perf_counter()
        if self.engine == "postgresql":
            name = f"edt_bench_dashboard_run_{os.getpid()}"
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
            url = self._url(name)
        else:
            path = os.path.join(workdir, "declarations.db")
            shutil.copyfile(self.path, path)
            url = f"sqlite:///{path}"
        say(f"city copied in {time.perf_counter() - started:.0f} s")
        return url

    def drop_copy(self, url):
        if self.engine == "postgresql":
            self._admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[-1]}" WITH (FORCE)')
        else:
            os.remove(url.removeprefix("sqlite:///"))


def build(url, units, moved, persons, today, now, rng):
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    started = time.perf_counter()
    place(engine, units, now)
    last = fill(engine, units, persons, today, rng)
    place_moves(engine, units, moved, last // 2, now)
    batches_and_targets(engine, units, today, rng)
    seconds = time.perf_counter() - started
    say(f"log of {last:,} events appended in {seconds:.0f} s ({persons / seconds:,.0f} persons/s; {loads()})")
    started = time.perf_counter()
    count = rebuild.rebuild(engine, TZ)
    seconds = time.perf_counter() - started
    say(f"rebuild (campaign projections included): {count:,} events in {seconds:.1f} s "
        f"({count / seconds:,.0f} events/s; {loads()})")
    with engine.begin() as conn:
        conn.execute(insert(RelayState.__table__).values(name=RELAY, position=last, updated_at=now))
    if engine.dialect.name == "postgresql":  # statistics for the planner (copied with the template)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


class Writer:
    """Appends one enrolment of a new person through the declaring use case
    (the live path: event and projections in one transaction), as a unit of
    the city would during the campaign."""

    def __init__(self, url, units):
        self.engine = make_engine(url)
        self.session = Session(self.engine)
        self.store = DeclarationsStore(self.session)
        self.units = units
        self.next = 50_000_000

    def __call__(self):
        u = random.choice(self.units)
        self.next += 1
        declaring.declare(self.store, "enrol", {"id": u.id, "name": u.name, "credit_code": u.credit_code},
                          {"account": "bench"}, enrolment(self.next), datetime.now(UTC), TZ)

    def close(self):
        self.session.close()
        self.engine.dispose()


def place_moves(engine, units, moved, half, now):
    """`moved` units move to the next division; the move holds after
    position `half` (recorded half-way through the log)."""
    others = sorted({u.division for u in units})
    feed = [{"seq": 10_000_000 + i, "unit_id": u.id, "name": u.name, "credit_code": u.credit_code,
             "account": u.account, "division": others[(others.index(u.division) + 1) % len(others)],
             "street": "迁入街道", "disabled": False} for i, u in enumerate(moved)]
    with Session(engine) as session:
        placing.apply_changes(session, feed, now - timedelta(days=5))
        session.execute(update(UnitPlacement).where(UnitPlacement.seq >= 10_000_000).values(after_position=half))
        session.commit()


class BenchSuite(Suite):
    """The suite with the declarations service started from the checkout
    `code` (the baseline's or this one)."""

    def __init__(self, *args, code=ROOT, **kwargs):
        super().__init__(*args, **kwargs)
        self.code = code

    def start_process(self, name):
        if name != "declarations" or self.code == ROOT:
            return super().start_process(name)
        log = open(os.path.join(self.workdir, f"{name}.log"), "ab")
        self.logs[name] = log
        self.procs[name] = subprocess.Popen(
            shlex.split(self.commands[name]), cwd=self.code,
            env={**self.env, **self.process_env.get(name, {}), "PYTHONPATH": self.code},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def run(workdir, url, units, moved, count, today, code=ROOT):
    by_division = {}
    for u in units:
        by_division.setdefault(u.division, []).append(u)
    division = max(by_division, key=lambda d: len(by_division[d]))
    streets = {}
    for u in by_division[division]:
        if u not in moved:
            streets[street_of(u)] = streets.get(street_of(u), 0) + 1
    street = max(streets, key=streets.get)
    with Vhost() as vhost:
        suite = BenchSuite(vhost.uri, workdir, {"DECLARATIONS_DATABASE_URL": url}, code=code)
        try:
            subprocess.run([sys.executable, os.path.join(ROOT, "deploy", "bootstrap.py")], env=suite.env,
                           cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            for name in ("auth", "declarations", "gateway"):
                suite.start_process(name)
            deadline = time.time() + 180
            while True:
                try:
                    if requests.get(f"{suite.url}/healthz", timeout=2).status_code == 200:
                        token = suite.login("admin", ADMIN_PASSWORD)
                        if requests.get(f"{suite.url}/api/admin/dashboard", timeout=30,
                                        headers={"Authorization": f"Bearer {token}"}).status_code == 200:
                            break
                except (requests.RequestException, AssertionError):
                    pass
                if time.time() > deadline:
                    raise RuntimeError("suite not ready\n" + "\n".join(suite.log_tail(n) for n in suite.procs))
                time.sleep(1)
            api = f"{suite.url}/api/admin/dashboard"
            cases = [
                ("GET /healthz (baseline)", f"{suite.url}/healthz", None),
                ("city: the 12 divisions", api, token),
                (f"division {division}: its streets", f"{api}?level=division&division={division}", token),
                (f"street {street}: its {streets[street]} units",
                 f"{api}?level=street&division={division}&street={street}", token),
                (f"units of division {division} ({len(by_division[division])}), by completion",
                 f"{api}?level=unit&division={division}&sort=completion&size=50", token),
                (f"every unit of the city ({len(units)}), page of 50 by completion",
                 f"{api}?level=unit&sort=completion&size=50", token),
                ("city as of 30 days ago", f"{api}?as_of={(today - timedelta(days=30)).isoformat()}", token),
                ("daily chart", f"{api}/daily", token),
                ("export of the city (xlsx)", f"{api}/export", token),
            ]
            session = requests.Session()
            results = []
            say(f"{count} requests each, one client, the log quiet (answers from the facts cache after the "
                f"first); {loads()}")
            for label, target, auth in cases:
                measure(session, target, auth, 3)  # warm
                p50, p99 = measure(session, target, auth, count)
                results.append((label, p50, p99))
                say(f"  {label:<60} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
            writer = Writer(url, units)
            busy = []
            say(f"\nthe same, one enrolment appended (live path) before each request, as units declare "
                f"during the campaign; {loads()}")
            try:
                for label, target, auth in cases[:7]:  # /healthz again: the machine at this moment
                    p50, p99 = measure(session, target, auth, max(10, count // 2), between=writer)
                    busy.append((label, p50, p99))
                    say(f"  {label:<60} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
            finally:
                writer.close()
            base, busy_base = results[0][2], busy[0][2]
            say("\ntargets (dashboard levels p99 <= 200 ms):")
            for (label, _, p99), (_, _, busy99) in zip(results[1:7], busy[1:], strict=True):
                verdict = "PASS" if max(p99, busy99) <= TARGET_MS else "FAIL"
                say(f"  {verdict} {label}: p99 {p99:.0f} ms quiet, {busy99:.0f} ms while declaring "
                    f"(/healthz p99 {base:.1f} / {busy_base:.1f} ms)")
            say(f"at the end: {loads()}")
        finally:
            suite.stop()


if __name__ == "__main__":
    sys.exit(main())
