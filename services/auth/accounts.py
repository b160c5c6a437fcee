"""Use cases of the auth service as plain functions over an AuthStore.

`service.py` calls these; tests may call them directly with a real store.
Each write is one `with store.unit_of_work(): ... store.commit()`, each read
a `with store.reading():` (common.db.UnitOfWork); argon2 (tens of
milliseconds) runs between them, never inside a transaction."""
import os
import secrets
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.credit_code import normalise as normalise_credit_code
from common.errors import InvalidInput, Locked, NotFound, TooManyRequests, Unauthorized
from services.auth import rules
from services.auth.store import account_taken, aware, credit_code_taken

hasher = PasswordHasher()
# Verified against when the account does not exist, so both paths cost the same.
_DUMMY_HASH = hasher.hash("not-a-real-password")
# Unlock times are shown to users in the business time zone.
BUSINESS_TZ = ZoneInfo(os.environ.get("BUSINESS_TZ", "Asia/Shanghai"))


def hash_password(password):
    return hasher.hash(password)


def _verify(password_hash, password):
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _local(dt):
    return dt.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M")


def _locked(until):
    return Locked(
        f"密码连续输错{rules.MAX_FAILURES}次，账号已锁定，请于{_local(until)}后再试",
        extra={"locked_until": until.isoformat()},
    )


def unit_dict(unit, account=None):
    return {
        "id": unit.id,
        "name": unit.name,
        "credit_code": unit.credit_code,
        "account": account,
        "created_at": aware(unit.created_at).isoformat(),
    }


def login(store, account, password, address, now, ttl, limits=rules.RATE_LIMITS):
    """Returns (token, principal, expires_at) or raises Unauthorized/Locked/
    TooManyRequests. Attempts over the rate limits are refused before any
    password is checked, so guessing cannot run faster than the limits.
    The password is checked outside any transaction (argon2 takes tens of
    milliseconds: no lock or snapshot is held meanwhile)."""
    account = account or ""
    since = now - rules.RATE_WINDOW
    with store.reading():
        if (store.attempts_since(account=account, since=since) >= limits["account"]
                or (address and store.attempts_since(address=address, since=since) >= limits["address"])):
            raise TooManyRequests("登录尝试过于频繁，请1分钟后再试")
        row = store.account(account)
        locked_until = aware(row.locked_until) if row is not None and row.locked_until else None
        password_hash = row.password_hash if row is not None else _DUMMY_HASH
    if locked_until and locked_until > now:
        with store.unit_of_work():
            store.record_attempt(account, now, address, False)
            store.commit()
        raise _locked(locked_until)
    ok = _verify(password_hash, password or "")
    with store.unit_of_work():
        row = store.account(account)
        if not ok or row is None:
            earlier = store.failures_since(account, now - rules.FAILURE_WINDOW) if row else 0
            store.record_attempt(account, now, address, False)
            until = None
            if row is not None and rules.should_lock(earlier + 1):
                until = rules.unlock_time(now)
                row.locked_until = until
            store.commit()
            raise _locked(until) if until else Unauthorized("账号或密码错误")
        row.locked_until = None
        store.record_attempt(account, now, address, True)
        token = secrets.token_urlsafe(32)
        expires_at = now + ttl
        store.add_session(token, row.id, now, expires_at)
        store.commit()
        return token, principal(store, row), expires_at


def principal(store, account_row):
    unit = store.unit(account_row.unit_id) if account_row.unit_id else None
    return {
        "account": account_row.account,
        "role": account_row.role,
        "unit_id": account_row.unit_id,
        "unit": unit_dict(unit) if unit else None,
    }


def _live_session(store, token, now):
    session = store.session_for(token or "")
    if session is None or session.revoked_at is not None or aware(session.expires_at) <= now:
        raise Unauthorized("登录已失效，请重新登录")
    return session


