"""Use cases of the residents service as plain functions over a RosterStore:
a unit's roster, one person of it, and the lookup the enrolment form asks
before a declaration. A unit only ever sees its own residents; of a person
elsewhere it learns the status, and the person's data only when it gave the
right name.

Lists are de-identified (GB/T 35273, docs/protection.md): a roster line
carries the 证件号码 and 联系电话 masked and the person's opaque `person_id`,
which opens the person with full values (`person_by_id`, audited by the
gateway) for the unit that holds the person only.

The store keeps the 证件号码, 联系电话 and addresses encrypted: a list
decrypts the two it shows masked, one person's answer all four, and a
search by 证件号码 looks for its blind indexes."""
import os
from zoneinfo import ZoneInfo

from common import codes
from common.errors import InvalidInput, NotFound
from common.identity import InvalidCertNo, check_cert_no
from common.person import clean_name
from common.protect import PERSON_ID, mask_cert_no, mask_phone
from services.residents.store import LISTED, PROTECTED, aware

BUSINESS_TZ = ZoneInfo(os.environ.get("BUSINESS_TZ", "Asia/Shanghai"))
STATUSES = ("active", "suspended")

# What the form learns from a lookup: (action, message) per status.
LOOKUP = {
    "none": ("new_enrolment", "该人员未在平台参保，提交后办理新参保"),
    "active_here": (None, "该人员已在本单位正常参保"),
    "suspended_here": ("resume", "该人员在本单位暂停参保，提交后办理恢复参保"),
    "active_elsewhere": ("transfer_in", "该人员正在其他单位参保，提交后办理调入，原单位同时减员"),
    "suspended_elsewhere": ("transfer_in", "该人员在其他单位暂停参保，提交后办理调入"),
}
NAME_MISMATCH = "；所填姓名与平台登记的不一致，请核对"

# Of a person of another unit, the form may prefill only who the person is;
# contact details and addresses stay with the unit that collected them.
IDENTITY_FIELDS = ("cert_type", "cert_no", "name", "gender", "birth_date", "nation")


def local_time(dt):
    return aware(dt).astimezone(BUSINESS_TZ).isoformat() if dt else None


def person_dict(row, identity_only=False):
    """The person (a store.Person, its fields decrypted) with full values;
    `identity_only` (a person of another unit, for the enrolment form): who
    the person is, the number masked."""
    out = {
        "person_id": row.person_id,
        "cert_type": row.cert_type,
        "cert_no": mask_cert_no(row.cert_no) if identity_only else row.cert_no,
        "name": row.name,
        "gender": row.gender,
        "birth_date": row.birth_date.isoformat() if row.birth_date else None,
        "nation": row.nation,
    }
    if identity_only:
        return out
    out.update({
        "phone": row.phone,
        "category": row.category,
        "hukou_address": row.hukou_address,
        "address": row.address,
        "remark": row.remark,
        "status": row.status,
        "since": local_time(row.since),
        "suspension_reason": row.suspension_reason,
    })
    return out


def roster_item(row):
    """A roster line (of a store.Person with cert_no and phone decrypted):
    the docs/api.md fields plus labels for display, the 证件号码 and 联系电话
    masked, and the `person_id` that opens the person.
    No birth date: with an ID number's first 6 and last 4 characters it
    would give back the 8 the mask hides."""
    return {
        "person_id": row.person_id,
        "cert_type": row.cert_type,
        "cert_no": mask_cert_no(row.cert_no),
        "name": row.name,
        "gender": row.gender,
        "nation": row.nation,
        "phone": mask_phone(row.phone),
        "category": row.category,
        "status": row.status,
        "since": local_time(row.since),
        "cert_type_label": codes.label(codes.CERT_TYPES, row.cert_type),
        "gender_label": codes.label(codes.GENDERS, row.gender),
        "nation_label": codes.label(codes.NATIONS, row.nation),
        "category_label": codes.label(codes.CATEGORIES, row.category),
        "status_label": codes.STATUS.get(row.status),
    }


def search_name(name):
    """A name as the register keeps it, for an exact search; what cannot be
    a name is searched as typed (and finds nobody)."""
    if not name or not str(name).strip():
        return None
    try:
        return clean_name(name)
    except ValueError:
        return " ".join(str(name).split())


def search_cert_no_bidx(store, cert_no, cert_type=None):
    """The blind indexes a typed certificate number may be stored under.
    Without a type, a 15-digit number is tried both as an ID card (upgraded)
    and as is."""
    if not cert_no or not str(cert_no).strip():
        return None
    return store.search_bidx(str(cert_no), cert_type)


