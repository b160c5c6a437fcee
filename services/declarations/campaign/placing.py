"""Where units stand: the declarations service's copy of auth's units
(unit_refs) and the placements each unit had (unit_placements).

auth keeps every change of a unit in its `unit_changes` feed; `apply_changes`
copies what it has not seen yet (the `seq` of each unit_refs row and of each
placement is the feed's), called when auth announces a change (event
`unit_changed`), on a timer, and before each dashboard answer. A change of
division or street becomes a placement recorded under the append lock with
the last log position: events after that position count under it, events
before stay where they were. A unit's first placement holds from the start
of the log (its earlier events, folded while it had none, are moved to it),
so units created before divisions existed are not left 未分区.
"""
import bisect
from collections import defaultdict

from sqlalchemy import func, select, update

from common.clock import utc
from common.divisions import UNASSIGNED
from services.declarations.campaign.tables import (
    CampaignBatch,
    CampaignDay,
    CampaignMonth,
    CampaignReason,
    CampaignYear,
    CampaignYearReason,
    UnitPlacement,
    UnitRef,
)
from services.declarations.models import Event

NOWHERE = (UNASSIGNED, "")


def last_seq(session):
    return session.scalar(select(func.max(UnitRef.seq))) or 0


def apply_changes(session, changes, now):
    """Copy auth's unit changes (`unit_changes_after` rows, in seq order) into
    unit_refs and unit_placements. The caller holds the append lock and
    commits. Returns the number of changes applied."""
    applied = 0
    for change in sorted(changes, key=lambda c: c["seq"]):
        unit_id = change["unit_id"]
        ref = session.get(UnitRef, unit_id)
        if ref is not None and ref.seq >= change["seq"]:
            continue
        placement = (change.get("division") or UNASSIGNED, change.get("street") or "")
        if ref is None:
            first = session.scalar(select(func.count()).select_from(UnitPlacement)
                                   .where(UnitPlacement.unit_id == unit_id)) == 0
            ref = UnitRef(unit_id=unit_id)
            session.add(ref)
            moved = True
        else:
            first = False
            moved = (ref.division, ref.street) != placement
        ref.name = change.get("name") or ""
        ref.credit_code = change.get("credit_code")
        ref.account = change.get("account")
        ref.disabled = bool(change.get("disabled"))
        ref.division, ref.street = placement
        ref.seq = change["seq"]
        if moved:
            with session.no_autoflush:
                after = 0 if first else (session.scalar(select(func.max(Event.position))) or 0)
            session.add(UnitPlacement(seq=change["seq"], unit_id=unit_id, after_position=after,
                                      recorded_at=now, division=placement[0], street=placement[1]))
            if first:
                _adopt(session, unit_id, placement)
        session.flush()
        applied += 1
    return applied


def _adopt(session, unit_id, placement):
    """A unit's first placement takes the figures folded before it had one."""
    for table in (CampaignDay, CampaignMonth, CampaignYear, CampaignBatch, CampaignReason, CampaignYearReason):
        session.execute(update(table).where(table.unit_id == unit_id)
                        .values(division=placement[0], street=placement[1]))


def current(conn, unit_ids):
    """{unit_id: (division, street)} of units as they stand now."""
    ids = sorted(set(unit_ids))
    out = {}
    for start in range(0, len(ids), 500):
        rows = conn.execute(select(UnitRef.unit_id, UnitRef.division, UnitRef.street)
                            .where(UnitRef.unit_id.in_(ids[start:start + 500])))
        out.update((u, (d, s)) for u, d, s in rows)
    return out


class Placer:
    """`placer(unit_id, position)`: the placement a replayed event counts
    under: the unit's last placement recorded before `position`."""

    def __init__(self, conn):
        self.afters = defaultdict(list)
        self.places = defaultdict(list)
        for unit_id, after, division, street in conn.execute(
                select(UnitPlacement.unit_id, UnitPlacement.after_position, UnitPlacement.division,
                       UnitPlacement.street).order_by(UnitPlacement.unit_id, UnitPlacement.after_position,
                                                      UnitPlacement.id)):
            self.afters[unit_id].append(after)
            self.places[unit_id].append((division, street))

    def __call__(self, unit_id, position):
        afters = self.afters.get(unit_id)
        if not afters:
            return NOWHERE
        i = bisect.bisect_left(afters, position) - 1
        return self.places[unit_id][max(i, 0)]


class Timeline:
    """Placements by time: `at(unit_id, instant)` is the placement recorded
    last at or before `instant` (a unit's first placement holds before it
    was recorded too). For the insured of a day, targets, idle units and
    batches, which count where the unit stood then."""

    def __init__(self, conn, unit_ids=None):
        self.times = defaultdict(list)
        self.places = defaultdict(list)
        query = select(UnitPlacement.unit_id, UnitPlacement.recorded_at, UnitPlacement.division,
                       UnitPlacement.street).order_by(UnitPlacement.unit_id, UnitPlacement.id)
        for unit_id, recorded_at, division, street in conn.execute(query).all():
            self.times[unit_id].append(recorded_at)  # made aware when a unit has several
            self.places[unit_id].append((division, street))
        for unit_id, times in self.times.items():
            if len(times) > 1:
                self.times[unit_id] = [utc(t) for t in times]

    def at(self, unit_id, instant):
        times = self.times.get(unit_id)
        if not times:
            return NOWHERE
        if len(times) == 1:  # a unit's first placement holds from the start
            return self.places[unit_id][0]
        i = bisect.bisect_right(times, instant) - 1
        return self.places[unit_id][max(i, 0)]
