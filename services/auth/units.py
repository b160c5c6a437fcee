"""The operator's workbench in auth: units with their division and 乡镇/街道,
contact, disabling, the history of every change, units in bulk from Excel
with generated initial passwords, and the feed of unit changes the
declarations service copies divisions from (docs/workbench.md).

Use cases over an AuthStore, like accounts.py; they read and write the
unit tables through the store's session. Every change of a unit writes a
`unit_changes` row in the same transaction: who, what (before and after),
when, and the unit as it is afterwards."""
import secrets
import string
from datetime import timedelta

from argon2 import PasswordHasher
from sqlalchemy import func, or_, select, update

from common import sheets
from common.clock import aware
from common.credit_code import normalise as normalise_credit_code
from common.divisions import DIVISIONS, UNASSIGNED, division_code, division_errors, division_name
from common.errors import AccountDisabled, Conflict, InvalidInput, NotFound
from common.person import clean_phone
from services.auth import rules
from services.auth.models import Account, Session, Unit, UnitChange, UnitImport

# Generated passwords are 14 random characters of four classes (~80 bits):
# guessing them offline is out of reach whatever the hash costs, so they are
# hashed with argon2 at a lower cost than chosen ones (a 2,500-unit import
# then takes seconds, not minutes); the account must change it at first
# sign-in, which hashes the new one at the full cost.
GENERATED_LENGTH = 14
_generated_hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)

TEMPLATE_COLUMNS = ("单位名称", "统一社会信用代码", "所属区县", "乡镇/街道", "平台账号", "联系人", "联系电话")
CREDENTIAL_COLUMNS = ("单位名称", "统一社会信用代码", "平台账号", "初始密码")
CREDENTIALS_TTL = timedelta(hours=24)
MAX_IMPORT_ROWS = 5000
EDITABLE = ("name", "division", "street", "contact", "phone", "disabled")
FIELD_LABELS = {"name": "单位名称", "division": "所属区县", "street": "乡镇/街道", "contact": "联系人",
                "phone": "联系电话", "disabled": "停用", "credit_code": "统一社会信用代码",
                "account": "平台账号", "password": "密码"}
DISABLED = "该单位账号已停用，请联系医保经办机构"


def generate_password():
    # no "=", "+", "-" or "@": a value starting with one is written to a
    # workbook as text behind a quote (common/sheets.py), and the password
    # the operator downloads would not be the one that signs in
    alphabet = string.ascii_letters + string.digits + "#%?!*"
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(GENERATED_LENGTH))
        classes = (set(pw) & set(string.ascii_lowercase), set(pw) & set(string.ascii_uppercase),
                   set(pw) & set(string.digits), set(pw) - set(string.ascii_letters + string.digits))
        if all(classes) and not rules.password_errors(pw, None):
            return pw


def _snapshot(unit, account):
    return {"name": unit.name, "credit_code": unit.credit_code, "account": account,
            "division": unit.division or UNASSIGNED, "street": unit.street or "",
            "disabled": bool(unit.disabled)}


def view(unit, account_row, now=None):
    locked = bool(account_row is not None and account_row.locked_until and now
                  and aware(account_row.locked_until) > now)
    return {
        "id": unit.id, "name": unit.name, "credit_code": unit.credit_code,
        "account": account_row.account if account_row is not None else None,
        "division": unit.division or UNASSIGNED, "division_name": division_name(unit.division),
        "street": unit.street or "", "contact": unit.contact, "phone": unit.phone,
        "disabled": bool(unit.disabled), "locked": locked,
        "created_at": aware(unit.created_at).isoformat(),
    }


def _account_of(session, unit_id):
    return session.scalar(select(Account).where(Account.unit_id == unit_id))


def _record(session, unit, account, actor, action, changes, now):
    session.add(UnitChange(unit_id=unit.id, at=now, actor=actor, action=action, changes=changes,
                           unit=_snapshot(unit, account)))


def _clean_contact(values, errors):
    contact = (values.get("contact") or "").strip() or None
    phone = (values.get("phone") or "").strip() or None
    if contact and len(contact) > 50:
        errors["contact"] = ["联系人不能超过50个字"]
    if phone:
        try:
            phone = clean_phone(phone)
        except ValueError as problem:
            errors["phone"] = [str(problem)]
    return contact, phone


