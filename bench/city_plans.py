"""EXPLAIN (ANALYZE, BUFFERS) of the request-path queries of a filled city.

The queries are not retyped: the services' own read use cases (residents'
roster, lookup, person and export; declarations' unit summary, stats,
records, batches and events_after; auth's token check) are called in this
process on stores bound to the running suite's databases, every statement
SQLAlchemy sends is captured with its parameters, and each distinct
SELECT is then explained through the same driver in a transaction that is
rolled back. The few statements the stores send straight through the
driver (the decision's persons read by ANY, the log's max position) are
added by hand, as the store code writes them."""
import re
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import event
from sqlalchemy.orm import Session

from common.db import make_engine

TZ = ZoneInfo("Asia/Shanghai")
SEQ = re.compile(r"Seq Scan on (\w+)")
SMALL = 10_000  # rows: a sequential scan of a smaller table is a few pages


class Capture:
    def __init__(self, url):
        self.engine = make_engine(url)
        self.statements = []
        self.label = None
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if not executemany and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.statements.append((self.label, statement, parameters))

    def session(self):
        return Session(self.engine, expire_on_commit=False)

    def run(self, label, fn):
        self.label = label
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - a use case that changed under us: say so
            self.statements.append((label, f"-- {label} failed in process: {exc!r}", None))
        finally:
            self.label = None

    def dispose(self):
        self.engine.dispose()


def _explain(engine, statement, parameters):
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            lines = [row[0] for row in cursor.fetchall()]
        raw.rollback()
        return lines
    finally:
        raw.close()


def _table_rows(engine):
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.execute("SELECT relname, n_live_tup, last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL "
                           "FROM pg_stat_user_tables")
            out = {name: (n, analysed) for name, n, analysed in cursor.fetchall()}
        raw.rollback()
        return out
    finally:
        raw.close()


def collect(urls, sample, path, analyze=True):
    """Explain every request-path query; write them to `path`. `urls`:
    {service: database URL}; `sample`: unit_id (the largest unit), token,
    cert_no, name, other_unit_id, batch_no, position. Returns
    [(service, label, table)] of the sequential scans found."""
    from services.auth import accounts
    from services.auth.store import AuthStore
    from services.declarations import queries
    from services.declarations.batch import batches
    from services.declarations.batch.store import BatchStore  # noqa: F401 (batches uses it)
    from services.declarations.store import DeclarationsStore
    from services.residents import roster
    from services.residents.store import RosterStore

    now = datetime.now(timezone.utc)
    today = now.astimezone(TZ).date()
    unit, other = sample["unit_id"], sample["other_unit_id"]
    captures = {}

    res = captures["residents"] = Capture(urls["residents"])
    with res.session() as s:
        store = RosterStore(s)
        res.run("GET /api/residents?page=2&size=20 (largest unit)",
                lambda: roster.roster(store, unit, {}, 2, 20))
        res.run("GET /api/residents?page=500&size=20 (deep page)",
                lambda: roster.roster(store, unit, {}, 500, 20))
        res.run("GET /api/residents?cert_no=", lambda: roster.roster(store, unit, {"cert_no": sample["cert_no"]}, 1, 20))
        res.run("GET /api/residents?name=", lambda: roster.roster(store, unit, {"name": sample["name"]}, 1, 20))
        res.run("GET /api/residents?status=suspended", lambda: roster.roster(store, unit, {"status": "suspended"}, 1, 20))
        res.run("GET /api/residents/lookup", lambda: roster.lookup(store, other, "01", sample["cert_no"], sample["name"], today))
        res.run("GET /api/residents/{cert_type}/{cert_no}", lambda: roster.person(store, unit, "01", sample["cert_no"]))
        res.run("GET /api/residents/export (largest unit)",
                lambda: sum(1 for _ in store.roster_stream(unit)))
        res.run("residents checkpoint (every apply)", lambda: store.checkpoint())
        s.rollback()

    dec = captures["declarations"] = Capture(urls["declarations"])
    with dec.session() as s:
        store = DeclarationsStore(s)
        dec.run("GET /api/unit", lambda: queries.unit_summary(store, unit, now, TZ))
        dec.run("GET /api/unit/stats?months=12", lambda: queries.unit_stats(store, unit, 12, now, TZ))
        since = (today - timedelta(days=30)).isoformat()
        dec.run("GET /api/declarations?business_type=enrolment&from=&name=",
                lambda: queries.list_records(store, unit, {"business_type": "enrolment", "from": since,
                                                           "name": sample["name"]}, 1, 20, TZ))
        dec.run("GET /api/declarations?page=2", lambda: queries.list_records(store, unit, {}, 2, 20, TZ))
        dec.run("GET /api/declarations?cert_no=",
                lambda: queries.list_records(store, unit, {"cert_no": sample["cert_no"]}, 1, 20, TZ))
        if sample.get("batch_no"):
            dec.run("GET /api/declarations?batch_no=",
                    lambda: queries.list_records(store, unit, {"batch_no": sample["batch_no"]}, 1, 20, TZ))
            dec.run("GET /api/batches/{batch_no}",
                    lambda: batches.get_batch(store, unit, sample["batch_no"], TZ))
        dec.run("GET /api/batches", lambda: batches.list_batches(store, unit, TZ, {}, 1, 20))
        dec.run("declarations.events_after (residents' catch-up)",
                lambda: queries.events_after(store, max(sample["position"] - 600, 0), 500))
        dec.run("append: last position", lambda: store.last_position())
        s.rollback()

    auth = captures["auth"] = Capture(urls["auth"])
    with auth.session() as s:
        store = AuthStore(s)
        auth.run("token check (every request; the gateway caches it)",
                 lambda: accounts.authenticate(store, sample["token"], now))
        s.rollback()

    # Statements sent straight through the driver by the declarations store.
    ids = sample.get("stream_ids") or []
    manual = [
        ("declarations", "decide a batch: persons of 5,000 rows (store._persons)",
         "SELECT stream_id, cert_type, cert_no_enc, status, unit_id, version, since, person FROM persons "
         "WHERE stream_id = ANY(%s)", (ids,)),
        ("declarations", "append: max position under the lock (store.append)",
         "SELECT max(events.position) AS max_1 FROM events", None),
    ]

    seqs, out = [], []
    _write_pass(captures, manual, sample, out, seqs, "as the services run here")
    unanalysed = any(not a for c in captures.values() for _n, a in _table_rows(c.engine).values())
    if unanalysed and analyze:
        # autovacuum may be off (it is on the development box): a
        # production server would have analysed tables of this size.
        for capture in captures.values():
            raw = capture.engine.raw_connection()
            try:
                raw.autocommit = True
                with raw.cursor() as cursor:
                    cursor.execute("ANALYZE")
            finally:
                raw.close()
        _write_pass(captures, manual, sample, out, seqs, "after ANALYZE (as autovacuum would have done)")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    for capture in captures.values():
        capture.dispose()
    return seqs


