"""The second factor (services/auth/accounts.py): enrolment with recovery
codes, sign-in with a TOTP code or a recovery code, each code accepted
once, wrong codes counted towards the lockout, resets by an operator;
on SQLite and PostgreSQL."""
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy.orm import Session

from common.db import make_engine
from common.errors import Conflict, Forbidden, InvalidInput, Locked, Unauthorized
from services.auth import accounts, rules
from services.auth.models import Base
from services.auth.store import AuthStore, utcnow

TTL = timedelta(hours=8)
PASSWORD = "Platform#2026"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def store(db_url):
    """On both engines: the second step locks the account row on PostgreSQL."""
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        s = AuthStore(session)
        accounts.create_account(s, "ops", PASSWORD, "admin")
        accounts.create_account(s, "keys", "Security#2026", "secadmin")
        yield s
    engine.dispose()


def code_at(secret, now, steps=0):
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(now) + steps)


def password_step(store, now, account="ops", password=PASSWORD):
    return accounts.login(store, account, password, "10.0.0.1", now, TTL)


def second_step(store, mfa_token, code, now):
    return accounts.verify_mfa(store, mfa_token, code, "10.0.0.1", now, TTL)


def enrolled(store, now):
    """Enrol `ops`; returns (secret, recovery codes, the session answer)."""
    answer = password_step(store, now)
    assert answer == {"mfa_enrolment_required": True, "mfa_token": answer["mfa_token"]}
    enrolment = accounts.enrol(store, answer["mfa_token"], now)
    session = second_step(store, answer["mfa_token"], code_at(enrolment["secret"], now), now)
    return enrolment["secret"], enrolment["recovery_codes"], session


def test_administrators_get_no_session_from_the_password_alone(store):
    answer = password_step(store, utcnow())
    assert set(answer) == {"mfa_enrolment_required", "mfa_token"}
    with pytest.raises(Unauthorized):
        accounts.authenticate(store, answer["mfa_token"], utcnow())


def test_enrolment_gives_a_secret_its_uri_and_ten_recovery_codes(store):
    now = utcnow()
    answer = password_step(store, now)
    enrolment = accounts.enrol(store, answer["mfa_token"], now)
    assert len(enrolment["secret"]) >= 16
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={enrolment['secret']}" in enrolment["otpauth_uri"]
    assert len(set(enrolment["recovery_codes"])) == 10
    # not in force before a first code confirms it
    assert store.account("ops").totp_secret is None
    session = second_step(store, answer["mfa_token"], code_at(enrolment["secret"], now), now)
    assert session["role"] == "admin" and session["token"]
    assert accounts.authenticate(store, session["token"], now)["account"] == "ops"
    assert store.account("ops").totp_secret == enrolment["secret"]


def test_the_next_sign_in_asks_for_a_code(store):
    now = utcnow()
    secret, _, _ = enrolled(store, now)
    later = now + timedelta(minutes=2)
    answer = password_step(store, later)
    assert set(answer) == {"mfa_required", "mfa_token"}
    with pytest.raises(Conflict):  # no second enrolment over a working one
        accounts.enrol(store, answer["mfa_token"], later)
    assert second_step(store, answer["mfa_token"], code_at(secret, later), later)["token"]


def test_a_code_is_accepted_once_even_within_its_window(store):
    now = utcnow()
    secret, _, _ = enrolled(store, now)
    replayed = code_at(secret, now)
    answer = password_step(store, now + timedelta(seconds=5))
    with pytest.raises(Unauthorized) as exc:
        second_step(store, answer["mfa_token"], replayed, now + timedelta(seconds=5))
    assert "已使用" in exc.value.message
    # an earlier step's code, though inside the drift window, is older than the used one
    with pytest.raises(Unauthorized):
        second_step(store, answer["mfa_token"], code_at(secret, now, -1), now + timedelta(seconds=5))
    # the next step's code is fine (the window allows one step of drift)
    assert second_step(store, answer["mfa_token"], code_at(secret, now, +1), now + timedelta(seconds=5))["token"]


def test_codes_outside_the_window_are_refused(store):
    now = utcnow()
    secret, _, _ = enrolled(store, now)
    later = now + timedelta(minutes=10)
    answer = password_step(store, later)
    for steps in (-3, +3):
        with pytest.raises(Unauthorized):
            second_step(store, answer["mfa_token"], code_at(secret, later, steps), later)


