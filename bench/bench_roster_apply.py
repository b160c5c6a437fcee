"""How fast the residents projection applies a peak of events into a city-size
roster, and how the roster use case answers meanwhile (issue 14 point 4).

    python -m bench.bench_roster_apply [--persons 2000000] [--sqlite-persons 200000]
        [--events 40000] [--baseline /tmp/old] [--engines postgresql,sqlite]

The bench measures the apply, not the write path: its own setup pre-fills the
residents projection's tables directly (PostgreSQL: COPY into a template
database `edt_bench_roster_<N>_v<schema>`, kept for the next run unless --drop-template;
SQLite: a template file under bench/out/), with N persons over N/2,000 units
(unit 1 holds 40,000, the largest unit of the city) and one history row each.
Every measured run starts from a fresh copy of the template.

Then a child process (under eventlet, as the service runs) catches up a log
of --events events (about 70% new enrolments, 12% transfers of persons
already on the roster, 10% suspensions, 8% changes; over all units) through
`feed.catch_up`, with the log served from memory in the pages the service
asks for, while a green thread asks `roster.roster` for the first page of
unit 1 (40,000 persons) and `roster.lookup` of one of its persons every 20 ms
on its own session, as the service's RPC workers do. It prints events/s of
the apply and p50/p99/max of those use cases during it (their latency
includes the time they wait for the hub: a long synchronous transaction
shows there). At the end the roster is compared with a fold of the applied
log (persons touched by the peak, and the total of unit 1).

`--baseline DIR` runs the same measurement with the residents code of another
checkout first (e.g. `git worktree add /tmp/old <commit>`): a same-run
before/after pair. The database schema is the current one (a superset), so
the baseline must write every NOT NULL column of it: code from before
`residents.person_id` (issue 17) cannot; run that checkout's own bench
instead (its templates have other names) and compare the two runs.

At city size the PostgreSQL side is mostly WAL: each event changes about six
index and heap pages at random, and the first change of a page after a
checkpoint writes the whole page to the WAL (full_page_writes). `--pg-options
"-c wal_compression=lz4"` shows what the server setting changes.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BIG_UNIT = 1
BIG_UNIT_SIZE = 40_000
T0 = datetime(2023, 1, 1, tzinfo=timezone.utc)
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
NAMES = "甲乙丙丁戊己庚辛壬癸"
# In the templates' names: a template of an older schema is not reused (v2: residents.person_id;
# v3: personal fields encrypted, cert_no_bidx).
TEMPLATE_SCHEMA = "v3"


def cert_no(i):
    """A valid ID number, distinct for each i below 18,000,000."""
    born = date(1950, 1, 1) + timedelta(days=(i // 1000) % 18000)
    body = ("350503", "350502", "350504", "350582")[(i // 18_000_000) % 4] \
        + born.strftime("%Y%m%d") + f"{i % 1000:03d}"
    return body + CHECK[sum(int(c) * w for c, w in zip(body, WEIGHTS)) % 11]


def unit_of(i, persons):
    """Persons 0..39,999 are in unit 1; the rest spread over N/2,000 units."""
    if i < BIG_UNIT_SIZE:
        return BIG_UNIT
    units = max(persons // 2000, 2)
    return 2 + (i % (units - 1))


def person_row(i, persons, protected):
    """A residents row in the order of RESIDENT_COLUMNS, its personal fields
    encrypted with the template database's own data key."""
    from services.residents.store import RESIDENT_COLUMNS

    since = T0 + timedelta(seconds=i)
    number = cert_no(i)
    born = number[6:14]
    index, encrypt = protected.index, protected.fields.encrypt
    values = {
        "cert_type": "01", "cert_no_bidx": index.cert_no("01", number), "unit_id": unit_of(i, persons),
        "name": "居民" + NAMES[i % 10] + NAMES[(i // 10) % 10], "gender": "1" if i % 2 else "2",
        "birth_date": f"{born[:4]}-{born[4:6]}-{born[6:]}", "nation": "01", "category": "11",
        "phone_enc": encrypt("phone", f"139{i % 100_000_000:08d}"),
        "hukou_address_enc": encrypt("hukou_address", "福建省泉州市丰泽区东海街道"),
        "address_enc": encrypt("address", "福建省泉州市丰泽区"), "remark": None, "status": "active",
        "since": since, "status_position": i + 1, "suspension_reason": None, "updated_position": i + 1,
        "person_id": index.person_id("01", number), "cert_no_enc": encrypt("cert_no", number),
    }
    return tuple(values[c] for c in RESIDENT_COLUMNS)


# -- the template databases ---------------------------------------------------

def admin_engine():
    from sqlalchemy import create_engine
    return create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


def database_url(name):
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def pg_exists(name):
    from sqlalchemy import text
    engine = admin_engine()
    with engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
    engine.dispose()
    return bool(found)


def pg_run(sql):
    from sqlalchemy import text
    engine = admin_engine()
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def fill_postgres(name, persons):
    """The template: tables of services/residents/models.py, filled by COPY,
    indexes built after the rows."""
    from common.db import make_engine
    from services.residents.models import Base

    started = time.monotonic()
    pg_run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_run(f'CREATE DATABASE "{name}"')
    engine = make_engine(database_url(name))
    indexes = [i for t in Base.metadata.sorted_tables for i in t.indexes]
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        for index in indexes:
            conn.exec_driver_sql(f"DROP INDEX {index.name}")
    from common.protect.runtime import protection
    from services.residents.store import RESIDENT_COLUMNS
    # The keys the apply's child process uses too (the same environment); the
    # template's own data key, made now and copied with the template.
    protected = protection(engine)
    raw = engine.raw_connection()
    try:
        cur = raw.driver_connection.cursor()
        with cur.copy(f"COPY residents ({', '.join(RESIDENT_COLUMNS)}) FROM STDIN") as copy:
            for i in range(persons):
                copy.write_row(person_row(i, persons, protected))
        with cur.copy("COPY resident_history (position, unit_id, cert_type, cert_no_bidx, kind, event_type, "
                      "event_id, occurred_at, record_id, batch_no, detail, projected_at) FROM STDIN") as copy:
            for i in range(persons):
                at = T0 + timedelta(seconds=i)
                copy.write_row((i + 1, unit_of(i, persons), "01", protected.index.cert_no("01", cert_no(i)),
                                "new_enrolment", "resident_enrolled", f"fill-{i + 1}", at, f"fill-{i + 1}", None,
                                "{}", at))
        cur.execute("INSERT INTO residents_checkpoint (name, position, updated_at, index_key_id) "
                    "VALUES ('declarations', %s, now(), %s)", (persons, protected.index.key_id))
        if _has_table(cur, "residents_unit_versions"):
            cur.execute("INSERT INTO residents_unit_versions (unit_id, position) "
                        "SELECT unit_id, max(position) FROM resident_history GROUP BY unit_id")
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        for index in indexes:
            index.create(conn)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    print(f"  template {name}: {persons:,} persons in {time.monotonic() - started:.0f} s", flush=True)


def _has_table(cur, name):
    cur.execute("SELECT to_regclass(%s)", (name,))
    return cur.fetchone()[0] is not None


def fill_sqlite(path, persons):
    import sqlite3

    from common.db import make_engine
    from services.residents.models import Base

    started = time.monotonic()
    if os.path.exists(path):
        os.remove(path)
    from common.protect.runtime import forget, protection
    from services.residents.store import RESIDENT_COLUMNS

    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    protected = protection(engine)  # the template's own data key, made now
    forget(engine)
    engine.dispose()
    since = RESIDENT_COLUMNS.index("since")
    db = sqlite3.connect(path)
    db.executemany(f"INSERT INTO residents ({', '.join(RESIDENT_COLUMNS)}) VALUES ("
                   + ",".join("?" * len(RESIDENT_COLUMNS)) + ")",
                   ((*r[:since], r[since].isoformat(sep=" "), *r[since + 1:]) for r in
                    (person_row(i, persons, protected) for i in range(persons))))
    db.executemany("INSERT INTO resident_history (position, unit_id, cert_type, cert_no_bidx, kind, event_type, "
                   "event_id, occurred_at, record_id, batch_no, detail, projected_at) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   ((i + 1, unit_of(i, persons), "01", protected.index.cert_no("01", cert_no(i)), "new_enrolment",
                     "resident_enrolled", f"fill-{i + 1}", (T0 + timedelta(seconds=i)).isoformat(sep=" "),
                     f"fill-{i + 1}", None, "{}", (T0 + timedelta(seconds=i)).isoformat(sep=" "))
                    for i in range(persons)))
    db.execute("INSERT INTO residents_checkpoint (name, position, updated_at, index_key_id) VALUES "
               "('declarations', ?, ?, ?)", (persons, T0.isoformat(sep=" "), protected.index.key_id))
    db.execute("INSERT INTO residents_unit_versions SELECT unit_id, max(position) FROM resident_history "
               "GROUP BY unit_id")
    db.commit()
    db.execute("ANALYZE")
    db.close()
    print(f"  template {path}: {persons:,} persons in {time.monotonic() - started:.0f} s", flush=True)