def _new_unit_errors(values):
    name = (values.get("name") or "").strip()
    credit_code = normalise_credit_code(values.get("credit_code"))
    password = values.get("password") or None
    # (a generated password is checked in place of the one to be generated)
    errors = rules.unit_errors(name, values.get("account"), credit_code,
                               password if password is not None else generate_password())
    division = values.get("division")
    street = (values.get("street") or "").strip()
    errors.update(division_errors(division, street))
    contact, phone = _clean_contact(values, errors)
    return errors, {"name": name, "credit_code": credit_code, "account": values.get("account"),
                    "division": division, "street": street, "contact": contact, "phone": phone,
                    "password": password}


def _taken(session, account, credit_code):
    errors = {}
    if session.scalar(select(Account.id).where(Account.account == account)) is not None:
        errors["account"] = ["该账号已被使用"]
    if session.scalar(select(Unit.id).where(Unit.credit_code == credit_code)) is not None:
        errors["credit_code"] = ["该统一社会信用代码已登记"]
    return errors


def _insert(session, clean, password_hash, actor, now, action, must_change):
    unit = Unit(name=clean["name"], credit_code=clean["credit_code"], created_at=now,
                division=clean["division"], street=clean["street"], contact=clean["contact"],
                phone=clean["phone"], disabled=False)
    session.add(unit)
    session.flush()
    account = Account(account=clean["account"], password_hash=password_hash, role="unit",
                      unit_id=unit.id, created_at=now)
    if hasattr(Account, "must_change_password"):
        account.must_change_password = must_change
    if hasattr(Account, "password_changed_at"):
        account.password_changed_at = now
    session.add(account)
    session.flush()
    _record(session, unit, clean["account"], actor, action,
            {k: [None, clean[k]] for k in ("name", "credit_code", "division", "street", "contact", "phone")
             if clean[k] is not None} | {"account": [None, clean["account"]]}, now)
    return unit, account


def create(store, values, actor, now):
    """A unit with its division and street, and its account. Without a
    password one is generated and answered once as `temporary_password`.
    Either way it is an initial password, known to the operator who set it:
    the unit must change it at first sign-in."""
    errors, clean = _new_unit_errors(values)
    if errors:
        raise InvalidInput("单位信息有误，请检查", errors)
    generated = clean["password"] is None
    password = generate_password() if generated else clean["password"]
    password_hash = (_generated_hasher if generated else PasswordHasher()).hash(password)
    with store.unit_of_work():
        taken = _taken(store.session, clean["account"], clean["credit_code"])
        if taken:
            raise Conflict(next(iter(taken.values()))[0], taken)
        unit, account = _insert(store.session, clean, password_hash, actor, now, "created", must_change=True)
        store.commit()
        out = view(unit, account, now)
    if generated:
        out["temporary_password"] = password
    return out


