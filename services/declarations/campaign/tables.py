"""Tables of the campaign figures, in the declarations service's database.

Operator records (kept, never rebuilt):
  unit_refs         each unit as auth last told (name, codes, division, street),
                    and the feed position (`seq`) of auth's unit changes applied
  unit_placements   every division/street a unit had, with the log position
                    after which it holds (`after_position`) and when it was
                    recorded: what a replay attributes each event to
  unit_targets      the yearly target (参保任务数) of a unit

Projections (emptied and replayed by rebuild, compared by verify):
  campaign_days     per unit, business day and placement: movements and
                    declarations of that day
  campaign_months   the same per calendar month (the dashboard's year sums)
  campaign_batches  per finished batch: its unit's placement, rows, failed rows
  campaign_reasons  per finished batch and failure reason: rows refused
  campaign_years    per unit, year and placement: the sums of its days and
                    batches, its last day with a declaration
  campaign_year_reasons  per unit, year, placement and failure reason: rows
"""
# The classes live in services/declarations/models.py with the service's
# other tables (one metadata for Alembic); they are named here for the
# campaign package.
from services.declarations.models import (  # noqa: F401 (re-exported)
    CAMPAIGN_PROJECTIONS,
    FIGURES,
    CampaignBatch,
    CampaignDay,
    CampaignMonth,
    CampaignReason,
    CampaignYear,
    CampaignYearReason,
    UnitPlacement,
    UnitRef,
    UnitTarget,
)