def test_a_recovery_code_signs_in_once(store):
    now = utcnow()
    _, codes, _ = enrolled(store, now)
    answer = password_step(store, now + timedelta(minutes=1))
    spaced = codes[0].upper().replace("-", " ")  # typed with spaces, in capitals
    assert second_step(store, answer["mfa_token"], spaced, now + timedelta(minutes=1))["token"]
    answer = password_step(store, now + timedelta(minutes=2))
    with pytest.raises(Unauthorized):
        second_step(store, answer["mfa_token"], codes[0], now + timedelta(minutes=2))
    assert second_step(store, answer["mfa_token"], codes[1], now + timedelta(minutes=2))["token"]
    assert accounts.list_accounts(store, now)["items"][0]["recovery_codes_left"] == 8


def test_a_sign_in_step_serves_once_and_expires(store):
    now = utcnow()
    secret, _, _ = enrolled(store, now)
    later = now + timedelta(minutes=3)
    answer = password_step(store, later)
    with pytest.raises(Unauthorized):  # mfa_token_ttl: 5 minutes
        second_step(store, answer["mfa_token"], code_at(secret, later + timedelta(minutes=5)),
                    later + timedelta(minutes=5))
    answer = password_step(store, later)
    second_step(store, answer["mfa_token"], code_at(secret, later), later)
    with pytest.raises(Unauthorized):
        second_step(store, answer["mfa_token"], code_at(secret, later, 1), later)


def test_wrong_codes_count_towards_the_lockout(store):
    now = utcnow()
    secret, _, _ = enrolled(store, now)
    answer = password_step(store, now + timedelta(minutes=1))
    for i in range(4):
        with pytest.raises(Unauthorized):
            second_step(store, answer["mfa_token"], "000000" if code_at(secret, now) != "000000" else "111111",
                        now + timedelta(minutes=1, seconds=i))
    with pytest.raises(Locked):
        second_step(store, answer["mfa_token"], "not-a-code", now + timedelta(minutes=1, seconds=5))
    # locked: even the right code is refused
    with pytest.raises(Locked):
        second_step(store, answer["mfa_token"], code_at(secret, now, 2), now + timedelta(minutes=1, seconds=6))


def test_confirming_an_enrolment_needs_the_enrolment_first(store):
    now = utcnow()
    answer = password_step(store, now)
    with pytest.raises(InvalidInput):
        second_step(store, answer["mfa_token"], "123456", now)


def test_units_sign_in_with_a_second_factor_when_the_setting_says_so(store):
    accounts.create_unit(store, "泉州市丰泽区东海社区居民委员会", "donghai", "91110000600037341L", "Seaside#2026")
    now = utcnow()
    assert "token" in accounts.login(store, "donghai", "Seaside#2026", None, now, TTL)
    policy = rules.Policy(mfa_for_units=True)
    answer = accounts.login(store, "donghai", "Seaside#2026", None, now, TTL, policy=policy)
    assert answer["mfa_enrolment_required"] is True


def test_a_seeded_secret_is_used_as_it_is(store):
    accounts.set_totp_secret(store, "ops", SECRET)
    now = utcnow()
    answer = password_step(store, now)
    assert answer["mfa_required"] is True
    assert second_step(store, answer["mfa_token"], code_at(SECRET, now), now)["token"]


def test_the_security_administrator_resets_the_second_factor_and_the_password(store):
    now = utcnow()
    _, _, session = enrolled(store, now)
    with pytest.raises(Forbidden):  # never one's own
        accounts.reset_second_factor(store, "keys", now, actor="keys")
    accounts.reset_second_factor(store, "ops", now, actor="keys")
    with pytest.raises(Unauthorized):  # its sessions ended
        accounts.authenticate(store, session["token"], now)
    assert password_step(store, now)["mfa_enrolment_required"] is True
    temporary = accounts.reset_account_password(store, "ops", now, actor="keys")["temporary_password"]
    answer = password_step(store, now, password=temporary)
    enrolment = accounts.enrol(store, answer["mfa_token"], now)
    session = second_step(store, answer["mfa_token"], code_at(enrolment["secret"], now), now)
    assert session["must_change_password"] is True


def test_accounts_made_by_the_security_administrator_change_their_password_first(store):
    answer = accounts.create_account(store, "reader", None, "auditor")
    assert rules.password_errors(answer["temporary_password"], "reader") == []
    listed = {a["account"]: a for a in accounts.list_accounts(store, utcnow())["items"]}
    assert listed["reader"]["role"] == "auditor" and listed["reader"]["must_change_password"] is True
    assert listed["reader"]["mfa_enrolled"] is False
    with pytest.raises(InvalidInput):
        accounts.create_account(store, "twohats", "Twohats#2026x", "unit")