def _write_pass(captures, manual, sample, out, seqs, title):
    unit = sample["unit_id"]
    found = []
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out.append("#" * 100)
    out.append(f"EXPLAIN (ANALYZE, BUFFERS) of the request-path queries, bench_city, {stamp}: {title}")
    out.append(f"largest unit id {unit}; sample person {sample['cert_no'][:6]}...; "
               f"log position {sample['position']}\n")
    for service, capture in captures.items():
        rows = _table_rows(capture.engine)
        out.append("=" * 100)
        out.append(f"{service}: live rows (pg_stat_user_tables; * = never analysed, so the planner "
                   "guesses its row counts): "
                   + ", ".join(f"{t} {n:,}{'' if a else '*'}" for t, (n, a) in sorted(rows.items())))
        seen = set()
        todo = [(label, st, p) for label, st, p in capture.statements]
        todo += [(label, st, p) for svc, label, st, p in manual if svc == service]
        for label, statement, parameters in todo:
            if statement.startswith("--"):
                out.append("\n" + statement)
                continue
            norm = " ".join(statement.split())
            if (label, norm) in seen:
                continue
            seen.add((label, norm))
            out.append("\n" + "-" * 100)
            out.append(f"[{service}] {label}")
            out.append(norm)
            shown = parameters
            if isinstance(parameters, tuple) and parameters and isinstance(parameters[0], list):
                shown = f"([{len(parameters[0])} ids],)"
            out.append(f"parameters: {shown}")
            started = time.perf_counter()
            try:
                plan = _explain(capture.engine, statement, parameters)
            except Exception as exc:  # noqa: BLE001
                out.append(f"EXPLAIN failed: {exc!r}")
                continue
            out.append(f"(explained in {(time.perf_counter() - started) * 1000:.0f} ms)")
            out.extend("  " + (line if len(line) <= 400 else line[:400] + f" ... ({len(line):,} characters)")
                       for line in plan)
            for line in plan:
                m = SEQ.search(line)
                if m:
                    found.append((service, label, m.group(1), rows.get(m.group(1), (0, False))[0]))
    out.append("\n" + "=" * 100)
    large = [f for f in found if f[3] >= SMALL]
    small = [f for f in found if f[3] < SMALL]
    if large:
        out.append(f"SEQUENTIAL SCANS ON A REQUEST PATH ({title}):")
        for service, label, table, n in large:
            out.append(f"  [{service}] {label}: Seq Scan on {table} (~{n:,} rows)")
    else:
        out.append(f"No sequential scan of a table of {SMALL:,} rows or more on a request path ({title}).")
    if small:
        out.append(f"Seq Scans of small tables (under {SMALL:,} rows, a few pages: the planner's cheapest "
                   "choice, which becomes an index scan as they grow):")
        for service, label, table, n in small:
            out.append(f"  [{service}] {label}: Seq Scan on {table} (~{n:,} rows)")
    out.append("")
    seqs.extend((service, f"{label} ({title})", table, n) for service, label, table, n in found)
