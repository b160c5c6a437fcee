"""The rows of one dashboard scope (level, division, street, idle days)
rolled up from per-unit facts (dashboard._facts), and kept up to date unit
by unit: `Rollup.remove` takes the figures of some units out, the facts of
those units change, `Rollup.restore` puts them back. A full roll-up is the
same `_add` for every unit, so a roll-up kept up to date equals one made
afresh from the same facts (test_campaign_projection compares them).

Sums are taken out and put back exactly; the last declaration date is a
maximum, which only the appends change, and an append only moves a unit's
date forward, so putting the unit back with the larger maximum is exact.
"""
import bisect
from collections import defaultdict
from datetime import date, timedelta

from common.divisions import DIVISIONS, division_name
from services.declarations.campaign.figures import WIDTH

TOP_REASONS = 5
IDLE_LIMIT = 200


class Group:
    __slots__ = ("code", "name", "unit_id", "division", "street", "insured", "target", "flows",
                 "month_flows", "batches", "rows", "failed", "reasons", "last")

    def __init__(self, code, name, unit_id=None, division=None, street=None):
        self.code, self.name, self.unit_id = code, name, unit_id
        self.division, self.street = division, street
        self.insured = self.target = self.batches = self.rows = self.failed = 0
        self.flows = [0] * WIDTH
        self.month_flows = [0, 0]
        self.reasons = defaultdict(int)
        self.last = ""

    def view(self):
        f = self.flows
        reasons = sorted(((r, n) for r, n in self.reasons.items() if n), key=lambda x: (-x[1], x[0]))
        out = {"code": self.code, "name": self.name, "insured": self.insured, "target": self.target,
               "completion": round(self.insured / self.target, 4) if self.target else None,
               "month_increase": self.month_flows[0], "month_decrease": self.month_flows[1],
               "year_new": f[2], "year_transfer_in": f[3], "year_transfer_out": f[4], "year_suspended": f[5],
               "batches": self.batches, "batch_rows": self.rows, "batch_failed_rows": self.failed,
               "batch_failure_rate": round(self.failed / self.rows, 4) if self.rows else None,
               "top_failure_reasons": [{"reason": r, "rows": n} for r, n in reasons[:TOP_REASONS]],
               "last_declared_at": self.last or None}
        if self.unit_id is not None:
            out["unit_id"] = self.unit_id
        if self.division is not None:
            out["division"], out["division_name"] = self.division, division_name(self.division)
        if self.street is not None:
            out["street"] = self.street
        return out


def in_scope(p, division, street):
    if p["division"] and division != p["division"]:
        return False
    if p["street"] is not None and p["level"] in ("street", "unit") and street != p["street"]:
        return False
    return True


def scope_of(p):
    """What a Rollup depends on besides the facts (sort and page do not)."""
    street = p["street"] if p["level"] in ("street", "unit") else None
    return (p["level"], p["division"], street, p["idle_days"])


