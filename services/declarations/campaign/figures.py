"""Folding events into the campaign figures: per unit, business day and
placement (division, street), the movements and declarations of that day.
Pure functions, called by projection.Fold for each event it applies.

An event counts under the placement its unit had when it was appended
(campaign/placing.py): on the live path the fold leaves the placement open
(None) and projection_tables resolves it to the unit's current placement
under the append lock; a replay passes a Placer that answers from the
recorded placements by log position. Both give the same rows.
"""
from datetime import UTC, datetime, timedelta

from common.events import ENROLLED, SUSPENDED, TRANSFERRED
from services.declarations.domain import ACTIVE, NEW_ENROLMENT

# Positions in a figures list (campaign/tables.FIGURES).
INCREASE, DECREASE, NEW, TRANSFER_IN, TRANSFER_OUT, SUSPENSIONS, DECLARATIONS = range(7)
WIDTH = 7


class DayOf:
    """The business-time-zone date ("YYYY-MM-DD") of an instant, remembering
    the UTC bounds of the day it last answered (the log is in time order)."""

    def __init__(self, tz):
        self.tz = tz
        self._lo = self._hi = None
        self._day = None

    def __call__(self, instant):
        if instant.tzinfo is None:  # SQLite gives back naive UTC
            instant = instant.replace(tzinfo=UTC)
        if self._lo is not None and self._lo <= instant < self._hi:
            return self._day
        local = instant.astimezone(self.tz)
        start = datetime(local.year, local.month, local.day, tzinfo=self.tz)
        self._lo = start.astimezone(UTC)
        self._hi = (start + timedelta(days=1)).astimezone(UTC)
        self._day = start.date().isoformat()
        return self._day


def _entry(days, key):
    entry = days.get(key)
    if entry is None:
        entry = days[key] = [0] * WIDTH
    return entry


def fold_event(days, event, day, placer=None):
    """Add `event` to `days` {(unit_id, day, placement or None): figures}."""
    type_, unit, position = event["type"], event["unit_id"], event["position"]
    entry = _entry(days, (unit, day, placer(unit, position) if placer else None))
    entry[DECLARATIONS] += 1
    if type_ == ENROLLED:
        entry[INCREASE] += 1
        if event["data"].get("action") == NEW_ENROLMENT:
            entry[NEW] += 1
    elif type_ == TRANSFERRED:
        entry[INCREASE] += 1
        entry[TRANSFER_IN] += 1
        data = event["data"]
        source = data["from_unit"]["id"]
        other = _entry(days, (source, day, placer(source, position) if placer else None))
        other[TRANSFER_OUT] += 1
        if data.get("from_status") == ACTIVE:
            other[DECREASE] += 1
    elif type_ == SUSPENDED:
        entry[DECREASE] += 1
        entry[SUSPENSIONS] += 1


def months_of(days, period=lambda day: day[:7]):
    """{(unit_id, month, placement): figures + [last day with a declaration]}
    summed from day entries ("" when none had a declaration)."""
    months = {}
    for (unit, day, place), figures in days.items():
        key = (unit, period(day), place)
        entry = months.get(key)
        if entry is None:
            entry = months[key] = [0] * WIDTH + [""]
        for i in range(WIDTH):
            entry[i] += figures[i]
        if figures[DECLARATIONS] and day > entry[WIDTH]:
            entry[WIDTH] = day
    return months


def years_of(days):
    """The same per calendar year (an int)."""
    return months_of(days, lambda day: int(day[:4]))


def reasons_of(failures):
    """{reason: rows} of a batch's failures: each row's reason split into
    its parts ("字段：原因"), each part counted once per row."""
    out = {}
    for failure in failures or ():
        label, seen = "", set()
        for part in (failure.get("reason") or "").split("；"):
            part = part.strip()
            if not part:
                continue
            if "：" in part:
                label = part.split("：", 1)[0]
            elif label:
                part = f"{label}：{part}"
            part = part[:200]
            if part not in seen:
                seen.add(part)
                out[part] = out.get(part, 0) + 1
    return out