# -- the log of the peak --------------------------------------------------------

def peak_log(persons, count, seed=14):
    """`count` events after position `persons`, consistent with the template
    (every template person active in unit_of(i)) and with one another."""
    from common.events import ENROLLED, INFO_CHANGED, SUSPENDED, TRANSFERRED

    rng = random.Random(seed)
    units = max(persons // 2000, 2) + 1
    touched = rng.sample(range(persons), min(persons, int(count * 0.3) + 10))
    state = {}  # i -> (status, unit)
    events = []
    next_new = persons
    position = persons
    at = T0 + timedelta(seconds=persons + 10)

    def event(type_, i, unit, data):
        nonlocal position, at
        position += 1
        at += timedelta(milliseconds=1)
        cert, name = cert_no(i), "居民" + NAMES[i % 10] + NAMES[(i // 10) % 10]
        events.append({
            "position": position, "event_id": f"peak-{position}", "type": type_, "schema_version": 1,
            "occurred_at": at.isoformat(), "unit": {"id": unit, "name": f"单位{unit}"},
            "person": {"cert_type": "01", "cert_no": cert, "name": name},
            "data": {"cert_type": "01", "cert_no": cert, "name": name, **data},
            "batch_no": f"B{position // 5000}", "record_id": f"peak-{position}",
        })

    def person_data(i):
        born = cert_no(i)[6:14]
        return {"gender": "1" if i % 2 else "2", "birth_date": f"{born[:4]}-{born[4:6]}-{born[6:]}",
                "nation": "01", "category": "11", "phone": f"139{i % 100_000_000:08d}",
                "hukou_address": None, "address": "福建省泉州市丰泽区", "remark": None}

    while len(events) < count:
        roll = rng.random()
        if roll < 0.70 or not touched:
            i, next_new = next_new, next_new + 1
            unit = BIG_UNIT if rng.random() < 0.1 else rng.randrange(2, units)
            state[i] = ("active", unit)
            event(ENROLLED, i, unit, {**person_data(i), "action": "new_enrolment"})
            continue
        i = touched.pop()
        status, unit = state.get(i, ("active", unit_of(i, persons)))
        if roll < 0.82:
            to = rng.randrange(1, units)
            if to == unit:
                to = unit + 1 if unit + 1 < units else 1
            state[i] = ("active", to)
            event(TRANSFERRED, i, to, {**person_data(i), "action": "transfer_in",
                                       "from_unit": {"id": unit}, "to_unit": {"id": to},
                                       "from_status": status})
        elif roll < 0.92:
            state[i] = ("suspended", unit)
            event(SUSPENDED, i, unit, {"reason": "02", "remark": None, "action": "suspend"})
        else:
            event(INFO_CHANGED, i, unit, {"before": {"phone": f"139{i % 100_000_000:08d}"},
                                          "after": {"phone": "13500000000"}, "action": "change"})
    return events, state


# -- one measured run (child process) -----------------------------------------

def child(args):
    """Runs under eventlet with the residents code of `args.code` first on the path."""
    import eventlet
    eventlet.monkey_patch()
    sys.path.insert(0, args.code)
    import inspect
    import warnings
    warnings.filterwarnings("ignore")

    from sqlalchemy.orm import Session

    from common.db import make_engine
    from services.residents import (
        feed,
        roster,
        service,  # noqa: F401 (the process set-up of the service)
    )
    from services.residents.store import RosterStore

    events, state = peak_log(args.persons, args.events)
    import gc
    gc.freeze()  # the log in memory is the bench's, not the service's: keep the collector off it
    engine = make_engine(args.url)
    pages = []

    def fetch(after, limit):
        """declarations.events_after: an RPC, during which the hub runs."""
        pages.append(limit)
        eventlet.sleep(0.002)
        first = after - args.persons
        return {"items": events[first:first + limit], "next_after": after}

    big_cert = cert_no(7)
    today = date(2026, 12, 1)
    latencies = {"roster": [], "lookup": []}
    done = eventlet.event.Event()

    def reader():
        """A request every 20 ms: its latency runs from when it is due (as
        an RPC request arriving then would be) to its answer, so the time it
        waits for the hub while a transaction blocks the process counts."""
        with Session(engine, expire_on_commit=False) as session:
            store = RosterStore(session)
            due = time.perf_counter()
            while True:
                for name, call in (("roster", lambda: roster.roster(store, BIG_UNIT, {}, 1, 20)),
                                   ("lookup", lambda: roster.lookup(store, BIG_UNIT, "01", big_cert, None, today))):
                    call()
                    session.rollback()
                    latencies[name].append((time.perf_counter() - due) * 1000)
                    due = time.perf_counter()
                if done.ready():
                    return
                due += 0.02
                eventlet.sleep(max(due - time.perf_counter(), 0))

    chunk = os.environ.get("BENCH_APPLY_CHUNK")
    if chunk and hasattr(feed, "APPLY_CHUNK"):
        feed.APPLY_CHUNK = int(chunk)
        feed.catch_up.__defaults__ = tuple(int(chunk) if d == 500 else d for d in feed.catch_up.__defaults__)
    with Session(engine, expire_on_commit=False) as warm:
        roster.roster(RosterStore(warm), BIG_UNIT, {}, 1, 20)  # the count cached, as in a running service
    readers = eventlet.spawn(reader)
    eventlet.sleep(0.1)
    with Session(engine, expire_on_commit=False) as session:
        store = RosterStore(session)
        kwargs = {}
        if "pause" in inspect.signature(feed.catch_up).parameters:
            kwargs["pause"] = lambda: eventlet.sleep(0)
        wal_before = wal_position(engine)
        cpu_before, server_before = process_cpu(), server_cpu(engine)
        profile = os.environ.get("BENCH_PROFILE")  # a file for cProfile's stats of the apply
        if profile:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        started = time.perf_counter()
        applied = feed.catch_up(store, fetch, datetime.now(timezone.utc), **kwargs)
        elapsed = time.perf_counter() - started
        if profile:
            profiler.disable()
            profiler.dump_stats(profile)
        cpu = process_cpu() - cpu_before
        server = server_cpu(engine) - server_before if server_before is not None else None
        wal_bytes = wal_position(engine) - wal_before if wal_before is not None else None
    done.send()
    readers.wait()

    # The roster equals a fold of the log: every person the peak touched, and unit 1's total.
    mismatches = 0
    with Session(engine) as session:
        from sqlalchemy import select, tuple_

        from services.residents.models import Resident

        store = RosterStore(session)
        found = {}
        # The person key: the blind index of the number where the roster keeps one.
        number = getattr(Resident, "cert_no_bidx", None) or Resident.cert_no
        key_of = (lambda c: store.index.cert_no("01", c)) if hasattr(Resident, "cert_no_bidx") else (lambda c: c)
        keys = [("01", key_of(cert_no(i))) for i in state]
        for start in range(0, len(keys), 500):
            for row in session.execute(select(number, Resident.status, Resident.unit_id).where(
                    tuple_(Resident.cert_type, number).in_(keys[start:start + 500]))):
                found[row[0]] = (row.status, row.unit_id)
        for i, expected in state.items():
            if found.get(key_of(cert_no(i))) != expected:
                mismatches += 1
        expected_big = sum(1 for i in range(min(args.persons, BIG_UNIT_SIZE)) if state.get(i, (0, BIG_UNIT))[1] == BIG_UNIT)
        expected_big += sum(1 for i, (_s, unit) in state.items() if i >= BIG_UNIT_SIZE and unit == BIG_UNIT)
        total_big = roster.roster(store, BIG_UNIT, {}, 1, 1)["total"]
    engine.dispose()
    print(json.dumps({
        "applied": applied, "seconds": elapsed, "rate": applied / elapsed, "pages": len(pages),
        "roster": summary(latencies["roster"]), "lookup": summary(latencies["lookup"]),
        "mismatches": mismatches, "big_total": total_big, "big_expected": expected_big, "wal_bytes": wal_bytes,
        "cpu": cpu, "server_cpu": server,
    }))


def process_cpu():
    """CPU seconds of this process (the service's share: the apply, and the readers)."""
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu(engine):
    """CPU seconds of the PostgreSQL backends serving this database (local
    server, read from /proc); None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        pids = [p for (p,) in conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None
    return total


def wal_position(engine):
    """The server's WAL position in bytes (PostgreSQL), None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").scalar())


def summary(values):
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(p):
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
    return {"n": len(ordered), "p50": at(50), "p99": at(99), "max": ordered[-1]}


# -- the parent: templates, copies, runs ----------------------------------------

def measure(label, code, url, args, persons):
    command = [sys.executable, os.path.abspath(__file__), "--child", "--code", code, "--url", url,
               "--persons", str(persons), "--events", str(args.events)]
    env = {**os.environ, "PYTHONPATH": code, "PYTHONWARNINGS": "ignore"}
    if args.pg_options and url.startswith("postgresql"):
        env["PGOPTIONS"] = args.pg_options  # e.g. "-c wal_compression=lz4": a server setting, per session
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=code)
    if result.returncode != 0:
        print(f"  {label}: FAILED\n{result.stderr[-3000:]}")
        return None
    out = json.loads(result.stdout.strip().splitlines()[-1])
    check = "roster = fold" if not out["mismatches"] and out["big_total"] == out["big_expected"] else \
        f"MISMATCH ({out['mismatches']} persons, unit 1 {out['big_total']} vs {out['big_expected']})"
    r, lk = out["roster"], out["lookup"]
    print(f"  {label:<28} {out['applied']:>7,} events in {out['seconds']:6.1f} s = {out['rate']:8,.0f} events/s"
          f" | roster page p50 {r.get('p50', 0):7.1f} p99 {r.get('p99', 0):7.1f} max {r.get('max', 0):7.1f} ms"
          f" (n={r['n']}) | lookup p99 {lk.get('p99', 0):7.1f} ms | {check}"
          + (f" | WAL {out['wal_bytes'] / out['applied'] / 1024:.0f} KB/event" if out.get("wal_bytes") else "")
          + f" | CPU per event: this process {out['cpu'] / out['applied'] * 1e6:.0f} µs"
          + (f", PostgreSQL {out['server_cpu'] / out['applied'] * 1e6:.0f} µs" if out.get("server_cpu") else ""),
          flush=True)
    return out


def run_postgres(args):
    persons = args.persons
    template = f"edt_bench_roster_{persons}_{TEMPLATE_SCHEMA}"
    if args.refill or not pg_exists(template):
        fill_postgres(template, persons)
    results = {}
    for label, code in variants(args):
        name = f"edt_bench_roster_run_{os.getpid()}"
        pg_run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        pg_run(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        try:
            results[label] = measure(f"PostgreSQL {label}", code, database_url(name), args, persons)
        finally:
            pg_run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if args.drop_template:
        pg_run(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
    return results


def run_sqlite(args):
    persons = args.sqlite_persons
    os.makedirs(OUT, exist_ok=True)
    template = os.path.join(OUT, f"roster_template_{persons}_{TEMPLATE_SCHEMA}.db")
    if args.refill or not os.path.exists(template):
        fill_sqlite(template, persons)
    results = {}
    for label, code in variants(args):
        copy = os.path.join(OUT, f"roster_run_{os.getpid()}.db")
        shutil.copyfile(template, copy)
        try:
            results[label] = measure(f"SQLite {label}", code, f"sqlite:///{copy}", args, persons)
        finally:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(copy + suffix):
                    os.remove(copy + suffix)
    return results


def variants(args):
    out = []
    if args.baseline:
        out.append(("baseline", os.path.abspath(args.baseline)))
    out.append(("this tree", ROOT))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=2_000_000, help="persons in the PostgreSQL roster")
    parser.add_argument("--sqlite-persons", type=int, default=200_000, help="persons in the SQLite roster")
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--baseline", help="another checkout's root, measured first (same-run baseline)")
    parser.add_argument("--pg-options", default="",
                        help="PGOPTIONS for the measured sessions, e.g. '-c wal_compression=lz4' (superuser "
                             "settings of the server, to show what they change)")
    parser.add_argument("--refill", action="store_true", help="build the templates again")
    parser.add_argument("--drop-template", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--code", default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    sys.path.insert(0, ROOT)
    print(f"bench_roster_apply: {args.events:,} events into a roster of N persons"
          f"{'; PGOPTIONS ' + args.pg_options if args.pg_options else ''}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    target = 5000
    for engine in args.engines.split(","):
        if engine == "postgresql":
            print(f"PostgreSQL, N = {args.persons:,}")
            results = run_postgres(args)
        else:
            print(f"SQLite, N = {args.sqlite_persons:,}")
            results = run_sqlite(args)
        now, before = results.get("this tree"), results.get("baseline")
        if now and before:
            print(f"  → {now['rate'] / before['rate']:.1f}× the baseline's events/s")
        if now and engine == "postgresql":
            verdict = "met" if now["rate"] >= target else "MISSED"
            print(f"  target ≥ {target:,} events/s on PostgreSQL at N = {args.persons:,}: {verdict}; "
                  f"{args.events:,} events in {now['seconds']:.1f} s (target ≤ 10 s)")
    print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
