"""Projections of the event log, folded in memory by one function used by
both the live path (the events of one append, over the persons they touch)
and rebuild/verify (the whole log, in chunks).

A fold holds:
  counts   {unit_id: insured}            what the folded events added
  months   {(unit_id, "YYYY-MM"): [increase, decrease]}
  persons  {stream_id: state}            see domain.evolve
  units    {unit_id: {id, name, credit_code}}
  records  [record row]                  one per event, in position order
"""
from collections import defaultdict
from datetime import timezone

from services.declarations.domain import BUSINESS_TYPE, evolve, movements


class MonthOf:
    """The business-time-zone calendar month ("YYYY-MM") of an instant.
    Memoised, because rebuild asks it a million times."""

    def __init__(self, tz):
        self.tz = tz
        self._cache = {}

    def __call__(self, instant):
        if instant.tzinfo is None:  # SQLite gives back naive UTC
            instant = instant.replace(tzinfo=timezone.utc)
        elif instant.utcoffset():
            instant = instant.astimezone(timezone.utc)
        # Zone offsets are whole quarter-hours: every instant of one UTC
        # quarter-hour falls in the same local month.
        key = (instant.year, instant.month, instant.day, instant.hour, instant.minute // 15)
        month = self._cache.get(key)
        if month is None:
            local = instant.astimezone(self.tz)
            month = f"{local.year:04d}-{local.month:02d}"
            self._cache[key] = month
        return month


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

    def apply(self, event):
        moves = movements(event)
        if moves:
            month = self.month_of(event["occurred_at"])
            for unit_id, delta in moves:
                self.counts[unit_id] += delta
                entry = self.months.get((unit_id, month))
                if entry is None:
                    entry = self.months[(unit_id, month)] = [0, 0]
                entry[0 if delta > 0 else 1] += 1
        sid = event["stream_id"]
        self.persons[sid] = evolve(self.persons.get(sid), event)
        self.touched.add(sid)
        unit = event["metadata"].get("unit")
        if unit:
            self.units[event["unit_id"]] = unit
        self.records.append(record_of(event))
        return self

    def apply_all(self, events):
        for event in events:
            self.apply(event)
        return self

    def take_records(self):
        """The records folded since the last call (rebuild writes them in chunks)."""
        records, self.records = self.records, []
        return records
