"""Replaying the log: `rebuild` empties the projections and folds the whole
log into them again; `verify` folds it into a scratch copy in memory and
compares that with the live projections. Both fold with projection.Fold,
the same code the live path uses.

Speed: events are read in keyset-paged chunks and folded in memory; each
chunk's records are written with one executemany, and the aggregates
(counts, months, persons, units) once at the end.
"""
import contextlib
import gc

from sqlalchemy import delete, func, select

from common.clock import utc
from common.protect.masking import mask_cert_no, mask_phone
from common.protect.runtime import protection
from services.declarations import index_key, sealing
from services.declarations.campaign import verify as campaign_verify, writes as campaign_writes
from services.declarations.campaign.placing import Placer
from services.declarations.eventlog import RECORDERS, iter_fold_events, recorder
from services.declarations.models import PROJECTIONS, Record, UnitCount, UnitMonth, UnitSeen
from services.declarations.projection import Fold
from services.declarations.projection_tables import write_rebuilt, write_records

CHUNK = 20000
MAX_REPORTED = 20  # differences listed per table


@contextlib.contextmanager
def _no_gc():
    """Folding allocates millions of small dicts that live on (persons) or
    die at once (chunks): the cyclic collector's full passes over that heap
    would cost more than the fold itself. Nothing here makes cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _write_connection(engine):
    """A connection whose transaction holds the append lock: no declaration
    commits while the projections are being replaced."""
    conn = engine.connect()
    log = recorder(conn)
    if log.write_options:
        conn = conn.execution_options(**log.write_options)
    log = recorder(conn)
    log.prepare_rebuild()
    conn.begin()
    log.lock_appends()
    return conn


@contextlib.contextmanager
def _indexes_built_after(conn):
    """Drop the projections' secondary indexes for the bulk insert and build
    them once at the end, where the engine allows it without locking
    readers out (SQLite: inside the same transaction; PostgreSQL keeps them)."""
    indexes = recorder(conn).rebuild_indexes(PROJECTIONS)
    for index in indexes:
        index.drop(conn)
    yield
    for index in indexes:
        index.create(conn)


def rebuild(engine, tz, chunk=CHUNK):
    """Replace every projection by a replay of the log, in one transaction
    (readers see the old projections until it commits). Returns the number
    of events replayed. The blind indexes are computed with the configured
    index key, which is recorded as the projections' key (index_key.py)."""
    protection(engine)  # keys checked, data key made: before the write lock is taken
    conn = _write_connection(engine)
    try:
        with _no_gc():
            for table in reversed(PROJECTIONS):
                conn.execute(delete(table))
            with _indexes_built_after(conn):
                count = _replay_into(conn, tz, chunk)
            index_key.record(conn)
        conn.commit()
        return count
    finally:
        recorder(conn).end_rebuild()
        conn.close()


def _replay_into(conn, tz, chunk):
    fold = Fold(tz)
    fold.placer = Placer(conn)
    count = 0
    for events in iter_fold_events(conn, 0, chunk, persons=fold.persons):
        fold.apply_all(events)
        count += len(events)
        write_records(conn, fold.take_records())
    write_rebuilt(conn, fold)
    campaign_writes.rebuild_batches(conn, tz)
    return count


def replay(conn, tz, chunk=CHUNK, on_chunk=None):
    """Fold the whole log in memory; `on_chunk(events, records)` sees each
    chunk's records, which are then dropped to bound memory."""
    fold = Fold(tz)
    fold.placer = Placer(conn)
    for events in iter_fold_events(conn, 0, chunk):
        fold.apply_all(events)
        records = fold.take_records()
        if on_chunk:
            on_chunk(events, records)
    return fold


# -- verify -----------------------------------------------------------------

# What verify compares of a record and of a person, in this order; times as
# UTC ISO text. Live rows are read as tuples through the driver (recorder's
# records_between, person_rows): a million SQLAlchemy rows would cost verify
# a third of its time.
# Stored 证件号码 are compared opened (tokens differ on every encryption),
# and with their blind index, which must be the one of the opened number.
RECORD_KEY = ("record_id", "position", "unit_id", "business_type", "action", "cert_type", "cert_no_bidx",
              "cert_no_enc", "name", "declared_at", "batch_no")
PERSON_KEY = ("stream_id", "cert_type", "cert_no_bidx", "cert_no_enc", "status", "unit_id", "version", "since",
              "person")


