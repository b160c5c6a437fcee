"""The campaign projections as a replay makes them, beside the stored ones,
for rebuild.verify: (table, live {key: values}, replayed {key: values})."""
from sqlalchemy import select

from services.declarations.campaign.figures import WIDTH, months_of, years_of
from services.declarations.campaign.tables import (
    FIGURES,
    CampaignBatch,
    CampaignDay,
    CampaignMonth,
    CampaignReason,
    CampaignYear,
    CampaignYearReason,
)
from services.declarations.campaign.writes import batch_rows, batch_years, finished_batches, reason_years


def _nonzero(figures):
    return any(figures[:WIDTH])


def tables(conn, tz, days):
    """`days`: a replay's Fold.campaign (placements resolved by its Placer)."""
    live_days = {(r.unit_id, r.day, r.division, r.street): tuple(getattr(r, f) for f in FIGURES)
                 for r in conn.execute(select(CampaignDay))}
    replay_days = {(u, d, p[0], p[1]): tuple(f) for (u, d, p), f in days.items()}
    yield "campaign_days", {k: v for k, v in live_days.items() if any(v)}, \
        {k: v for k, v in replay_days.items() if any(v)}
    live_months = {(r.unit_id, r.month, r.division, r.street): (*(getattr(r, f) for f in FIGURES), r.last_day)
                   for r in conn.execute(select(CampaignMonth))}
    replay_months = {(u, m, p[0], p[1]): tuple(f) for (u, m, p), f in months_of(days).items()}
    yield "campaign_months", {k: v for k, v in live_months.items() if _nonzero(v)}, \
        {k: v for k, v in replay_months.items() if _nonzero(v)}
    # Batches are projected some time after they finish: those projected
    # must equal a projection of their batch now; none may lack a batch.
    live_batches = {r.batch_no: (r.unit_id, r.day, r.division, r.street, r.rows, r.failed)
                    for r in conn.execute(select(CampaignBatch))}
    rows = conn.execute(finished_batches([])).all()
    batches, reasons = batch_rows(conn, tz, [r for r in rows if r.batch_no in live_batches])
    yield "campaign_batches", live_batches, {
        b["batch_no"]: (b["unit_id"], b["day"], b["division"], b["street"], b["rows"], b["failed"])
        for b in batches}
    live_reasons = {(r.batch_no, r.reason): (r.division, r.street, r.rows)
                    for r in conn.execute(select(CampaignReason))}
    yield "campaign_reasons", live_reasons, {
        (r["batch_no"], r["reason"]): (r["division"], r["street"], r["rows"]) for r in reasons}
    # years: the replayed days' sums, with the projected batches' sums
    expected = {(u, y, p[0], p[1]): [*f[:WIDTH], f[WIDTH], 0, 0, 0] for (u, y, p), f in years_of(days).items()}
    projected = [dict(r._mapping) for r in conn.execute(select(CampaignBatch))]
    for (u, y, d, st), row in batch_years(projected).items():
        entry = expected.setdefault((u, y, d, st), [0] * WIDTH + ["", 0, 0, 0])
        entry[WIDTH + 1] += row["batches"]
        entry[WIDTH + 2] += row["batch_rows"]
        entry[WIDTH + 3] += row["batch_failed"]
    live_years = {(r.unit_id, r.year, r.division, r.street): (*(getattr(r, f) for f in FIGURES), r.last_day,
                                                            r.batches, r.batch_rows, r.batch_failed)
                  for r in conn.execute(select(CampaignYear))}
    yield "campaign_years", {k: v for k, v in live_years.items() if any(v[:WIDTH]) or any(v[WIDTH + 1:])}, \
        {k: tuple(v) for k, v in expected.items() if any(v[:WIDTH]) or any(v[WIDTH + 1:])}
    projected_reasons = [dict(r._mapping) for r in conn.execute(select(CampaignReason))]
    yield "campaign_year_reasons", {
        (r.unit_id, r.year, r.division, r.street, r.reason): r.rows for r in conn.execute(select(CampaignYearReason))
    }, {k: v["rows"] for k, v in reason_years(projected_reasons).items()}
