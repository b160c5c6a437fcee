"""The password and session rules (services/auth/rules.py, accounts.py):
length, character classes, the account inside the password, expiry, the
last passwords not reused, temporary passwords changed first, the idle
timeout; every number from the settings."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from common.db import make_engine
from common.errors import InvalidInput, Unauthorized
from services.auth import accounts, rules
from services.auth.models import Base
from services.auth.store import AuthStore, utcnow

TTL = timedelta(hours=8)
PASSWORD = "Harbour#2026"


# ---- the rules alone ---------------------------------------------------------

def test_eight_characters_at_least():
    assert "密码至少8位" in rules.password_errors("Ab1#xyz", "someone")
    assert rules.password_errors("Ab1#wxyz", "someone") == []


def test_three_of_four_character_classes():
    message = "密码须包含大写字母、小写字母、数字、符号中的至少3类"
    assert message in rules.password_errors("abcdefgh12", "someone")   # two classes
    assert message in rules.password_errors("ABCDEFGH!!", "someone")
    for good in ("abcdefG12", "abcdefg1!", "ABCDEFG1!", "abcdefG!!"):
        assert rules.password_errors(good, "someone") == [], good


def test_a_chinese_character_counts_as_a_symbol():
    assert rules.character_classes("泉州abc123") == 3


def test_the_account_may_not_be_inside_the_password_in_any_case():
    assert rules.password_errors("DONGHAI#2026x", "donghai") == ["密码不能包含账号"]
    assert rules.password_errors("Donghai#", "donghai#") == ["密码不能与账号相同"]


def test_longer_than_128_is_refused():
    assert "密码不能超过128位" in rules.password_errors("Aa1#" * 33, "someone")


def test_expiry_after_the_maximum_age_and_an_unknown_date_counts_as_expired():
    changed = datetime(2026, 9, 1, tzinfo=UTC)
    assert not rules.password_expired(changed, changed + timedelta(days=89, hours=23))
    assert rules.password_expired(changed, changed + timedelta(days=90))
    assert rules.password_expired(None, changed)


def test_every_number_comes_from_the_settings():
    policy = rules.policy_from_settings({
        "PASSWORD_MIN_LENGTH": "12", "PASSWORD_MIN_CLASSES": "4", "PASSWORD_MAX_AGE_DAYS": "30",
        "PASSWORD_HISTORY": "3", "SESSION_IDLE_MINUTES": "10", "MFA_FOR_UNITS": "1",
        "MFA_TOKEN_TTL_MINUTES": "2", "TOTP_VALID_WINDOW": "0", "RECOVERY_CODES": "6",
        "LOGIN_MAX_FAILURES": "3", "LOGIN_FAILURE_WINDOW_MINUTES": "10", "LOGIN_LOCK_MINUTES": "30",
        "PASSWORD_UNKNOWN": "x"})
    assert policy == rules.Policy(
        min_length=12, min_classes=4, max_age=timedelta(days=30), history=3, idle=timedelta(minutes=10),
        mfa_for_units=True, mfa_token_ttl=timedelta(minutes=2), totp_window=0, recovery_codes=6,
        max_failures=3, failure_window=timedelta(minutes=10), lock_duration=timedelta(minutes=30))
    assert "密码至少12位" in rules.password_errors("Abc#12345", "someone", policy)
    assert rules.should_lock(3, policy) and not rules.should_lock(2, policy)
    # unset or empty settings keep the defaults
    assert rules.policy_from_settings({"PASSWORD_MIN_LENGTH": "", "MFA_FOR_UNITS": None}) == rules.DEFAULT_POLICY


def test_second_factor_is_due_for_administrators_and_for_units_when_set():
    for role in ("admin", "secadmin", "auditor"):
        assert rules.mfa_due(role)
    assert not rules.mfa_due("unit") and not rules.mfa_due("downstream")
    assert rules.mfa_due("unit", rules.Policy(mfa_for_units=True))


def test_a_session_ends_at_its_lifetime_or_idle_timeout_whichever_comes_first():
    start = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert rules.session_deadline(start + TTL, start, rules.DEFAULT_POLICY) == start + timedelta(minutes=30)
    late = start + TTL - timedelta(minutes=5)
    assert rules.session_deadline(start + TTL, late, rules.DEFAULT_POLICY) == start + TTL


# ---- over a store ------------------------------------------------------------

@pytest.fixture
def store(sqlite_url):
    engine = make_engine(sqlite_url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        s = AuthStore(session)
        accounts.create_unit(s, "泉州市丰泽区东海社区居民委员会", "donghai", "91110000600037341L", PASSWORD)
        yield s
    engine.dispose()


def sign_in(store, password=PASSWORD, now=None, policy=None):
    return accounts.login(store, "donghai", password, None, now or utcnow(), TTL, policy=policy)


def change(store, token, old, new, now=None, policy=None):
    return accounts.change_password(store, token, old, new, now or utcnow(), policy)


def test_a_new_password_must_follow_the_rules(store):
    token = sign_in(store)["token"]
    with pytest.raises(InvalidInput) as exc:
        change(store, token, PASSWORD, "donghai2026")
    assert exc.value.details["new_password"] == [
        "密码须包含大写字母、小写字母、数字、符号中的至少3类", "密码不能包含账号"]


def test_the_last_five_passwords_are_not_reused(store):
    token = sign_in(store)["token"]
    history = [PASSWORD] + [f"Rotate#{i}x2026" for i in range(1, 6)]
    for old, new in zip(history, history[1:], strict=False):
        change(store, token, old, new)
    # current: Rotate#5; the last five are Rotate#1..#5, PASSWORD is the sixth
    for reused in history[2:5]:
        with pytest.raises(InvalidInput) as exc:
            change(store, token, history[-1], reused)
        assert exc.value.details["new_password"] == ["新密码不能与最近5次使用过的密码相同"]
    change(store, token, history[-1], PASSWORD)


def test_the_history_length_is_a_setting(store):
    policy = rules.Policy(history=1)
    token = sign_in(store)["token"]
    change(store, token, PASSWORD, "Second#2026x", policy=policy)
    change(store, token, "Second#2026x", PASSWORD, policy=policy)  # only the current one is kept


def test_an_expired_password_must_be_changed_first(store):
    later = utcnow() + timedelta(days=91)
    answer = sign_in(store, now=later)
    assert answer["must_change_password"] is True
    assert accounts.authenticate(store, answer["token"], later)["must_change_password"] is True
    change(store, answer["token"], PASSWORD, "Renewed#2026", now=later)
    assert accounts.authenticate(store, answer["token"], later)["must_change_password"] is False


def test_a_generated_password_must_be_changed_first_and_then_no_longer(store):
    unit = accounts.create_unit(store, "泉州市丰泽区西湖社区居民委员会", "xihu", "91350503MA2Y8K3Q0F", None)
    temporary = unit["temporary_password"]
    assert rules.password_errors(temporary, "xihu") == []
    answer = accounts.login(store, "xihu", temporary, None, utcnow(), TTL)
    assert answer["must_change_password"] is True
    accounts.change_password(store, answer["token"], temporary, "Lakeside#2026", utcnow())
    assert accounts.login(store, "xihu", "Lakeside#2026", None, utcnow(), TTL)["must_change_password"] is False


def test_a_reset_gives_a_temporary_password_and_ends_the_sessions(store):
    token = sign_in(store)["token"]
    unit_id = store.account("donghai").unit_id
    temporary = accounts.reset_unit_password(store, unit_id, utcnow())["temporary_password"]
    with pytest.raises(Unauthorized):
        accounts.authenticate(store, token, utcnow())
    assert sign_in(store, temporary)["must_change_password"] is True


def test_an_unlock_ends_the_lockout_and_the_failures_before_it(store):
    now = utcnow()
    for i in range(5):
        with pytest.raises(Exception):  # noqa: B017 - Unauthorized, then Locked
            sign_in(store, "wrong-pass", now + timedelta(seconds=i))
    accounts.unlock_unit(store, store.account("donghai").unit_id, now + timedelta(seconds=10))
    with pytest.raises(Unauthorized):  # one more failure: not five in a row since the unlock
        sign_in(store, "wrong-pass", now + timedelta(seconds=11))
    assert sign_in(store, now=now + timedelta(seconds=12))["token"]


def test_idle_for_the_timeout_ends_the_session_use_keeps_it(store):
    start = utcnow()
    token = sign_in(store, now=start)["token"]
    # used every 20 minutes: alive well past 30 minutes from the login
    for minutes in (20, 40, 60):
        principal = accounts.authenticate(store, token, start + timedelta(minutes=minutes))
        assert principal["account"] == "donghai"
    # the answer says how long it may be trusted: 30 minutes after the last use
    assert principal["expires_at"] == (start + timedelta(minutes=90)).isoformat()
    with pytest.raises(Unauthorized) as exc:
        accounts.authenticate(store, token, start + timedelta(minutes=90))
    assert "30分钟未操作" in exc.value.message


def test_the_idle_timeout_is_a_setting(store):
    policy = rules.Policy(idle=timedelta(minutes=5))
    start = utcnow()
    token = sign_in(store, now=start, policy=policy)["token"]
    with pytest.raises(Unauthorized):
        accounts.authenticate(store, token, start + timedelta(minutes=5), policy)


def test_the_absolute_lifetime_still_ends_a_busy_session(store):
    start = utcnow()
    token = sign_in(store, now=start)["token"]
    for minutes in range(20, 480, 20):
        accounts.authenticate(store, token, start + timedelta(minutes=minutes))
    with pytest.raises(Unauthorized):
        accounts.authenticate(store, token, start + TTL)