def list_units(store, filters, page, size, now):
    filters = filters or {}
    where = []
    if filters.get("division"):
        where.append(Unit.division == filters["division"])
    if filters.get("street"):
        where.append(Unit.street == filters["street"])
    if filters.get("disabled") is not None:
        where.append(Unit.disabled.is_(bool(filters["disabled"])))
    if filters.get("q"):
        like = "%" + filters["q"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(or_(Unit.name.like(like, escape="\\"), Unit.credit_code.like(like, escape="\\"),
                         Account.account.like(like, escape="\\")))
    with store.reading():
        base = select(Unit, Account).join(Account, Account.unit_id == Unit.id, isouter=True).where(*where)
        total = store.session.scalar(select(func.count()).select_from(base.subquery()))
        rows = store.session.execute(base.order_by(Unit.id).offset((page - 1) * size).limit(size)).all()
        return {"items": [view(u, a, now) for u, a in rows], "total": total, "page": page, "size": size}


def get(store, unit_id, now):
    with store.reading():
        unit = store.session.get(Unit, unit_id)
        if unit is None:
            raise NotFound("单位不存在")
        return view(unit, _account_of(store.session, unit_id), now)


def update_unit(store, unit_id, values, actor, now):
    """Change a unit's name, division, street, contact, phone or disabled.
    Returns (the unit, the account whose sessions were ended or None):
    disabling ends every live session of the unit's account at once."""
    values = {k: v for k, v in (values or {}).items() if k in EDITABLE}
    errors = {}
    if "name" in values:
        values["name"] = (values["name"] or "").strip()
        if not 2 <= len(values["name"]) <= 100:
            errors["name"] = ["单位名称应为2至100个字符"]
    if "division" in values or "street" in values:
        if "street" in values:
            values["street"] = (values["street"] or "").strip()
        errors.update(division_errors(values.get("division", "350502"), values.get("street", "-")))
    if "contact" in values or "phone" in values:
        contact, phone = _clean_contact(values, errors)
        if "contact" in values:
            values["contact"] = contact
        if "phone" in values:
            values["phone"] = phone
    if errors:
        raise InvalidInput("单位信息有误，请检查", errors)
    with store.unit_of_work():
        unit = store.session.get(Unit, unit_id)
        if unit is None:
            raise NotFound("单位不存在")
        account = _account_of(store.session, unit_id)
        changes = {}
        for key, value in values.items():
            before = getattr(unit, key)
            if key == "disabled":
                value, before = bool(value), bool(before)
            if before != value:
                changes[key] = [before, value]
                setattr(unit, key, value)
        ended = None
        if changes:
            if changes.get("disabled", [None, False])[1] and account is not None:
                store.session.execute(update(Session).where(
                    Session.account_id == account.id, Session.revoked_at.is_(None)).values(revoked_at=now))
                ended = account.account
            _record(store.session, unit, account.account if account else None, actor, "updated", changes, now)
        store.commit()
        return view(unit, account, now), ended


def history(store, unit_id):
    """Who changed what of a unit and when, newest first."""
    with store.reading():
        if store.session.get(Unit, unit_id) is None:
            raise NotFound("单位不存在")
        rows = store.session.scalars(select(UnitChange).where(UnitChange.unit_id == unit_id)
                                     .order_by(UnitChange.id.desc())).all()
        return {"items": [{"at": aware(r.at).isoformat(), "actor": r.actor, "action": r.action,
                           "changes": [{"field": k, "label": FIELD_LABELS.get(k, k),
                                        "before": v[0], "after": v[1]} for k, v in (r.changes or {}).items()]}
                          for r in rows]}


def changes_after(store, after, limit=1000):
    """The feed of unit changes after `after` (its `seq`), oldest first: the
    unit as it was after each change."""
    with store.reading():
        rows = store.session.scalars(select(UnitChange).where(UnitChange.id > after)
                                     .order_by(UnitChange.id).limit(limit)).all()
        return [{"seq": r.id, "unit_id": r.unit_id, "at": aware(r.at).isoformat(), **(r.unit or {})}
                for r in rows]


def refuse_disabled_login(store, account):
    """Raise AccountDisabled (403) before the sign-in of a unit account whose
    unit is disabled (its sessions were ended when it was disabled)."""
    with store.reading():
        disabled = store.session.scalar(
            select(Unit.disabled).join(Account, Account.unit_id == Unit.id).where(Account.account == account))
    if disabled:
        raise AccountDisabled(DISABLED)


# -- units in bulk --------------------------------------------------------------

def template():
    notes = [
        "每行一个单位；所属区县填写区县名称（如 丰泽区）或6位代码（如 350503）。",
        "所属区县可选：" + "、".join(f"{name}（{code}）" for code, name in DIVISIONS.items()),
        "平台账号为3至50位字母、数字、下划线、点或短横线；初始密码由平台生成，导入后下载一次。",
        "导入失败的行可下载“失败原因”文件，修改后再次导入。",
    ]
    return {"file_name": "单位批量导入模板.xlsx",
            "content": sheets.build(TEMPLATE_COLUMNS, title="单位", notes=notes)}


def _row_values(values):
    return {"name": values["单位名称"], "credit_code": values["统一社会信用代码"],
            "division": division_code(values["所属区县"]) or (values["所属区县"] and "?"),
            "street": values["乡镇/街道"], "account": values["平台账号"],
            "contact": values["联系人"], "phone": values["联系电话"]}


def _reason(errors):
    return "；".join(f"{FIELD_LABELS.get(k, k)}：{'；'.join(v)}" for k, v in errors.items())


def import_units(store, content, actor, now, import_id=None):
    """Units from an upload of the template: each row accepted or refused on
    its own (refused rows come back with their reasons and as a failures
    workbook that can be corrected and imported again); accepted units get a
    generated password that must be changed at first sign-in, kept in a
    workbook the operator may download once (within CREDENTIALS_TTL)."""
    rows = sheets.read(content, TEMPLATE_COLUMNS, max_rows=MAX_IMPORT_ROWS)
    checked, failures, seen = [], [], {"account": set(), "credit_code": set()}
    for number, values in rows:
        errors, clean = _new_unit_errors(_row_values(values))
        if clean["division"] == "?":
            errors["division"] = ["所属区县不正确，应为泉州市的12个县级行政区之一"]
        for key in ("account", "credit_code"):
            if clean[key] and clean[key] in seen[key]:
                errors.setdefault(key, []).append("与本文件中前面的行重复")
            seen[key].add(clean[key])
        if errors:
            failures.append({"row": number, "account": values["平台账号"], "reason": _reason(errors),
                             "values": [values[c] for c in TEMPLATE_COLUMNS]})
        else:
            checked.append((number, values, clean))
    with store.reading():
        for number, values, clean in list(checked):
            taken = _taken(store.session, clean["account"], clean["credit_code"])
            if taken:
                checked.remove((number, values, clean))
                failures.append({"row": number, "account": values["平台账号"], "reason": _reason(taken),
                                 "values": [values[c] for c in TEMPLATE_COLUMNS]})
    passwords = [generate_password() for _ in checked]
    hashes = [_generated_hasher.hash(p) for p in passwords]  # outside any transaction
    import_id = import_id or secrets.token_hex(16)
    credentials = []
    with store.unit_of_work():
        for (_, _values, clean), password, password_hash in zip(checked, passwords, hashes, strict=True):
            _insert(store.session, clean, password_hash, actor, now, "imported", True)
            credentials.append([clean["name"], clean["credit_code"], clean["account"], password])
        failures.sort(key=lambda f: f["row"])
        store.session.add(UnitImport(
            id=import_id, at=now, actor=actor, total=len(rows), succeeded=len(checked),
            failed=len(failures), failures=failures,
            credentials=sheets.build(CREDENTIAL_COLUMNS, credentials, title="初始密码") if credentials else None))
        store.commit()
    return {"import_id": import_id, "total": len(rows), "succeeded": len(checked), "failed": len(failures),
            "failures": [{k: f[k] for k in ("row", "account", "reason")} for f in failures],
            "has_credentials": bool(credentials)}


def import_failures(store, import_id):
    with store.reading():
        row = store.session.get(UnitImport, import_id)
        if row is None or not row.failures:
            raise NotFound("没有失败记录")
        return {"file_name": "单位导入失败原因.xlsx", "content": sheets.build(
            TEMPLATE_COLUMNS, [f["values"] for f in row.failures], title="单位",
            reasons={i: f["reason"] for i, f in enumerate(row.failures)})}


def take_credentials(store, import_id, now):
    """The initial passwords of an import, once: the workbook is deleted as
    it is handed out (and is gone after CREDENTIALS_TTL)."""
    with store.unit_of_work():
        row = store.session.get(UnitImport, import_id)
        content = row.credentials if row is not None else None
        if content is not None:
            row.credentials = None
            store.commit()
        if content is None or aware(row.at) + CREDENTIALS_TTL < now:
            raise NotFound("初始密码文件已下载或已过期；如需新密码请重置密码")
        return {"file_name": "单位初始密码.xlsx", "content": content}


def directory(store):
    """[{id, account, credit_code}] of every unit (targets are imported by
    credit code or account)."""
    with store.reading():
        rows = store.session.execute(select(Unit.id, Unit.credit_code, Account.account)
                                     .join(Account, Account.unit_id == Unit.id, isouter=True)).all()
        return [{"id": i, "credit_code": c, "account": a} for i, c, a in rows]
