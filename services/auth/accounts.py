"""Use cases of the auth service as plain functions over an AuthStore.

`service.py` calls these; tests may call them directly with a real store.
Each write is one `with store.unit_of_work(): ... store.commit()`, each read
a `with store.reading():` (common.db.UnitOfWork); argon2 (tens of
milliseconds) runs between them, never inside a transaction."""
import dataclasses
import hashlib
import logging
import os
import secrets
from datetime import timedelta
from zoneinfo import ZoneInfo

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.credit_code import normalise as normalise_credit_code
from common.errors import Conflict, Forbidden, InvalidInput, Locked, NotFound, TooManyRequests, Unauthorized
from services.auth import rules
from services.auth.store import account_taken, aware, credit_code_taken, utcnow

log = logging.getLogger(__name__)

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


def _locked(until, policy=None):
    return Locked(
        f"连续输错{_policy(policy).max_failures}次，账号已锁定，请于{_local(until)}后再试",
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


def _policy(policy):
    return policy if policy is not None else rules.DEFAULT_POLICY


def _refuse_by_rate(store, account, address, now, limits):
    since = now - rules.RATE_WINDOW
    if (store.attempts_since(account=account, since=since) >= limits["account"]
            or (address and store.attempts_since(address=address, since=since) >= limits["address"])):
        raise TooManyRequests("登录尝试过于频繁，请1分钟后再试")


def _refuse_while_locked(store, row, account, address, now, policy):
    locked_until = aware(row.locked_until) if row is not None and row.locked_until else None
    if locked_until and locked_until > now:
        store.record_attempt(account, now, address, False)
        store.commit()
        raise _locked(locked_until, policy)


def _fail(store, account, row, now, address, policy, message="账号或密码错误"):
    """Records a failed attempt (a wrong password or second-factor code),
    locks the account on the last one allowed, commits and raises."""
    earlier = store.failures_since(account, now - policy.failure_window, row.unlocked_at) if row else 0
    store.record_attempt(account, now, address, False)
    until = None
    if row is not None and rules.should_lock(earlier + 1, policy):
        until = rules.unlock_time(now, policy)
        row.locked_until = until
    store.commit()
    raise _locked(until, policy) if until else Unauthorized(message)


def login(store, account, password, address, now, ttl, limits=rules.RATE_LIMITS, policy=None):
    """The login answer: {token, expires_at, account, role, unit_id, unit,
    must_change_password}, or, when a second factor is due, {mfa_required,
    mfa_token} / {mfa_enrolment_required, mfa_token} and no session yet.
    Raises Unauthorized/Locked/TooManyRequests. Attempts over the rate
    limits are refused before any password is checked, so guessing cannot
    run faster than the limits. The password is checked outside any
    transaction (argon2 takes tens of milliseconds: no lock or snapshot is
    held meanwhile)."""
    policy = _policy(policy)
    account = account or ""
    with store.reading():
        _refuse_by_rate(store, account, address, now, limits)
        row = store.account(account)
        locked_until = aware(row.locked_until) if row is not None and row.locked_until else None
        password_hash = row.password_hash if row is not None else _DUMMY_HASH
    if locked_until and locked_until > now:
        with store.unit_of_work():
            store.record_attempt(account, now, address, False)
            store.commit()
        raise _locked(locked_until, policy)
    ok = _verify(password_hash, password or "")
    with store.unit_of_work():
        row = store.account(account)
        if not ok or row is None:
            _fail(store, account, row, now, address, policy)
        if rules.mfa_due(row.role, policy):
            # The password was right; the login is counted once the second factor is.
            mfa_token = secrets.token_urlsafe(32)
            store.add_challenge(mfa_token, row.id, now, now + policy.mfa_token_ttl, address)
            store.commit()
            key = "mfa_required" if row.totp_secret else "mfa_enrolment_required"
            return {key: True, "mfa_token": mfa_token}
        answer = _open_session(store, row, now, ttl, address, policy)
        store.commit()
        return answer


def _open_session(store, row, now, ttl, address, policy):
    row.locked_until = None
    store.record_attempt(row.account, now, address, True)
    token = secrets.token_urlsafe(32)
    expires_at = now + ttl
    store.add_session(token, row.id, now, expires_at)
    return {"token": token, "expires_at": expires_at.isoformat(), **principal(store, row, now, policy)}


def must_change_password(row, now, policy=None):
    """Set by someone else (generated, reset), or older than the maximum age."""
    policy = _policy(policy)
    changed = aware(row.password_changed_at) if row.password_changed_at else None
    return bool(row.must_change_password) or rules.password_expired(changed, now, policy)


def principal(store, account_row, now=None, policy=None):
    unit = store.unit(account_row.unit_id) if account_row.unit_id else None
    answer = {
        "account": account_row.account,
        "role": account_row.role,
        "unit_id": account_row.unit_id,
        "unit": unit_dict(unit) if unit else None,
    }
    if now is not None:
        answer["must_change_password"] = must_change_password(account_row, now, policy)
    return answer


def _live_session(store, token, now, policy=None):
    policy = _policy(policy)
    session = store.session_for(token or "")
    if session is None or session.revoked_at is not None or aware(session.expires_at) <= now:
        raise Unauthorized("登录已失效，请重新登录")
    last_seen = aware(session.last_seen_at or session.created_at)
    if now >= last_seen + policy.idle:
        raise Unauthorized(f"超过{_minutes(policy.idle)}分钟未操作，登录已失效，请重新登录")
    return session


def _minutes(delta):
    return int(delta.total_seconds() // 60)


def _touch_interval(policy):
    # Last use is written at most this often: a fraction of the idle timeout.
    return min(timedelta(minutes=1), policy.idle / 10)


def authenticate(store, token, now, policy=None):
    """The principal of a live session, with `expires_at` the moment it ends
    unless used again (its absolute end or the idle timeout, whichever is
    first): how long a gateway may keep this answer at most."""
    policy = _policy(policy)
    with store.reading():
        session = _live_session(store, token, now, policy)
        last_seen = aware(session.last_seen_at or session.created_at)
        expires_at = aware(session.expires_at)
        answer = principal(store, store.account_by_id(session.account_id), now, policy)
    if now - last_seen >= _touch_interval(policy):
        with store.unit_of_work():
            store.touch(token, now)
            store.commit()
        last_seen = now
    return {**answer, "expires_at": rules.session_deadline(expires_at, last_seen, policy).isoformat()}


def logout(store, token, now):
    with store.unit_of_work():
        store.revoke(token, now)
        store.commit()


def _reused(password, hashes):
    return any(_verify(h, password) for h in hashes)


def change_password(store, token, old_password, new_password, now, policy=None):
    """Returns (the account whose other tokens were revoked, whether a change
    was required: then this token's principal changed too). The passwords
    are checked and hashed outside any transaction (argon2)."""
    policy = _policy(policy)
    with store.reading():
        session = _live_session(store, token, now, policy)
        account_id = session.account_id
        row = store.account_by_id(account_id)
        account, password_hash = row.account, row.password_hash
        required = must_change_password(row, now, policy)
        earlier = store.recent_password_hashes(account_id, policy.history)
    if not _verify(password_hash, old_password or ""):
        raise InvalidInput("原密码不正确", {"old_password": ["原密码不正确"]})
    problems = rules.password_errors(new_password, account, policy)
    if new_password == old_password:
        problems.append("新密码不能与原密码相同")
    elif not problems and _reused(new_password, earlier[:policy.history]):
        problems.append(f"新密码不能与最近{policy.history}次使用过的密码相同")
    if problems:
        raise InvalidInput("新密码不符合要求", {"new_password": problems})
    new_hash = hash_password(new_password)
    with store.unit_of_work():
        # the token may have been revoked while the passwords were checked
        _live_session(store, token, now, policy)
        row = store.account_by_id(account_id)
        _set_password(store, row, new_hash, now, must_change=False)
        store.revoke_others(account_id, token, now)
        store.commit()
    return account, required


def _set_password(store, row, password_hash, now, must_change):
    row.password_hash = password_hash
    row.password_changed_at = now
    row.must_change_password = must_change
    store.add_password_history(row.id, password_hash, now)


# (no symbol a spreadsheet takes for a formula start: see generate_password in units.py)
_TEMP_ALPHABETS = ("ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnpqrstuvwxyz", "23456789", "#%!*?")


def temporary_password(length=12):
    """A random password of every character class (no look-alike characters)."""
    chars = [secrets.choice(a) for a in _TEMP_ALPHABETS]
    pool = "".join(_TEMP_ALPHABETS)
    chars += [secrets.choice(pool) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def create_unit(store, name, account, credit_code, password=None, policy=None):
    """A unit and its account. Without `password` one is generated, answered
    once as `temporary_password`, and must be changed at first sign-in."""
    policy = _policy(policy)
    credit_code = normalise_credit_code(credit_code)
    name = (name or "").strip()
    errors = rules.unit_errors(name, account, credit_code, password, policy)
    if errors:
        raise InvalidInput("单位信息有误，请检查", errors)
    with store.reading():
        _refuse_taken(store, account, credit_code)
    generated = temporary_password() if password is None else None
    password_hash = hash_password(password if generated is None else generated)  # argon2, outside any transaction
    now = utcnow()
    with store.unit_of_work():
        # looked at again under the write transaction; a unit or account
        # committed by another request in between is a Conflict from the store
        _refuse_taken(store, account, credit_code)
        unit = store.add_unit(name, credit_code)
        row = store.add_account(account, password_hash, "unit", unit.id)
        _set_password(store, row, password_hash, now, must_change=generated is not None)
        store.commit()
        answer = unit_dict(unit, account)
    if generated is not None:
        answer["temporary_password"] = generated
    return answer


def _refuse_taken(store, account, credit_code=None):
    if store.account(account):
        raise account_taken()
    if credit_code is not None and store.unit_by_credit_code(credit_code):
        raise credit_code_taken()


def create_account(store, account, password, role, policy=None, must_change=None):
    """An administrative (admin, secadmin, auditor) or downstream account;
    units are made with create_unit. Without `password` one is generated
    and answered once as `temporary_password`. `must_change` (by default:
    when generated) makes the holder change it before anything else."""
    policy = _policy(policy)
    if role not in rules.ACCOUNT_ROLES:
        raise InvalidInput("角色不正确", {"role": ["角色应为 admin、secadmin、auditor 或 downstream"]})
    errors = {}
    if rules.account_error(account):
        errors["account"] = [rules.account_error(account)]
    if password is not None and rules.password_errors(password, account, policy):
        errors["password"] = rules.password_errors(password, account, policy)
    if errors:
        raise InvalidInput("账号信息有误", errors)
    with store.reading():
        _refuse_taken(store, account)
    generated = temporary_password() if password is None else None
    password_hash = hash_password(password if generated is None else generated)
    now = utcnow()
    with store.unit_of_work():
        _refuse_taken(store, account)
        row = store.add_account(account, password_hash, role)
        _set_password(store, row, password_hash, now,
                      must_change=(generated is not None) if must_change is None else must_change)
        store.commit()
    answer = {"account": account, "role": role}
    if generated is not None:
        answer["temporary_password"] = generated
    return answer


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


# ---- the second factor (RFC 6238 TOTP, one-time recovery codes) -------------

ISSUER = "泉州居民E点通"


def _sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def _recovery_code():
    raw = "".join(secrets.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _challenge(store, mfa_token, now):
    challenge = store.challenge(mfa_token or "")
    if challenge is None or challenge.used_at is not None or aware(challenge.expires_at) <= now:
        raise Unauthorized("验证已过期，请重新登录")
    return challenge


def totp_step(secret, code, now, last_counter, policy=None):
    """The time step of `code` for `secret` at `now`, if it is a valid code
    not used before (its step is later than `last_counter`); else None."""
    policy = _policy(policy)
    totp = pyotp.TOTP(secret, interval=policy.totp_step)
    return rules.totp_match(totp.generate_otp, (code or "").strip(), totp.timecode(now), last_counter, policy)


def _log_refused_code(row, code, now, policy):
    """Why a code was refused, for ops (a clock off by minutes, a code used
    twice): the step it belongs to relative to now and to the last one used,
    looked for within ten steps; never the code itself."""
    totp = pyotp.TOTP(row.totp_secret, interval=policy.totp_step)
    counter = totp.timecode(now)
    found = rules.totp_match(totp.generate_otp, code, counter, None, dataclasses.replace(policy, totp_window=10))
    if found is None:
        log.info("second-factor code refused for %s: not a code of the last or next 10 steps", row.account)
    else:
        last = row.totp_last_counter
        log.info("second-factor code refused for %s: a code of step now%+d (window ±%d), last step used now%s",
                 row.account, found - counter, policy.totp_window,
                 "-none" if last is None else f"{last - counter:+d}")


def enrol(store, mfa_token, now, policy=None):
    """A new second factor for the account of a pending sign-in that has
    none: {secret, otpauth_uri, recovery_codes}. It takes effect when the
    first code is confirmed (verify_mfa); enrolling again replaces it."""
    policy = _policy(policy)
    with store.unit_of_work():
        challenge = _challenge(store, mfa_token, now)
        row = store.account_by_id(challenge.account_id)
        if row.totp_secret:
            raise Conflict("该账号已绑定动态口令，请输入动态口令")
        secret = pyotp.random_base32()
        codes = [_recovery_code() for _ in range(policy.recovery_codes)]
        challenge.enrol_secret = secret
        challenge.enrol_codes = " ".join(_sha256(rules.normalise_recovery_code(c)) for c in codes)
        account = row.account
        store.commit()
    uri = pyotp.TOTP(secret, interval=policy.totp_step).provisioning_uri(name=account, issuer_name=ISSUER)
    return {"secret": secret, "otpauth_uri": uri, "recovery_codes": codes}


def verify_mfa(store, mfa_token, code, address, now, ttl, limits=rules.RATE_LIMITS, policy=None):
    """The second step of a sign-in: a TOTP code (or, once enrolled, a
    recovery code) gives the normal login answer. A wrong code counts
    towards the lockout like a wrong password; a code is accepted once."""
    policy = _policy(policy)
    with store.reading():
        challenge = _challenge(store, mfa_token, now)
        account = store.account_by_id(challenge.account_id).account
        _refuse_by_rate(store, account, address, now, limits)
    with store.unit_of_work():
        challenge = _challenge(store, mfa_token, now)
        row = store.account_for_update(challenge.account_id)
        _refuse_while_locked(store, row, account, address, now, policy)
        code = (code or "").strip()
        ok = False
        if row.totp_secret is None:  # confirming an enrolment
            if challenge.enrol_secret is None:
                raise InvalidInput("请先绑定动态口令", {"code": ["请先绑定动态口令"]})
            step = totp_step(challenge.enrol_secret, code, now, None, policy) if rules.is_totp_code(code) else None
            if step is not None:
                ok = True
                row.totp_secret, row.totp_last_counter = challenge.enrol_secret, step
                store.set_recovery_codes(row.id, (challenge.enrol_codes or "").split())
        elif rules.is_totp_code(code):
            step = totp_step(row.totp_secret, code, now, row.totp_last_counter, policy)
            if step is not None:
                ok, row.totp_last_counter = True, step
            else:
                _log_refused_code(row, code, now, policy)
        else:
            used = store.unused_recovery_code(row.id, _sha256(rules.normalise_recovery_code(code)))
            if used is not None:
                ok, used.used_at = True, now
        if not ok:
            _fail(store, account, row, now, address, policy, "动态口令不正确或已使用，请输入验证器中的最新口令")
        challenge.used_at = now
        answer = _open_session(store, row, now, ttl, address, policy)
        store.commit()
        return answer


def set_totp_secret(store, account, secret):
    """Give an account a second factor known in advance (seeding: ADMIN_TOTP_SECRET)."""
    pyotp.TOTP(secret).now()  # a secret that is not base32 is refused here
    with store.unit_of_work():
        row = store.account(account)
        if row is None:
            raise NotFound("账号不存在")
        row.totp_secret, row.totp_last_counter = secret.upper(), None
        store.commit()


# ---- what operators do to accounts (admin: units; secadmin: all but audit) --

def _account_row(store, account):
    row = store.account(account)
    if row is None:
        raise NotFound("账号不存在")
    return row


def _unit_row(store, unit_id):
    if store.unit(unit_id) is None:
        raise NotFound("单位不存在")
    row = store.unit_account(unit_id)
    if row is None:
        raise NotFound("该单位没有平台账号")
    return row


def _managed(store, account, actor):
    """An account a security administrator manages: administrative or
    downstream, never their own (another secadmin resets a secadmin)."""
    row = _account_row(store, account)
    if row.role not in rules.ACCOUNT_ROLES:
        raise Forbidden("单位账号请在单位管理中处理")
    if actor and row.account == actor:
        raise Forbidden("不能对自己的账号进行此操作")
    return row


def _reset_password(store, find, now):
    generated = temporary_password()
    password_hash = hash_password(generated)
    with store.unit_of_work():
        row = find()
        _set_password(store, row, password_hash, now, must_change=True)
        store.revoke_all(row.id, now)
        account = row.account
        store.commit()
    return account, generated


def reset_unit_password(store, unit_id, now):
    """A temporary password for a unit's account, shown once; its sessions end."""
    with store.reading():
        _unit_row(store, unit_id)
    account, generated = _reset_password(store, lambda: _unit_row(store, unit_id), now)
    return {"account": account, "temporary_password": generated}


def reset_account_password(store, account, now, actor=None):
    with store.reading():
        _managed(store, account, actor)
    account, generated = _reset_password(store, lambda: _managed(store, account, actor), now)
    return {"account": account, "temporary_password": generated}


def _unlock(row, now):
    row.locked_until = None
    row.unlocked_at = now


def unlock_unit(store, unit_id, now):
    with store.unit_of_work():
        _unlock(_unit_row(store, unit_id), now)
        account = store.unit_account(unit_id).account
        store.commit()
    return account


def unlock_account(store, account, now, actor=None):
    with store.unit_of_work():
        _unlock(_managed(store, account, actor), now)
        store.commit()
    return account


def reset_second_factor(store, account, now, actor=None):
    """The account enrols a new second factor at its next sign-in; its
    recovery codes and sessions end."""
    with store.unit_of_work():
        row = _managed(store, account, actor)
        row.totp_secret, row.totp_last_counter = None, None
        store.set_recovery_codes(row.id, [])
        store.revoke_all(row.id, now)
        store.commit()
    return account


def list_accounts(store, now, policy=None):
    """The administrative and downstream accounts, for the security administrator."""
    policy = _policy(policy)
    with store.reading():
        return {"items": [{
            "account": row.account,
            "role": row.role,
            "created_at": aware(row.created_at).isoformat(),
            "locked": bool(row.locked_until and aware(row.locked_until) > now),
            "mfa_enrolled": row.totp_secret is not None,
            "recovery_codes_left": store.recovery_codes_left(row.id) if row.totp_secret else 0,
            "must_change_password": must_change_password(row, now, policy),
            "password_changed_at": aware(row.password_changed_at).isoformat() if row.password_changed_at else None,
        } for row in store.accounts_with_roles(rules.ACCOUNT_ROLES)]}
