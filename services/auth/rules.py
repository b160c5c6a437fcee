"""Rules of authentication, free of any framework: the lockout window, the
password policy, the second factor's time steps, sessions' idle timeout and
the shapes of accounts. The service applies them; every number is in
`Policy`, whose fields the service fills from its settings (config.yaml)."""
import hmac
import re
import string
from dataclasses import dataclass
from datetime import timedelta

from common.credit_code import credit_code_error, normalise as normalise_credit_code

# Administrative roles (separation of duties: no account holds two of them).
ADMIN_ROLES = ("admin", "secadmin", "auditor")
ROLES = ("unit", "downstream", *ADMIN_ROLES)
# Roles a security administrator may give to a new account (units come from create_unit).
ACCOUNT_ROLES = ("admin", "secadmin", "auditor", "downstream")
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
# Login attempts allowed per minute, per account and per client address.
RATE_WINDOW = timedelta(minutes=1)
RATE_LIMITS = {"account": 10, "address": 60}
_ACCOUNT = re.compile(r"^[A-Za-z0-9_.\-]{3,50}$")


@dataclass(frozen=True)
class Policy:
    """The numbers of the sign-in rules (defaults: the level-3 bar)."""
    min_length: int = MIN_PASSWORD_LENGTH
    min_classes: int = 3            # of: lower case, upper case, digits, other characters
    max_age: timedelta = timedelta(days=90)
    history: int = 5                # the new password may not be any of the last N
    idle: timedelta = timedelta(minutes=30)
    mfa_for_units: bool = False
    mfa_token_ttl: timedelta = timedelta(minutes=5)
    totp_step: int = 30             # seconds (RFC 6238)
    totp_window: int = 1            # steps accepted either side of now (clock drift)
    recovery_codes: int = 10
    max_failures: int = MAX_FAILURES
    failure_window: timedelta = FAILURE_WINDOW   # failures that count towards a lockout
    lock_duration: timedelta = LOCK_DURATION


DEFAULT_POLICY = Policy()

# Setting (config.yaml, environment variable of the same name) -> Policy field.
SETTINGS = {
    "PASSWORD_MIN_LENGTH": ("min_length", int),
    "PASSWORD_MIN_CLASSES": ("min_classes", int),
    "PASSWORD_MAX_AGE_DAYS": ("max_age", lambda v: timedelta(days=int(v))),
    "PASSWORD_HISTORY": ("history", int),
    "SESSION_IDLE_MINUTES": ("idle", lambda v: timedelta(minutes=int(v))),
    "MFA_FOR_UNITS": ("mfa_for_units", lambda v: str(v).strip().lower() in ("1", "true", "yes", "on")),
    "MFA_TOKEN_TTL_MINUTES": ("mfa_token_ttl", lambda v: timedelta(minutes=int(v))),
    "TOTP_VALID_WINDOW": ("totp_window", int),
    "RECOVERY_CODES": ("recovery_codes", int),
    "LOGIN_MAX_FAILURES": ("max_failures", int),
    "LOGIN_FAILURE_WINDOW_MINUTES": ("failure_window", lambda v: timedelta(minutes=int(v))),
    "LOGIN_LOCK_MINUTES": ("lock_duration", lambda v: timedelta(minutes=int(v))),
}


def policy_from_settings(settings):
    """A Policy from a service's settings; unset or empty ones keep their default."""
    values = {}
    for name, (field, parse) in SETTINGS.items():
        raw = settings.get(name)
        if raw is not None and str(raw).strip() != "":
            values[field] = parse(raw)
    return Policy(**values)


def should_lock(recent_failures, policy=DEFAULT_POLICY):
    """`recent_failures`: failed attempts inside FAILURE_WINDOW, this one included."""
    return recent_failures >= policy.max_failures


def unlock_time(last_failure_at, policy=DEFAULT_POLICY):
    return last_failure_at + policy.lock_duration


def character_classes(password):
    """How many of the four classes (lower, upper, digit, other) `password` uses."""
    p = password or ""
    return sum((
        any(c in string.ascii_lowercase for c in p),
        any(c in string.ascii_uppercase for c in p),
        any(c.isdigit() for c in p),
        any(not (c.isascii() and c.isalnum()) for c in p),
    ))


def password_errors(password, account=None, policy=DEFAULT_POLICY):
    """Chinese reasons why `password` is not acceptable (empty when it is).
    Reuse of earlier passwords needs their hashes: see `accounts`."""
    errors = []
    p = password or ""
    if len(p) < policy.min_length:
        errors.append(f"密码至少{policy.min_length}位")
    if len(p) > MAX_PASSWORD_LENGTH:
        errors.append(f"密码不能超过{MAX_PASSWORD_LENGTH}位")
    if character_classes(p) < policy.min_classes:
        errors.append(f"密码须包含大写字母、小写字母、数字、符号中的至少{policy.min_classes}类")
    if account and p.lower() == account.lower():
        errors.append("密码不能与账号相同")
    elif account and account.lower() in p.lower():
        errors.append("密码不能包含账号")
    return errors


def password_expired(changed_at, now, policy=DEFAULT_POLICY):
    """A password set at `changed_at` must be changed from `changed_at + max_age` on
    (an unknown date, from before the rule, counts as expired)."""
    return changed_at is None or now >= changed_at + policy.max_age


def mfa_due(role, policy=DEFAULT_POLICY):
    """Whether an account of `role` signs in with a second factor."""
    return role in ADMIN_ROLES or (role == "unit" and policy.mfa_for_units)


def session_deadline(expires_at, last_seen_at, policy=DEFAULT_POLICY):
    """When a session ends: its absolute lifetime or `idle` after its last use."""
    return min(expires_at, last_seen_at + policy.idle)


def totp_match(expected_at, code, counter_now, last_counter, policy=DEFAULT_POLICY):
    """The time step whose code `code` is, within `totp_window` steps of
    `counter_now` and later than `last_counter` (a code used once is never
    accepted again), or None. `expected_at(counter)` gives the code of a step."""
    for counter in range(counter_now - policy.totp_window, counter_now + policy.totp_window + 1):
        if last_counter is not None and counter <= last_counter:
            continue
        if _same(expected_at(counter), code):
            return counter
    return None


def _same(a, b):
    return hmac.compare_digest(str(a).encode(), str(b).encode())


def normalise_recovery_code(code):
    return re.sub(r"[\s\-]", "", code or "").lower()


def is_totp_code(code):
    return bool(re.fullmatch(r"\d{6}", (code or "").strip()))


def account_error(account):
    if not _ACCOUNT.match(account or ""):
        return "账号应为3至50位字母、数字、下划线、点或短横线"
    return None


def unit_errors(name, account, credit_code, password, policy=DEFAULT_POLICY):
    """Per-field Chinese reasons for a new unit; empty when acceptable.
    `password` None: one is generated."""
    errors = {}
    name = (name or "").strip()
    if not 2 <= len(name) <= 100:
        errors["name"] = ["单位名称应为2至100个字符"]
    if account_error(account):
        errors["account"] = [account_error(account)]
    code_error = credit_code_error(normalise_credit_code(credit_code))
    if code_error:
        errors["credit_code"] = [code_error]
    pw = password_errors(password, account, policy) if password is not None else []
    if pw:
        errors["password"] = pw
    return errors