def authenticate(store, token, now):
    with store.reading():
        session = _live_session(store, token, now)
        # expires_at: how long a gateway may keep this answer at most.
        return {**principal(store, store.account_by_id(session.account_id)),
                "expires_at": aware(session.expires_at).isoformat()}


def logout(store, token, now):
    with store.unit_of_work():
        store.revoke(token, now)
        store.commit()


def change_password(store, token, old_password, new_password, now):
    """Returns the account whose other tokens were revoked. The passwords
    are checked and hashed outside any transaction (argon2)."""
    with store.reading():
        session = _live_session(store, token, now)
        account_id = session.account_id
        row = store.account_by_id(account_id)
        account, password_hash = row.account, row.password_hash
    if not _verify(password_hash, old_password or ""):
        raise InvalidInput("原密码不正确", {"old_password": ["原密码不正确"]})
    problems = rules.password_errors(new_password, account)
    if new_password == old_password:
        problems.append("新密码不能与原密码相同")
    if problems:
        raise InvalidInput("新密码不符合要求", {"new_password": problems})
    new_hash = hash_password(new_password)
    with store.unit_of_work():
        # the token may have been revoked while the passwords were checked
        _live_session(store, token, now)
        store.account_by_id(account_id).password_hash = new_hash
        store.revoke_others(account_id, token, now)
        store.commit()
    return account


def create_unit(store, name, account, credit_code, password):
    credit_code = normalise_credit_code(credit_code)
    name = (name or "").strip()
    errors = rules.unit_errors(name, account, credit_code, password)
    if errors:
        raise InvalidInput("单位信息有误，请检查", errors)
    with store.reading():
        _refuse_taken(store, account, credit_code)
    password_hash = hash_password(password)  # argon2, outside any transaction
    with store.unit_of_work():
        # looked at again under the write transaction; a unit or account
        # committed by another request in between is a Conflict from the store
        _refuse_taken(store, account, credit_code)
        unit = store.add_unit(name, credit_code)
        store.add_account(account, password_hash, "unit", unit.id)
        store.commit()
        return unit_dict(unit, account)


def _refuse_taken(store, account, credit_code=None):
    if store.account(account):
        raise account_taken()
    if credit_code is not None and store.unit_by_credit_code(credit_code):
        raise credit_code_taken()


def create_account(store, account, password, role):
    """An admin or downstream account (units are made with create_unit)."""
    if role not in ("admin", "downstream"):
        raise InvalidInput("角色不正确", {"role": ["角色应为 admin 或 downstream"]})
    errors = {}
    if rules.account_error(account):
        errors["account"] = [rules.account_error(account)]
    if rules.password_errors(password, account):
        errors["password"] = rules.password_errors(password, account)
    if errors:
        raise InvalidInput("账号信息有误", errors)
    with store.reading():
        _refuse_taken(store, account)
    password_hash = hash_password(password)
    with store.unit_of_work():
        _refuse_taken(store, account)
        store.add_account(account, password_hash, role)
        store.commit()
    return {"account": account, "role": role}


def list_units(store, page, size):
    with store.reading():
        total, rows = store.units((page - 1) * size, size)
        return {"items": [unit_dict(u, a) for u, a in rows], "total": total, "page": page, "size": size}


def get_unit(store, unit_id):
    with store.reading():
        unit = store.unit(unit_id)
        if unit is None:
            raise NotFound("单位不存在")
        return unit_dict(unit)


def get_units(store, unit_ids):
    with store.reading():
        return [unit_dict(u) for u in store.units_by_ids(list(unit_ids))]


def unit_logins(store, unit_id, limit=100):
    """The login attempts of a unit's account, newest first (audit)."""
    with store.reading():
        if store.unit(unit_id) is None:
            raise NotFound("单位不存在")
        account = store.unit_account(unit_id)
        return [
            {"at": aware(a.at).isoformat(), "address": a.address, "success": a.success}
            for a in store.logins(account.account, limit)
        ] if account else []
