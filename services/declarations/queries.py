"""Use cases that read: a unit's figures and records, persons' current
state, and the log for consumers. A unit only ever reads its own rows."""
from datetime import date

from sqlalchemy import select

from common import codes
from common.clock import day_bounds, utc
from common.errors import InvalidInput, NotFound
from common.events import payload
from common.identity import normalise_cert_no
from common.person import clean_name
from services.declarations.eventlog import identity as log_identity
from services.declarations.models import UnitCount, UnitMonth

MAX_MONTHS = 120
MAX_EVENTS = 1000
# Transfer bookkeeping that names the unit which lost the person: kept in
# the event for downstream systems, never shown to the new unit.
_HIDDEN_FROM_UNIT = ("from_unit", "to_unit", "from_status")


def _month(year, month):
    return f"{year:04d}-{month:02d}"


def _months_back(now, tz, count):
    """The last `count` months ending with the current one, oldest first."""
    local = now.astimezone(tz)
    index = local.year * 12 + local.month - 1
    return [_month(i // 12, i % 12 + 1) for i in range(index - count + 1, index + 1)]


def unit_summary(store, unit_id, now, tz):
    """The insured count and this month's figures in one statement (three
    scalar subqueries, one round trip): GET /api/unit asks for it on every
    home page."""
    month = _months_back(now, tz, 1)[0]
    this_month = (UnitMonth.unit_id == unit_id, UnitMonth.month == month)
    insured, increase, decrease = store.session.execute(select(
        select(UnitCount.insured_count).where(UnitCount.unit_id == unit_id).scalar_subquery(),
        select(UnitMonth.increase).where(*this_month).scalar_subquery(),
        select(UnitMonth.decrease).where(*this_month).scalar_subquery(),
    )).one()
    return {"insured_count": insured or 0, "month": month,
            "month_increase": increase or 0, "month_decrease": decrease or 0}


def unit_stats(store, unit_id, months, now, tz):
    """[{month, increase, decrease, insured_end}] of the last `months`
    months, oldest first; insured_end walks forward from everything before."""
    if not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise InvalidInput("月份数有误", {"months": [f"应在1至{MAX_MONTHS}之间"]})
    wanted = _months_back(now, tz, months)
    insured, figures = store.months_from(unit_id, wanted[0])
    out = []
    for month in wanted:
        increase, decrease = figures.get(month, (0, 0))
        insured += increase - decrease
        out.append({"month": month, "increase": increase, "decrease": decrease,
                    "insured_end": insured})
    return out


def _date(value, field):
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput("查询条件有误", {field: ["日期格式应为YYYY-MM-DD"]}) from None


def _name(value):
    try:
        return clean_name(value)
    except ValueError:
        return " ".join(str(value).split())


def record_item(row, tz):
    return {
        "record_id": row.record_id, "business_type": row.business_type, "action": row.action,
        "cert_type": row.cert_type, "cert_no": row.cert_no, "name": row.name,
        "declared_at": utc(row.declared_at).astimezone(tz).isoformat(), "batch_no": row.batch_no,
    }


def list_records(store, unit_id, filters, page, size, tz):
    """The unit's records, newest first; filters of docs/api.md: business_type,
    from and to (business-zone dates, inclusive), name, cert_no, batch_no."""
    filters = filters or {}
    business_type = filters.get("business_type") or None
    if business_type and business_type not in codes.BUSINESS_TYPES:
        raise InvalidInput("查询条件有误", {"business_type": ["业务类型应为enrolment、suspension或change"]})
    day_from, day_to = _date(filters.get("from"), "from"), _date(filters.get("to"), "to")
    if day_from and day_to and day_from > day_to:
        raise InvalidInput("查询条件有误", {"to": ["结束日期不能早于开始日期"]})
    start, end = day_bounds(day_from, day_to, tz)
    cert_no = (filters.get("cert_no") or "").strip()
    name = (filters.get("name") or "").strip()
    total, rows = store.records(
        unit_id, (page - 1) * size, size, business_type=business_type, start=start, end=end,
        name=_name(name) if name else None,
        # Exact, through the blind index: the plain normalised number and,
        # the type not being a filter, a 15-digit number's ID-card upgrade.
        cert_nos=[cert_no] if cert_no else None,
        batch_no=(filters.get("batch_no") or "").strip() or None,
    )
    return {"items": [record_item(r, tz) for r in rows], "total": total, "page": page, "size": size}


def get_record(store, unit_id, record_id, tz):
    """One of the unit's records with everything declared; a change with its
    before and after. Another unit's record is simply not found."""
    found = store.record(unit_id, str(record_id or "")[:36])
    if found is None:
        raise NotFound("申报记录不存在")
    row, event = found
    data = {k: v for k, v in event["data"].items() if k not in _HIDDEN_FROM_UNIT}
    out = {**record_item(row, tz), "declared_by": event["metadata"].get("actor"), "data": data}
    if row.business_type == "change":
        out["before"], out["after"] = data.get("before", {}), data.get("after", {})
    return out


def events_after(store, after, limit):
    """{items: [event payload], next_after, log} in position order; `log`:
    the log's identity and epoch (common/log_identity.py) and its last
    position, for consumers to check what they follow."""
    after = max(int(after or 0), 0)
    limit = min(max(int(limit or 1), 1), MAX_EVENTS)
    identity = log_identity.current(store.conn)  # first: the items are of this epoch or a later one
    items = [payload(e) for e in store.events_after(after, limit)]
    return {"items": items, "next_after": items[-1]["position"] if items else after,
            "log": {**identity.as_dict(), "head": store.last_position()}}


def _state_out(state):
    if state is None:
        return None
    return {
        "cert_type": state["cert_type"], "cert_no": state["cert_no"],
        "status": state["status"], "unit_id": state["unit_id"],
        "since": state["since"].isoformat(), "version": state["version"],
        "person": state["person"],
    }


def _key(cert_type, cert_no):
    cert_type = codes.resolve(codes.CERT_TYPES, cert_type) or str(cert_type or "")
    return cert_type, normalise_cert_no(cert_type, cert_no)


def persons_state(store, keys):
    """The current state of each (cert_type, cert_no) in `keys`, in order:
    {cert_type, cert_no, status, unit_id, since, version, person}, or None
    for a person never declared on the platform."""
    wanted = [_key(t, n) for t, n in keys]
    with store.reading():
        streams = store.streams(wanted)
        states = store.person_states(streams.values())
    return [_state_out(states.get(streams[k])) for k in wanted]


def person_state(store, cert_type, cert_no):
    return persons_state(store, [(cert_type, cert_no)])[0]
