"""Rules of authentication, free of any framework: the lockout window, the
password policy and the shapes of accounts. The service applies them."""
import re
from datetime import timedelta

from common.credit_code import credit_code_error, normalise as normalise_credit_code

ROLES = ("unit", "admin", "downstream")
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 8
# Login attempts allowed per minute, per account and per client address.
RATE_WINDOW = timedelta(minutes=1)
RATE_LIMITS = {"account": 10, "address": 60}
_ACCOUNT = re.compile(r"^[A-Za-z0-9_.\-]{3,50}$")


def should_lock(recent_failures):
    """`recent_failures`: failed attempts inside FAILURE_WINDOW, this one included."""
    return recent_failures >= MAX_FAILURES


def unlock_time(last_failure_at):
    return last_failure_at + LOCK_DURATION


def password_errors(password, account=None):
    """Chinese reasons why `password` is not acceptable (empty when it is)."""
    errors = []
    if len(password or "") < MIN_PASSWORD_LENGTH:
        errors.append(f"密码至少{MIN_PASSWORD_LENGTH}位")
    if account and (password or "").lower() == account.lower():
        errors.append("密码不能与账号相同")
    if len(password or "") > 128:
        errors.append("密码不能超过128位")
    return errors


def account_error(account):
    if not _ACCOUNT.match(account or ""):
        return "账号应为3至50位字母、数字、下划线、点或短横线"
    return None


def unit_errors(name, account, credit_code, password):
    """Per-field Chinese reasons for a new unit; empty when acceptable."""
    errors = {}
    name = (name or "").strip()
    if not 2 <= len(name) <= 100:
        errors["name"] = ["单位名称应为2至100个字符"]
    if account_error(account):
        errors["account"] = [account_error(account)]
    code_error = credit_code_error(normalise_credit_code(credit_code))
    if code_error:
        errors["credit_code"] = [code_error]
    pw = password_errors(password, account)
    if pw:
        errors["password"] = pw
    return errors
