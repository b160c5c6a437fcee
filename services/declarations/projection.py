"""Projections of the event log, folded in memory by one function used by
both the live path (the events of one append, over the persons they touch)
and rebuild/verify (the whole log, in chunks).

A fold holds:
  counts   {unit_id: insured}            what the folded events added
  months   {(unit_id, "YYYY-MM"): [increase, decrease]}
  persons  {stream_id: state}            see domain.evolve
  units    {unit_id: {id, name, credit_code}}
  records  [record row]                  one per event, in position order
  campaign {(unit_id, day, placement): figures}  the campaign figures
                                         (campaign/figures.py); `placer`
                                         set by a replay, None live
"""
from collections import defaultdict
from datetime import UTC, datetime

from services.declarations.campaign.figures import DayOf, fold_event
from services.declarations.domain import BUSINESS_TYPE, evolve, movements


class MonthOf:
    """The business-time-zone calendar month ("YYYY-MM") of an instant.
    Remembers the UTC bounds of the month it last answered: the log is in
    time order, so rebuild's million questions are mostly two comparisons."""

    def __init__(self, tz):
        self.tz = tz
        self._lo = self._hi = None
        self._month = None

    def __call__(self, instant):
        if instant.tzinfo is None:  # SQLite gives back naive UTC
            instant = instant.replace(tzinfo=UTC)
        if self._lo is not None and self._lo <= instant < self._hi:
            return self._month
        local = instant.astimezone(self.tz)
        start = datetime(local.year, local.month, 1, tzinfo=self.tz)
        end = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=self.tz)
        self._lo, self._hi = start.astimezone(UTC), end.astimezone(UTC)
        self._month = f"{local.year:04d}-{local.month:02d}"
        return self._month


# The only metadata keys a fold reads (store.iter_fold_events reads no more).
FOLD_METADATA = ("record_id", "batch_no", "unit")


def record_of(event):
    """The record-list row of an event: the declaring unit's record."""
    data, meta = event["data"], event["metadata"]
    return {
        "record_id": meta.get("record_id") or event["event_id"],
        "position": event["position"],
        "unit_id": event["unit_id"],
        "business_type": BUSINESS_TYPE[event["type"]],
        "action": data["action"],
        "cert_type": data["cert_type"],
        "cert_no": data["cert_no"],
        "name": data["name"],
        "declared_at": event["occurred_at"],
        "batch_no": meta.get("batch_no"),
    }


class Fold:
    def __init__(self, tz, persons=None):
        self.month_of = MonthOf(tz)
        self.counts = defaultdict(int)
        self.months = {}
        self.persons = dict(persons or {})
        self.units = {}
        self.records = []
        self.touched = set()
        self.day_of = DayOf(tz)
        self.campaign = {}
        self.placer = None

    def apply(self, event, evolving=True):
        moves = movements(event)
        if moves:
            month = self.month_of(event["occurred_at"])
            months = self.months
            for unit_id, delta in moves:
                self.counts[unit_id] += delta
                entry = months.get((unit_id, month))
                if entry is None:
                    entry = months[(unit_id, month)] = [0, 0]
                entry[0 if delta > 0 else 1] += 1
        sid = event["stream_id"]
        if evolving:
            persons = self.persons
            persons[sid] = evolve(persons.get(sid), event)
        self.touched.add(sid)
        unit = event["metadata"].get("unit")
        if unit:
            self.units[event["unit_id"]] = unit
        self.records.append(record_of(event))
        fold_event(self.campaign, event, self.day_of(event["occurred_at"]), self.placer)
        return self

    def apply_all(self, events, after=None):
        """Fold `events`. `after`: the persons' states after them, when the
        caller has them already (domain.decide_many evolved them while
        deciding, with the same `evolve`): taken rather than evolved again."""
        if after is None:
            for event in events:
                self.apply(event)
            return self
        for event in events:
            self.apply(event, evolving=False)
        persons = self.persons
        for event in events:
            sid = event["stream_id"]
            persons[sid] = after[sid]
        return self

    def take_records(self):
        """The records folded since the last call (rebuild writes them in chunks)."""
        records, self.records = self.records, []
        return records
