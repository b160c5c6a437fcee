"""Writing the campaign projections: the day and month figures a Fold
folded (live: added to the stored rows; rebuild: into emptied tables), and
the finished batches (tailed from the `batches` table, where the batch
workers record them)."""
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select

from common.clock import utc
from services.declarations import sealed
from services.declarations.campaign import placing
from services.declarations.campaign.figures import WIDTH, DayOf, months_of, reasons_of, years_of
from services.declarations.campaign.tables import (
    FIGURES,
    CampaignBatch,
    CampaignDay,
    CampaignMonth,
    CampaignReason,
    CampaignYear,
    CampaignYearReason,
)
from services.declarations.eventlog import recorder
from services.declarations.models import Batch

BATCH_FIGURES = ("batches", "batch_rows", "batch_failed")
_UPSERTS: dict = {}


def upsert(conn, table, rows, keys, update):
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET `update(table, excluded)`,
    built once per table and dialect (as projection_tables.upsert, which
    imports this module)."""
    if not rows:
        return
    cache_key = (conn.dialect.name, table.name)
    stmt = _UPSERTS.get(cache_key)
    if stmt is None:
        stmt = recorder(conn).insert(table)
        stmt = _UPSERTS[cache_key] = stmt.on_conflict_do_update(
            index_elements=keys, set_=update(table, stmt.excluded))
    conn.execute(stmt, rows)


def _resolved(conn, days):
    """Day entries whose open placement (None: the live path) is the unit's
    current one."""
    open_units = {unit for unit, _, place in days if place is None}
    if not open_units:
        return days
    where = placing.current(conn, open_units)
    out = {}
    for (unit, day, place), figures in days.items():
        key = (unit, day, place if place is not None else where.get(unit, placing.NOWHERE))
        entry = out.get(key)
        if entry is None:
            out[key] = list(figures)
        else:
            for i in range(WIDTH):
                entry[i] += figures[i]
    return out


def _rows(days):
    day_rows = [{"unit_id": u, "day": d, "division": p[0], "street": p[1], **dict(zip(FIGURES, f, strict=True))}
                for (u, d, p), f in days.items()]
    month_rows = [{"unit_id": u, "month": m, "division": p[0], "street": p[1],
                   **dict(zip(FIGURES, f[:WIDTH], strict=True)), "last_day": f[WIDTH]}
                  for (u, m, p), f in months_of(days).items()]
    year_rows = [{"unit_id": u, "year": y, "division": p[0], "street": p[1],
                  **dict(zip(FIGURES, f[:WIDTH], strict=True)), "last_day": f[WIDTH],
                  "batches": 0, "batch_rows": 0, "batch_failed": 0}
                 for (u, y, p), f in years_of(days).items()]
    return day_rows, month_rows, year_rows


def _later(t, x):
    return case((x.last_day > t.c.last_day, x.last_day), else_=t.c.last_day)


def _add_years(conn, year_rows):
    upsert(conn, CampaignYear.__table__, year_rows, ["unit_id", "year", "division", "street"],
           lambda t, x: {**{name: t.c[name] + x[name] for name in FIGURES + BATCH_FIGURES},
                         "last_day": _later(t, x)})


def write_live(conn, days):
    if not days:
        return
    day_rows, month_rows, year_rows = _rows(_resolved(conn, days))
    keys = ["unit_id", "day", "division", "street"]
    upsert(conn, CampaignDay.__table__, day_rows, keys,
           lambda t, x: {name: t.c[name] + x[name] for name in FIGURES})
    upsert(conn, CampaignMonth.__table__, month_rows, ["unit_id", "month", "division", "street"],
           lambda t, x: {**{name: t.c[name] + x[name] for name in FIGURES}, "last_day": _later(t, x)})
    _add_years(conn, year_rows)


def write_rebuilt(conn, days):
    day_rows, month_rows, year_rows = _rows(_resolved(conn, days))
    log = recorder(conn)
    log.bulk_insert(CampaignDay.__table__, day_rows)
    log.bulk_insert(CampaignMonth.__table__, month_rows)
    log.bulk_insert(CampaignYear.__table__, year_rows)


# -- batches --------------------------------------------------------------------

def batch_rows(conn, tz, batches):
    """The campaign_batches and campaign_reasons rows of finished batches
    (batch_no, unit_id, finished_at, total, failed, failures)."""
    timeline = placing.Timeline(conn)
    day_of = DayOf(tz)
    out, reasons = [], []
    for batch_no, unit_id, finished_at, total, failed, sealed_failures in batches:
        # (stored encrypted whole: services/declarations/sealed.py)
        failures = (sealed.unseal(conn.engine, sealed.BATCH_FAILURES, sealed_failures)
                    if sealed_failures else [])
        finished = utc(finished_at)
        division, street = timeline.at(unit_id, finished)
        day = day_of(finished)
        out.append({"batch_no": batch_no, "unit_id": unit_id, "day": day, "division": division,
                    "street": street, "rows": total or 0, "failed": failed or 0})
        reasons.extend({"batch_no": batch_no, "reason": reason, "unit_id": unit_id, "day": day,
                        "division": division, "street": street, "rows": rows}
                       for reason, rows in reasons_of(failures).items())
    return out, reasons


def finished_batches(where):
    return (select(Batch.batch_no, Batch.unit_id, Batch.finished_at, Batch.total, Batch.failed,
                   Batch.failures)
            .where(Batch.status.in_(("done", "failed")), Batch.finished_at.is_not(None), *where))


def untailed(conn, tz, lookback=timedelta(days=2), limit=None):
    """Finished batches not projected yet: those finished since the newest
    day projected (less `lookback`, for a slower worker that committed later).
    Two counts first: when they agree there is none (the usual answer)."""
    # (index-only on SQLite and PostgreSQL: ix_batches_open leads with status;
    # a finished batch always has its finished_at)
    finished = conn.scalar(select(func.count()).select_from(Batch).where(Batch.status.in_(("done", "failed"))))
    if finished == conn.scalar(select(func.count()).select_from(CampaignBatch)):
        return []
    newest = conn.scalar(select(CampaignBatch.day).order_by(CampaignBatch.day.desc()).limit(1))
    where = []
    if newest:
        where.append(Batch.finished_at >= utc(datetime.fromisoformat(newest).replace(tzinfo=tz)) - lookback)
    known = select(CampaignBatch.batch_no).where(CampaignBatch.batch_no == Batch.batch_no).exists()
    query = finished_batches(where).where(~known)
    return conn.execute(query.limit(limit) if limit else query).all()


def tail_batches(conn, tz):
    """Project the finished batches not projected yet. The caller holds the
    append lock (one tail at a time: each batch is added to its year once)."""
    rows = untailed(conn, tz)
    if not rows:
        return 0
    _add_batches(conn, tz, rows)
    return len(rows)


def _add_batches(conn, tz, rows):
    batches, reasons = batch_rows(conn, tz, rows)
    log = recorder(conn)
    log.bulk_insert(CampaignBatch.__table__, batches)
    log.bulk_insert(CampaignReason.__table__, reasons)
    _add_years(conn, list(batch_years(batches).values()))
    upsert(conn, CampaignYearReason.__table__, list(reason_years(reasons).values()),
           ["unit_id", "year", "division", "street", "reason"], lambda t, x: {"rows": t.c.rows + x.rows})


def batch_years(batches):
    """campaign_years rows (batch figures only) of campaign_batches rows."""
    years = {}
    for b in batches:
        key = (b["unit_id"], int(b["day"][:4]), b["division"], b["street"])
        row = years.get(key)
        if row is None:
            row = years[key] = {"unit_id": key[0], "year": key[1], "division": key[2], "street": key[3],
                                **dict.fromkeys(FIGURES, 0), "last_day": "",
                                "batches": 0, "batch_rows": 0, "batch_failed": 0}
        row["batches"] += 1
        row["batch_rows"] += b["rows"]
        row["batch_failed"] += b["failed"]
    return years


def reason_years(reasons):
    years = {}
    for r in reasons:
        key = (r["unit_id"], int(r["day"][:4]), r["division"], r["street"], r["reason"])
        row = years.get(key)
        if row is None:
            row = years[key] = {"unit_id": key[0], "year": key[1], "division": key[2], "street": key[3],
                                "reason": key[4], "rows": 0}
        row["rows"] += r["rows"]
    return years


def rebuild_batches(conn, tz):
    """Into emptied batch projections, after the events' years are written."""
    conn.execute(delete(CampaignYearReason))
    conn.execute(delete(CampaignReason))
    conn.execute(delete(CampaignBatch))
    rows = conn.execute(finished_batches([])).all()
    if rows:
        _add_batches(conn, tz, rows)
    return len(rows)
