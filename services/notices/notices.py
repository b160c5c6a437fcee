"""Use cases of the notices service as plain functions over a NoticesStore.

`service.py` calls these; tests and the seeder call them with a real store.
`unit_id` is the calling unit, or None for an admin: admins see what units
see but leave no read marks. Each write is one `with store.unit_of_work():
... store.commit()`, each read a `with store.reading():` (common.db.UnitOfWork)."""
from common.errors import InvalidInput, NotFound
from services.notices import rules
from services.notices.store import aware

SYSTEM = "system"


def _iso(dt):
    return aware(dt).isoformat() if dt is not None else None


def item_dict(notice, read):
    """A line of a unit's notice list."""
    return {
        "id": notice.id,
        "title": notice.title,
        "published_at": _iso(notice.published_at),
        "pinned": bool(notice.pinned),
        "read": bool(read),
    }


def notice_dict(notice, read):
    """One notice as a unit reads it."""
    return {**item_dict(notice, read), "body": notice.body}


def admin_dict(notice, read_count, with_body=True):
    """One notice as an admin manages it."""
    out = {
        "id": notice.id,
        "title": notice.title,
        "published_at": _iso(notice.published_at),
        "pinned": bool(notice.pinned),
        "state": notice.state,
        "updated_at": _iso(notice.updated_at),
        "withdrawn_at": _iso(notice.withdrawn_at),
        "published_by": notice.published_by,
        "read_count": read_count,
    }
    if with_body:
        out["body"] = notice.body
    return out


def _existing(store, notice_id):
    notice = store.notice(notice_id)
    if notice is None:
        raise NotFound("通知不存在")
    return notice


def _published(store, notice_id):
    notice = store.published_notice(notice_id)
    if notice is None:
        raise NotFound("通知不存在或已撤回")
    return notice


# admins
def publish(store, title, body, pinned, now, actor=None, idempotency_key=None):
    """Publish a notice at `now`. The same `idempotency_key` from the same
    actor returns the first notice and publishes nothing more."""
    title = rules.clean_title(title)
    errors = rules.notice_errors(title, body)
    if pinned is not None and not isinstance(pinned, bool):
        errors["pinned"] = ["置顶应为 true 或 false"]
    if errors:
        raise InvalidInput("通知内容有误，请检查", errors)
    published_by = actor or SYSTEM
    with store.unit_of_work():
        earlier = store.notice_by_key(published_by, idempotency_key) if idempotency_key else None
        if earlier is None:
            notice = store.add_notice(title, body, bool(pinned), now, published_by, idempotency_key or None)
            if notice is not None:
                store.commit()
                return admin_dict(notice, 0)
            # A concurrent request with the same key committed first: its
            # notice is the answer (nothing of this block is kept).
            earlier = store.notice_by_key(published_by, idempotency_key)
        return admin_dict(earlier, store.read_count(earlier.id))


def edit(store, notice_id, changes, now):
    """Change the title, body or pin of a notice. Its publish time and the
    units' read marks stay; a withdrawn notice stays withdrawn."""
    changes = dict(changes or {})
    if "title" in changes:
        changes["title"] = rules.clean_title(changes["title"])
    errors = rules.change_errors(changes)
    if errors:
        raise InvalidInput("通知内容有误，请检查", errors)
    with store.unit_of_work():
        notice = _existing(store, notice_id)
        for field, value in changes.items():
            setattr(notice, field, value)
        notice.updated_at = now
        store.commit()
        return admin_dict(notice, store.read_count(notice.id))


def withdraw(store, notice_id, now):
    """Hide a notice from the units. Withdrawing twice changes nothing more."""
    with store.unit_of_work():
        notice = _existing(store, notice_id)
        if notice.state != "withdrawn":
            notice.state = "withdrawn"
            notice.withdrawn_at = now
            notice.updated_at = now
            store.commit()
        return admin_dict(notice, store.read_count(notice.id))


def all_notices(store, page, size, state=None):
    if state is not None and state not in rules.STATES:
        raise InvalidInput("状态不正确", {"state": ["状态应为 published 或 withdrawn"]})
    with store.reading():
        total, rows = store.all_notices((page - 1) * size, size, state)
        return {
            "items": [admin_dict(n, count, with_body=False) for n, count in rows],
            "total": total, "page": page, "size": size,
        }


def notice_for_admin(store, notice_id):
    with store.reading():
        notice = _existing(store, notice_id)
        return admin_dict(notice, store.read_count(notice.id))


# units (and admins looking as a unit would)
def notices_for_unit(store, unit_id, page, size, unread_only=False):
    """A page of the published notices with the unit's read flags, pinned
    first and then newest, plus how many the unit has not read."""
    with store.reading():
        total, rows = store.notices_for_unit(unit_id, (page - 1) * size, size, unread_only)
        unread = total if unread_only else store.unread_count(unit_id)
        return {
            "items": [item_dict(n, read) for n, read in rows],
            "total": total, "page": page, "size": size, "unread": unread,
        }


def read_notice(store, notice_id, unit_id, now):
    """A published notice; reading it marks it read for the unit."""
    if unit_id is None:
        with store.reading():
            return notice_dict(_published(store, notice_id), False)
    with store.unit_of_work():
        notice = _published(store, notice_id)
        store.mark_read(notice.id, unit_id, now)
        store.commit()
        return notice_dict(notice, True)


def unread_count(store, unit_id):
    with store.reading():
        return {"unread": store.unread_count(unit_id)}
