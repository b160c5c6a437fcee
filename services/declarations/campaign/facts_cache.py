"""The dashboard's cache, per declarations process: the per-unit facts of
the last few (year, as_of) asked, each with the version of everything it
was read from, and the roll-ups of the scopes asked of them (rollup.py).

An entry answers only at its own version, so an answer from it equals one
read afresh in the same transaction. When only the log moved since (units
declared: at most ADVANCE_LIMIT events), the entry is brought forward
instead of read again:
- as of today (or later), the events appended are folded into the facts as
  the live path folds them (each under its unit's current placement, which
  the version shows has not changed), and only the units they touched are
  rolled up again in each scope;
- as of a past day D, appended events are after D: they change no figure
  as of D (the insured now and the days after D grow alike; the year's and
  month's sums and the days after D alike), so the facts stand; only a unit
  new to the log appears (with nothing) and units_seen's names follow.
A placement, a unit change, a target or a batch changes the version in
other ways: the facts are read again.
"""
import threading

from sqlalchemy import func, select

from services.declarations.campaign.figures import DECLARATIONS, DayOf, fold_event
from services.declarations.campaign.placing import NOWHERE
from services.declarations.campaign.rollup import Rollup, add_cell, scope_of
from services.declarations.campaign.tables import CampaignBatch, UnitPlacement, UnitRef, UnitTarget
from services.declarations.models import Event

# At most this many events appended since an entry are folded into it;
# more, and the facts are read again.
ADVANCE_LIMIT = 5000


def version(conn):
    """What the facts depend on, in one statement of a few index lookups and
    small aggregates: the log's last position, the last unit change applied,
    the last placement, the targets, the batches projected."""
    row = conn.execute(select(
        select(func.max(Event.position)).scalar_subquery(),
        select(func.max(UnitRef.seq)).scalar_subquery(),
        select(func.max(UnitPlacement.id)).scalar_subquery(),
        select(func.count()).select_from(UnitTarget).scalar_subquery(),
        select(func.max(UnitTarget.set_at)).scalar_subquery(),
        select(func.sum(UnitTarget.target)).scalar_subquery(),
        select(func.count()).select_from(CampaignBatch).scalar_subquery(),
    )).one()
    return row[0], row[1], row[2], (row[3], row[4], row[5]), row[6]


def appended_only(before, now):
    """The log's position is all that moved from `before` to `now`, by at
    most ADVANCE_LIMIT events."""
    return (before[1:] == now[1:] and before[0] is not None and now[0] is not None
            and 0 < now[0] - before[0] <= ADVANCE_LIMIT)


class Entry:
    __slots__ = ("version", "facts", "rollups")

    def __init__(self, version, facts):
        self.version, self.facts, self.rollups = version, facts, {}


class FactsCache:
    """Entries by key, at most `size`, each with at most `rollups` scopes
    (the oldest go first). Facts and roll-ups are changed and read only
    under `lock` (never across I/O), so concurrent requests of one process
    never see one half-changed."""

    def __init__(self, size=8, rollups=64):
        self.size = size
        self.rollups = rollups
        self.entries = {}
        self.lock = threading.Lock()

    def put(self, key, version, facts):
        if len(self.entries) >= self.size and key not in self.entries:
            self.entries.pop(next(iter(self.entries)))
        entry = self.entries[key] = Entry(version, facts)
        return entry

    def get(self, key, version, read):
        """(value, rollups) of `key` at `version`, from `read()` when the
        cached one is of another version (for values that are not facts)."""
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None and entry.version == version:
                return entry.facts, entry.rollups
        value = read()
        with self.lock:
            entry = self.put(key, version, value)
            return entry.facts, entry.rollups

    def rollup(self, entry, p):
        """The entry's roll-up of `p`'s scope (made now if new). Under lock."""
        scope = scope_of(p)
        rolled = entry.rollups.get(scope)
        if rolled is None:
            if len(entry.rollups) >= self.rollups:
                entry.rollups.pop(next(iter(entry.rollups)))
            rolled = entry.rollups[scope] = Rollup(entry.facts, p)
        return rolled


def advance(entry, events, tz, now_version):
    """Bring `entry` forward over `events` (those appended after its
    version, up to `now_version`). Under the cache's lock. False when they
    cannot be folded (a day the facts do not expect): read afresh."""
    facts = entry.facts
    days, names = {}, {}
    day_of = DayOf(tz)
    for event in events:
        fold_event(days, event, day_of(event["occurred_at"]))
        seen = event["metadata"].get("unit")
        if seen:  # units_seen takes the declaring unit's name from each event
            names[event["unit_id"]] = seen.get("name")
    d, year = facts["as_of"].isoformat(), str(facts["year"])
    for _, day, _ in days:
        if facts["live"] and (day > d or day[:4] != year):
            return False  # appended after the day asked (midnight passed)
        if not facts["live"] and day <= d:
            return False  # an event dated on or before a past as_of
    touched = sorted({unit_id for unit_id, _, _ in days})
    rollups = list(entry.rollups.values())
    for rolled in rollups:
        rolled.remove(facts, touched)
    if facts["live"]:
        _fold_into(facts, days)
    else:
        for unit_id in touched:  # a unit new to the log counts, with nothing as of D
            facts["where"].setdefault(unit_id, NOWHERE)
            facts["insured"].setdefault(unit_id, 0)
    facts["names"].update(names)
    for rolled in rollups:
        rolled.restore(facts, touched)
    entry.version = now_version
    return True


def _fold_into(facts, days):
    """Add day entries of the live path (placement None: the unit's current
    one) to facts as of today."""
    refs, cells = facts["refs"], facts["cells"]
    month = facts["as_of"].isoformat()[:7]
    for (unit_id, day, _), figures in days.items():
        place = (refs[unit_id].division, refs[unit_id].street) if unit_id in refs else NOWHERE
        key = (unit_id, *place)
        flows = facts["year_flows"].get(key)
        if flows is None:
            facts["year_flows"][key] = list(figures)
            add_cell(cells, key)
        else:
            for i, value in enumerate(figures):
                flows[i] += value
        if day[:7] == month:
            inc_dec = facts["month_flows"].get(key)
            if inc_dec is None:
                facts["month_flows"][key] = [figures[0], figures[1]]
                add_cell(cells, key)
            else:
                inc_dec[0] += figures[0]
                inc_dec[1] += figures[1]
        facts["insured"][unit_id] = facts["insured"].get(unit_id, 0) + figures[0] - figures[1]
        if figures[DECLARATIONS] and day > (facts["last"].get(unit_id) or ""):
            facts["last"][unit_id] = day
        facts["where"].setdefault(unit_id, place)