def filters_of(filters, store):
    """Store filters from what the gateway passes (cert_no, name, status,
    cert_type), normalised the way the roster stores them (a 证件号码 as its
    blind indexes)."""
    filters = filters or {}
    status = filters.get("status") or None
    if status is not None and status not in STATUSES:
        resolved = {v: k for k, v in codes.STATUS.items()}.get(status)
        if resolved is None:
            raise InvalidInput("参保状态不正确", {"status": ["参保状态应为 active 或 suspended"]})
        status = resolved
    cert_type = codes.resolve(codes.CERT_TYPES, filters.get("cert_type")) if filters.get("cert_type") else None
    return {
        "cert_no_bidx": search_cert_no_bidx(store, filters.get("cert_no"), cert_type),
        "cert_type": cert_type,
        "name": search_name(filters.get("name")),
        "status": status,
    }


def roster(store, unit_id, filters, page, size):
    total, rows = store.roster(unit_id, (page - 1) * size, size, **filters_of(filters, store))
    # Only what the line shows (masked) is decrypted: not the addresses.
    items = [roster_item(store.opened(r, LISTED)) for r in rows]
    return {"items": items, "total": total, "page": page, "size": size}


def _certificate(cert_type, cert_no, today):
    code = codes.resolve(codes.CERT_TYPES, cert_type)
    if code is None:
        raise InvalidInput("证件类型不正确", {"cert_type": ["证件类型不正确，请选择证件类型"]})
    try:
        return check_cert_no(code, cert_no, today)
    except InvalidCertNo as error:
        raise InvalidInput(error.message, {"cert_no": [error.message]}) from None


def _history_item(store, row):
    item = {
        "position": row.position,
        "kind": row.kind,
        "event_type": row.event_type,
        "occurred_at": local_time(row.occurred_at),
        "record_id": row.record_id,
        "batch_no": row.batch_no,
    }
    item.update(store.open_detail(row.detail))
    return item


def person(store, unit_id, cert_type, cert_no):
    """One person of the unit, with the person's history in this unit."""
    code = codes.resolve(codes.CERT_TYPES, cert_type)
    # The blind index normalises the number as the person key is.
    return _details(store, unit_id, store.person(code, str(cert_no)) if code else None)


def person_by_id(store, unit_id, person_id):
    """The person a list answer's `person_id` names, as `person` answers: only
    a person of this unit (another unit's, or an id that names nobody, is not
    found: the id alone opens nothing)."""
    ok = isinstance(person_id, str) and PERSON_ID.fullmatch(person_id)
    return _details(store, unit_id, store.person_by_id(person_id) if ok else None)


def _details(store, unit_id, row):
    if row is None or row.unit_id != unit_id:
        raise NotFound("本单位没有该人员")
    history = store.history(unit_id, row.cert_type, row.cert_no_bidx)
    row = store.opened(row)
    out = person_dict(row)
    out["labels"] = {
        "cert_type": codes.label(codes.CERT_TYPES, row.cert_type),
        "gender": codes.label(codes.GENDERS, row.gender),
        "nation": codes.label(codes.NATIONS, row.nation),
        "category": codes.label(codes.CATEGORIES, row.category),
        "status": codes.STATUS.get(row.status),
        "suspension_reason": codes.label(codes.SUSPENSION_REASONS, row.suspension_reason),
    }
    out["history"] = [_history_item(store, h) for h in history]
    return out


def lookup(store, unit_id, cert_type, cert_no, name, today):
    """What enrolling this person in `unit_id` would be, for the form.

    {status, action, person, message, name_matches}; `person` only when
    `name` matches the register, and of a person elsewhere only who the
    person is. The roster may be a few milliseconds behind the log: the
    declaration itself is decided by the declarations service."""
    info = _certificate(cert_type, cert_no, today)
    row = store.person(info.cert_type, info.cert_no)
    if row is None:
        action, message = LOOKUP["none"]
        derived = None
        if info.derived:
            derived = {"gender": info.gender, "birth_date": info.birth_date.isoformat()}
        return {"status": "none", "action": action, "person": None, "message": message,
                "name_matches": None, "derived": derived}
    where = "here" if row.unit_id == unit_id else "elsewhere"
    status = f"{row.status}_{where}"
    action, message = LOOKUP[status]
    given = search_name(name)
    matches = None if given is None else given == row.name
    if matches is False:
        message += NAME_MISMATCH
    shown = None
    if matches:
        elsewhere = where == "elsewhere"
        shown = person_dict(store.opened(row, ("cert_no",) if elsewhere else tuple(PROTECTED)),
                            identity_only=elsewhere)
    return {"status": status, "action": action, "person": shown, "message": message,
            "name_matches": matches}
