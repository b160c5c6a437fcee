"""Use cases of the auth service as plain functions over an AuthStore.

`service.py` calls these; tests may call them directly with a real store."""
import os
import secrets
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.credit_code import normalise as normalise_credit_code
from common.errors import Conflict, InvalidInput, Locked, NotFound, TooManyRequests, Unauthorized
from services.auth import rules
from services.auth.store import aware

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
    password is checked, so guessing cannot run faster than the limits."""
    since = now - rules.RATE_WINDOW
    if (store.attempts_since(account=account or "", since=since) >= limits["account"]
            or (address and store.attempts_since(address=address, since=since) >= limits["address"])):
        raise TooManyRequests("登录尝试过于频繁，请1分钟后再试")
    row = store.account(account or "")
    if row is not None and row.locked_until and aware(row.locked_until) > now:
        store.record_attempt(account, now, address, False)
        store.commit()
        raise _locked(aware(row.locked_until))
    ok = _verify(row.password_hash if row else _DUMMY_HASH, password or "")
    if not ok or row is None:
        earlier = store.failures_since(account, now - rules.FAILURE_WINDOW) if row else 0
        store.record_attempt(account or "", now, address, False)
        if row is not None:
            if rules.should_lock(earlier + 1):
                until = rules.unlock_time(now)
                row.locked_until = until
                store.commit()
                raise _locked(until)
        store.commit()
        raise Unauthorized("账号或密码错误")
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


def authenticate(store, token, now):
    session = store.session_for(token or "")
    if session is None or session.revoked_at is not None or aware(session.expires_at) <= now:
        raise Unauthorized("登录已失效，请重新登录")
    # expires_at: how long a gateway may keep this answer at most.
    return {**principal(store, store.account_by_id(session.account_id)),
            "expires_at": aware(session.expires_at).isoformat()}


def logout(store, token, now):
    store.revoke(token, now)
    store.commit()


def change_password(store, token, old_password, new_password, now):
    """Returns the account whose other tokens were revoked."""
    session = store.session_for(token or "")
    if session is None or session.revoked_at is not None or aware(session.expires_at) <= now:
        raise Unauthorized("登录已失效，请重新登录")
    row = store.account_by_id(session.account_id)
    if not _verify(row.password_hash, old_password or ""):
        raise InvalidInput("原密码不正确", {"old_password": ["原密码不正确"]})
    problems = rules.password_errors(new_password, row.account)
    if new_password == old_password:
        problems.append("新密码不能与原密码相同")
    if problems:
        raise InvalidInput("新密码不符合要求", {"new_password": problems})
    row.password_hash = hash_password(new_password)
    store.revoke_others(row.id, token, now)
    store.commit()
    return row.account


def create_unit(store, name, account, credit_code, password):
    credit_code = normalise_credit_code(credit_code)
    name = (name or "").strip()
    errors = rules.unit_errors(name, account, credit_code, password)
    if errors:
        raise InvalidInput("单位信息有误，请检查", errors)
    if store.account(account):
        raise Conflict("该账号已被使用", {"account": ["该账号已被使用"]})
    if store.unit_by_credit_code(credit_code):
        raise Conflict("该统一社会信用代码已登记", {"credit_code": ["该统一社会信用代码已登记"]})
    unit = store.add_unit(name, credit_code)
    store.add_account(account, hash_password(password), "unit", unit.id)
    store.commit()
    return unit_dict(unit, account)


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
    if store.account(account):
        raise Conflict("该账号已被使用", {"account": ["该账号已被使用"]})
    store.add_account(account, hash_password(password), role)
    store.commit()
    return {"account": account, "role": role}


def list_units(store, page, size):
    total, rows = store.units((page - 1) * size, size)
    return {"items": [unit_dict(u, a) for u, a in rows], "total": total, "page": page, "size": size}


def get_unit(store, unit_id):
    unit = store.unit(unit_id)
    if unit is None:
        raise NotFound("单位不存在")
    return unit_dict(unit)


def unit_logins(store, unit_id, limit=100):
    """The login attempts of a unit's account, newest first (audit)."""
    if store.unit(unit_id) is None:
        raise NotFound("单位不存在")
    account = store.unit_account(unit_id)
    return [
        {"at": aware(a.at).isoformat(), "address": a.address, "success": a.success}
        for a in store.logins(account.account, limit)
    ] if account else []
