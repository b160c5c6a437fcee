"""Rules of authentication: lockout window, password policy, unit fields."""
from datetime import datetime, timedelta, timezone

from services.auth import rules

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc)


def test_four_failures_do_not_lock():
    assert not rules.should_lock(4)


def test_the_fifth_failure_locks():
    assert rules.should_lock(5)


def test_lock_lasts_fifteen_minutes_from_the_last_failure():
    assert rules.unlock_time(NOW) == NOW + timedelta(minutes=15)


def test_short_password_is_refused():
    assert rules.password_errors("Ab1!", "demo") == ["密码至少8位"]


def test_password_equal_to_account_is_refused():
    assert "密码不能与账号相同" in rules.password_errors("Dongjie01", "dongjie01")


def test_good_password_passes():
    assert rules.password_errors("Quanzhou#2026", "demo") == []


def test_account_with_spaces_is_refused():
    assert rules.account_error("bad account") is not None


def test_unit_errors_name_each_bad_field():
    errors = rules.unit_errors("", "ok_account", "91110000600037341X", "Quanzhou#2026")
    assert set(errors) == {"name", "credit_code"}
    assert errors["credit_code"] == ["统一社会信用代码校验位不正确，请核对"]


def test_valid_unit_has_no_errors():
    assert rules.unit_errors("泉州市丰泽区东海社区居民委员会", "donghai", "91110000600037341L", "Quanzhou#2026") == {}