class _Keys(dict):
    """The item a unit's figures under (unit_id, division, street) go to at
    this level, or None (out of scope), each worked out once."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def __missing__(self, triple):
        unit_id, division, street = triple
        if not in_scope(self.p, division, street):
            key = None
        elif self.p["level"] == "city":
            key = division
        elif self.p["level"] == "division":
            key = street
        else:
            key = unit_id
        self[triple] = key
        return key


def unit_name(facts, unit_id):
    refs = facts["refs"]
    return refs[unit_id].name if unit_id in refs else facts["names"].get(unit_id) or f"单位{unit_id}"


def _copy(view):
    out = dict(view)
    if "top_failure_reasons" in out:
        out["top_failure_reasons"] = [dict(r) for r in out["top_failure_reasons"]]
    return out


class Rollup:
    """The groups of one scope, their views, and the scope's idle units."""

    def __init__(self, facts, p):
        self.p = {"level": p["level"], "division": p["division"], "street": p["street"],
                  "idle_days": p["idle_days"], "as_of": p["as_of"]}
        self.level = p["level"]
        self.keys = _Keys(self.p)
        self.groups = {}
        self.changed = set()
        self.total = Group("total", "合计" if self.level != "city" else "泉州市")
        self.idle_before = (p["as_of"] - timedelta(days=p["idle_days"])).isoformat()
        self.idle = {}
        self.views = {}
        self.stamp = 0
        self.orders = {}
        self.idle_order = None
        if self.level == "city":
            for code in DIVISIONS:
                self._group(facts, code, None, code, None)
        units = set(facts["where"]) | set(facts["cells"])
        for unit_id in units:
            self._add(facts, unit_id, 1)
        self._settle(facts, units)

    # -- keeping it up to date

    def remove(self, facts, units):
        """Take the figures of `units` out (before their facts change)."""
        for unit_id in units:
            self._add(facts, unit_id, -1)

    def restore(self, facts, units):
        """Put the figures of `units` back (after their facts changed)."""
        for unit_id in units:
            self._add(facts, unit_id, 1)
        self._settle(facts, units)

    def _settle(self, facts, units):
        if self.level in ("street", "unit"):  # a unit's name as it is now (units_seen follows the log)
            for unit_id in units:
                g = self.groups.get(unit_id)
                if g is not None:
                    g.name = unit_name(facts, unit_id)
        for unit_id in units:
            entry = self._idle_entry(facts, unit_id)
            if entry is None:
                self.idle.pop(unit_id, None)
            else:
                self.idle[unit_id] = entry
        for key in self.changed:
            self.views[key] = self.groups[key].view()
        self.changed.clear()
        self.total_view = self.total.view()
        self.stamp += 1
        self.idle_order = None

    def _group(self, facts, key, unit_id, division, street):
        g = self.groups.get(key)
        if g is None:
            if self.level == "city":
                g = Group(key, division_name(key))
            elif self.level == "division":
                g = Group(key, key or "（未填写）", division=division, street=key)
            else:
                placed = facts["where"].get(unit_id, (division, street))
                g = Group(str(unit_id), unit_name(facts, unit_id), unit_id=unit_id,
                          division=placed[0], street=placed[1])
            self.groups[key] = g
        self.changed.add(key)
        return g

    def _add(self, facts, unit_id, sign):
        """Add (sign 1) or take out (-1) the figures of one unit: its insured,
        target and last declaration where it stands, its flows, batches and
        failure reasons under each placement they were counted with."""
        total = self.total
        place = facts["where"].get(unit_id)
        if place is not None:
            key = self.keys[(unit_id, *place)]
            if key is not None:
                g = self._group(facts, key, unit_id, *place)
                insured = sign * facts["insured"].get(unit_id, 0)
                target = sign * (facts["targets"].get(unit_id, 0) or 0)
                g.insured += insured
                g.target += target
                total.insured += insured
                total.target += target
                if sign > 0:
                    seen = facts["last"].get(unit_id) or ""
                    if seen > g.last:
                        g.last = seen
                    if seen > total.last:
                        total.last = seen
        for triple in facts["cells"].get(unit_id, ()):
            key = self.keys[triple]
            if key is None:
                continue
            g = self._group(facts, key, *triple)
            flows = facts["year_flows"].get(triple)
            if flows is not None:
                for i in range(WIDTH):
                    g.flows[i] += sign * flows[i]
                    total.flows[i] += sign * flows[i]
            month = facts["month_flows"].get(triple)
            if month is not None:
                for i in (0, 1):
                    g.month_flows[i] += sign * month[i]
                    total.month_flows[i] += sign * month[i]
            batch = facts["batches"].get(triple)
            if batch is not None and batch[0]:
                count, rows, failed = batch
                for x in (g, total):
                    x.batches += sign * count
                    x.rows += sign * rows
                    x.failed += sign * failed
            for reason, rows in (facts["reasons"].get(triple) or {}).items():
                if rows:
                    g.reasons[reason] += sign * rows
                    total.reasons[reason] += sign * rows

    def _idle_entry(self, facts, unit_id):
        ref = facts["refs"].get(unit_id)
        if ref is None or ref.disabled:
            return None
        division, street = facts["where"][unit_id]
        if not in_scope(self.p, division, street):
            return None
        seen = facts["last"].get(unit_id) or ""
        if seen > self.idle_before:
            return None
        as_of = self.p["as_of"]
        return {"unit_id": unit_id, "name": ref.name, "division": division, "division_name": division_name(division),
                "street": street, "last_declared_at": seen or None,
                "idle_days": (as_of - date.fromisoformat(seen)).days if seen else None,
                "insured": facts["insured"].get(unit_id, 0), "target": facts["targets"].get(unit_id)}

    # -- answering

    def order(self, sort):
        """The keys of the groups in the order of `sort` (a figure, `-` first
        for descending; ties by code; groups without the figure last, by
        code), re-sorted after a change from the previous order."""
        stamp, keys = self.orders.get(sort, (None, None))
        if stamp == self.stamp:
            return keys
        views = self.views
        if keys is None or len(keys) != len(views):
            keys = list(views)
        field = sort.lstrip("-")
        present = [k for k in keys if views[k].get(field) is not None]
        absent = [k for k in keys if views[k].get(field) is None]
        present.sort(key=lambda k: (views[k][field], views[k]["code"]), reverse=sort.startswith("-"))
        absent.sort(key=lambda k: views[k]["code"])
        keys = present + absent
        self.orders[sort] = (self.stamp, keys)
        return keys

    def idle_units(self):
        if self.idle_order is None:
            self.idle_order = sorted(self.idle.values(), key=lambda u: (u["last_declared_at"] or "", u["unit_id"]))
        return self.idle_order

    def answer(self, p):
        """The dashboard's answer for `p` (its page of the sorted items),
        copied: the caller may change it."""
        keys = self.order(p["sort"])
        start = (p["page"] - 1) * p["size"]
        idle = self.idle_units()
        return {"as_of": p["as_of"].isoformat(), "year": p["year"], "level": p["level"],
                "division": p["division"],
                "division_name": division_name(p["division"]) if p["division"] else None,
                "street": p["street"], "sort": p["sort"], "page": p["page"], "size": p["size"],
                "total_items": len(keys), "totals": _copy(self.total_view),
                "items": [_copy(self.views[k]) for k in keys[start:start + p["size"]]],
                "idle_days": p["idle_days"], "idle_units": [dict(u) for u in idle[:IDLE_LIMIT]],
                "idle_total": len(idle)}


def add_cell(cells, triple):
    """Record that unit triple[0] has figures under `triple` (sorted)."""
    known = cells.setdefault(triple[0], [])
    i = bisect.bisect_left(known, triple)
    if i == len(known) or known[i] != triple:
        known.insert(i, triple)
