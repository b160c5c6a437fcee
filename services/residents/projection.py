"""How each declaration event changes the roster: one function per event
type, over events in the payload shape of docs/events.md.

Pure rules over the store's rows (plain `PersonState` objects that the
store reads and writes in bulk, not ORM instances). Events carry the
person's fields in clear; the store keeps the 证件号码 as a blind index and
encrypts the personal fields when it writes the rows. Ordering, duplicates and
gaps are the concern of `feed.py`. An event type this service does not know changes
nothing (its position is still taken, so the feed moves on).
"""
from datetime import date, datetime, timezone

from common.events import ENROLLED, INFO_CHANGED, SUSPENDED, TRANSFERRED

# Person fields an event may carry in `data` (docs/events.md: all declared fields).
PERSON_FIELDS = (
    "name", "gender", "birth_date", "nation", "category", "phone",
    "hukou_address", "address", "remark",
)
# Fields a 变更 may change (docs/domain.md): never the certificate.
CHANGEABLE = ("name", "gender", "birth_date", "nation", "phone", "hukou_address", "address", "category")


def parse_time(value):
    if isinstance(value, datetime):
        dt = value
    else:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _date(value):
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _unit_id(unit):
    """A unit reference as events carry it: {"id": ...} or the bare id."""
    if isinstance(unit, dict):
        unit = unit.get("id")
    return int(unit) if unit not in (None, "") else None


def person_key(event):
    person = event.get("person") or {}
    data = event.get("data") or {}
    return person.get("cert_type") or data.get("cert_type"), person.get("cert_no") or data.get("cert_no")


def _set_person_data(row, values):
    for field in PERSON_FIELDS:
        if field in values:
            value = values[field]
            if field == "birth_date":
                value = _date(value)
            elif field == "name":
                value = value or row.name
            setattr(row, field, value)


def _history(event, unit_id, kind, detail, now):
    """A row of resident_history, as a dict of its columns."""
    cert_type, cert_no = person_key(event)
    return {
        "position": event["position"], "unit_id": unit_id, "cert_type": cert_type, "cert_no": cert_no,
        "kind": kind, "event_type": event["type"], "event_id": str(event.get("event_id") or ""),
        "occurred_at": parse_time(event["occurred_at"]), "record_id": event.get("record_id"),
        "batch_no": event.get("batch_no"), "detail": detail, "projected_at": now,
    }


def _row(store, event):
    cert_type, cert_no = person_key(event)
    row = store.person_state(cert_type, cert_no)
    if row is None:
        row = store.new_person(cert_type, cert_no, (event.get("person") or {}).get("name") or "")
    return row


def _make_active(store, event, unit_id):
    data = event.get("data") or {}
    row = _row(store, event)
    row.unit_id = unit_id
    _set_person_data(row, {**data, "name": data.get("name") or (event.get("person") or {}).get("name")})
    row.status = "active"
    row.since = parse_time(event["occurred_at"])
    row.status_position = event["position"]
    row.suspension_reason = None
    row.updated_position = event["position"]
    return row


def enrolled(store, event, now):
    unit_id = _unit_id(event.get("unit"))
    _make_active(store, event, unit_id)
    action = (event.get("data") or {}).get("action") or "new_enrolment"
    store.add_history(_history(event, unit_id, action, {}, now))


def transferred(store, event, now):
    data = event.get("data") or {}
    to_unit = _unit_id(data.get("to_unit")) or _unit_id(event.get("unit"))
    from_unit = _unit_id(data.get("from_unit"))
    if from_unit is None:
        # The log said where the person was; the roster knows it too.
        cert_type, cert_no = person_key(event)
        existing = store.person_state(cert_type, cert_no)
        from_unit = existing.unit_id if existing is not None else None
    _make_active(store, event, to_unit)
    store.add_history(_history(event, to_unit, "transfer_in", {}, now))
    if from_unit is not None and from_unit != to_unit:
        # The old unit learns that the person left, not where to.
        store.add_history(_history(event, from_unit, "transfer_out", {}, now))


def suspended(store, event, now):
    data = event.get("data") or {}
    unit_id = _unit_id(event.get("unit"))
    row = _row(store, event)
    row.unit_id = unit_id
    if row.since is None:  # a row first seen here: keep what the event tells
        _set_person_data(row, data)
    row.status = "suspended"
    row.since = parse_time(event["occurred_at"])
    row.status_position = event["position"]
    row.suspension_reason = data.get("reason")
    row.updated_position = event["position"]
    detail = {"reason": data.get("reason"), "remark": data.get("remark")}
    store.add_history(_history(event, unit_id, "suspension", detail, now))


def changes_of(data):
    """The new values a 变更 event carries: `after` (the whole new person),
    else `changes`, else the changeable fields at the top of `data`."""
    for key in ("changes", "after"):
        if isinstance(data.get(key), dict):
            return {k: v for k, v in data[key].items() if k in CHANGEABLE}
    return {k: v for k, v in data.items() if k in CHANGEABLE}


def info_changed(store, event, now):
    data = event.get("data") or {}
    unit_id = _unit_id(event.get("unit"))
    row = _row(store, event)
    changes = changes_of(data)
    _set_person_data(row, changes)
    if row.since is None:  # never seen enrolled: should not happen in a log
        row.unit_id, row.status = unit_id, "suspended"
        row.since, row.status_position = parse_time(event["occurred_at"]), event["position"]
    row.updated_position = event["position"]
    # before/after name the person's phone and addresses: sealed as one token.
    detail = store.seal_detail({"before": data.get("before") or {}, "after": data.get("after") or changes})
    store.add_history(_history(event, unit_id, "change", detail, now))


HANDLERS = {ENROLLED: enrolled, TRANSFERRED: transferred, SUSPENDED: suspended, INFO_CHANGED: info_changed}


def apply_event(store, event, now):
    """Change the roster as `event` says. Returns False for a type that
    does not concern the roster."""
    handler = HANDLERS.get(event.get("type"))
    if handler is None:
        return False
    handler(store, event, now)
    return True