def _record_key(p, r):
    """The compared values of a folded record (a dict)."""
    return (r["record_id"], r["position"], r["unit_id"], r["business_type"], r["action"],
            r["cert_type"], p.index.cert_no(r["cert_type"], r["cert_no"]), r["cert_no"], r["name"],
            utc(r["declared_at"]).isoformat(), r["batch_no"])


def _live_record_key(p, row, _utc=utc):
    """The same of a stored record (a tuple of RECORD_KEY)."""
    return row[:7] + (p.fields.decrypt("cert_no", row[7]), row[8], _utc(row[9]).isoformat(), row[10])


def _person_key(p, state):
    return (state["cert_type"], p.index.cert_no(state["cert_type"], state["cert_no"]), state["cert_no"],
            state["status"], state["unit_id"], state["version"], utc(state["since"]).isoformat(), state["person"])


def _live_person_key(p, row, _utc=utc):
    """A stored person (a tuple of PERSON_KEY) as _person_key gives a folded one."""
    return (row[1], row[2], p.fields.decrypt("cert_no", row[3])) + row[4:7] + (
        _utc(row[7]).isoformat(), sealing.unseal(p, row[8]))


def _person_fields(person):
    return {k: ("..." if k in ("hukou_address", "address") and v else mask_phone(v) if k == "phone" else v)
            for k, v in person.items()}


def _shown(name, value):
    """A compared value as a report line shows it: 证件号码 and phones masked,
    addresses left out (the report is printed; docs/protection.md)."""
    if value is None:
        return None
    if name == "records":  # _record_key: the number at 7
        return value[:7] + (mask_cert_no(value[7]),) + value[8:]
    if name == "persons":  # _person_key: the number at 2, the person at 7
        return value[:2] + (mask_cert_no(value[2]),) + value[3:7] + (_person_fields(value[7]),)
    return value


def _compare(name, live, replayed, report):
    missing = [k for k in replayed if k not in live]
    extra = [k for k in live if k not in replayed]
    wrong = [k for k in replayed if k in live and live[k] != replayed[k]]
    for label, keys in (("missing", missing), ("unexpected", extra), ("differs", wrong)):
        for k in keys[:MAX_REPORTED]:
            report.append(f"{name} {k}: {label}; live={_shown(name, live.get(k))!r} "
                          f"replay={_shown(name, replayed.get(k))!r}")
        if len(keys) > MAX_REPORTED:
            report.append(f"{name}: {len(keys) - MAX_REPORTED} more {label}")


def verify(engine, tz, chunk=CHUNK):
    """(events replayed, differences): each difference a line naming the
    table, the key and both values. Empty when the projections equal a
    replay of the log. Reads one snapshot of the database."""
    report = []
    p = protection(engine)
    options = RECORDERS[engine.dialect.name].snapshot_options
    with _no_gc(), engine.connect().execution_options(**options) as conn, conn.begin():
        seen = {"records": 0, "events": 0}
        log = recorder(conn)

        def check_records(events, records):
            first, last = events[0]["position"], events[-1]["position"]
            rows = log.records_between(RECORD_KEY, first, last)
            live = {r[0]: _live_record_key(p, r) for r in rows}
            _compare("records", live, {r["record_id"]: _record_key(p, r) for r in records}, report)
            seen["records"] += len(rows)
            seen["events"] += len(events)

        fold = replay(conn, tz, chunk, check_records)
        total = conn.scalar(select(func.count()).select_from(Record))
        if total != seen["records"]:
            report.append(f"records: {total - seen['records']} rows whose position is not in the log")

        counts = {r.unit_id: r.insured_count for r in conn.execute(select(UnitCount)) if r.insured_count}
        _compare("unit_counts", counts, {u: n for u, n in fold.counts.items() if n}, report)
        months = {(r.unit_id, r.month): (r.increase, r.decrease) for r in conn.execute(select(UnitMonth))
                  if r.increase or r.decrease}
        _compare("unit_months", months,
                 {k: tuple(v) for k, v in fold.months.items() if v[0] or v[1]}, report)
        persons = {r[0]: _live_person_key(p, r) for r in log.person_rows(PERSON_KEY)}
        _compare("persons", persons, {k: _person_key(p, v) for k, v in fold.persons.items()}, report)
        units = {r.unit_id: {"id": r.unit_id, "name": r.name, "credit_code": r.credit_code}
                 for r in conn.execute(select(UnitSeen))}
        _compare("units_seen", units, fold.units, report)
        for name, live, replayed in campaign_verify.tables(conn, tz, fold.campaign):
            _compare(name, live, replayed, report)
    return seen["events"], report
