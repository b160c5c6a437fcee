"""Auth use cases over a real SQLite store, with the clock passed in."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session

from common.db import make_engine
from common.errors import Conflict, InvalidInput, Locked, TooManyRequests, Unauthorized
from services.auth import accounts
from services.auth.models import Base
from services.auth.store import AuthStore

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)
TTL = timedelta(hours=8)


@pytest.fixture
def store(sqlite_url):
    engine = make_engine(sqlite_url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        s = AuthStore(session)
        accounts.create_unit(s, "泉州市丰泽区东海社区居民委员会", "donghai", "91110000600037341L", "Seaside#2026")
        yield s
    engine.dispose()


def fail(store, n, start, step=timedelta(minutes=1)):
    for i in range(n):
        with pytest.raises((Unauthorized, Locked)):
            accounts.login(store, "donghai", "wrong-pass", "10.0.0.1", start + i * step, TTL)


def test_login_gives_a_token_that_authenticates(store):
    answer = accounts.login(store, "donghai", "Seaside#2026", None, T0, TTL)
    token = answer["token"]
    assert answer["expires_at"] == (T0 + TTL).isoformat() and answer["role"] == "unit"
    assert answer["must_change_password"] is False
    assert accounts.authenticate(store, token, T0 + timedelta(minutes=20))["account"] == "donghai"


def test_token_expires(store):
    token = accounts.login(store, "donghai", "Seaside#2026", None, T0, TTL)["token"]
    with pytest.raises(Unauthorized):
        accounts.authenticate(store, token, T0 + TTL + timedelta(seconds=1))


def test_five_failures_in_fifteen_minutes_lock_until_fifteen_minutes_later(store):
    fail(store, 4, T0)
    with pytest.raises(Locked) as exc:
        accounts.login(store, "donghai", "wrong-pass", None, T0 + timedelta(minutes=5), TTL)
    assert exc.value.extra["locked_until"] == (T0 + timedelta(minutes=20)).isoformat()
    # the right password does not help while locked, and the message gives the local time
    with pytest.raises(Locked) as exc:
        accounts.login(store, "donghai", "Seaside#2026", None, T0 + timedelta(minutes=19), TTL)
    assert "2026-11-27 09:20" in exc.value.message  # 01:20 UTC in Asia/Shanghai


def test_lock_ends_at_the_unlock_time(store):
    fail(store, 5, T0)
    assert accounts.login(store, "donghai", "Seaside#2026", None, T0 + timedelta(minutes=20), TTL)["token"]


def test_failures_spread_beyond_the_window_do_not_lock(store):
    fail(store, 5, T0, step=timedelta(minutes=4))
    assert accounts.login(store, "donghai", "Seaside#2026", None, T0 + timedelta(minutes=20), TTL)["token"]


def test_a_success_resets_the_failure_count(store):
    fail(store, 4, T0)
    accounts.login(store, "donghai", "Seaside#2026", None, T0 + timedelta(minutes=5), TTL)
    fail(store, 4, T0 + timedelta(minutes=6))
    assert accounts.login(store, "donghai", "Seaside#2026", None, T0 + timedelta(minutes=11), TTL)["token"]


def test_logins_are_recorded_with_address(store):
    fail(store, 1, T0)
    accounts.login(store, "donghai", "Seaside#2026", "10.0.0.9", T0 + timedelta(minutes=1), TTL)
    rows = store.logins("donghai")
    assert [(r.success, r.address) for r in rows] == [(True, "10.0.0.9"), (False, "10.0.0.1")]


def test_duplicate_account_is_a_conflict(store):
    with pytest.raises(Conflict):
        accounts.create_unit(store, "另一个社区居民委员会", "donghai", "57350503MA2Y8K3Q01", "Harbour#2026")


def test_duplicate_credit_code_is_a_conflict(store):
    with pytest.raises(Conflict):
        accounts.create_unit(store, "另一个社区居民委员会", "another", "91110000600037341l", "Harbour#2026")


def test_only_admin_or_downstream_accounts_are_created_without_a_unit(store):
    with pytest.raises(InvalidInput):
        accounts.create_account(store, "someone", "Someone#2026", "unit")
    assert accounts.create_account(store, "insurer", "Payments#2026", "downstream")["role"] == "downstream"


def test_too_many_attempts_for_one_account_are_refused_before_checking(store):
    limits = {"account": 3, "address": 100}
    for i in range(3):
        with pytest.raises(Unauthorized):
            accounts.login(store, "donghai", "wrong-pass", f"10.0.0.{i}", T0, TTL, limits)
    with pytest.raises(TooManyRequests):
        accounts.login(store, "donghai", "Seaside#2026", "10.0.0.9", T0 + timedelta(seconds=30), TTL, limits)
    assert accounts.login(store, "donghai", "Seaside#2026", "10.0.0.9", T0 + timedelta(seconds=61), TTL, limits)


def test_too_many_attempts_from_one_address_are_refused_for_any_account(store):
    limits = {"account": 100, "address": 2}
    for name in ("a_one", "a_two"):
        with pytest.raises(Unauthorized):
            accounts.login(store, name, "wrong-pass", "10.9.9.9", T0, TTL, limits)
    with pytest.raises(TooManyRequests):
        accounts.login(store, "donghai", "Seaside#2026", "10.9.9.9", T0, TTL, limits)
    assert accounts.login(store, "donghai", "Seaside#2026", "10.1.1.1", T0, TTL, limits)
