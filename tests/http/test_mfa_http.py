"""Two-factor sign-in, forced password changes and the security
administrator's work over HTTP (docs/security.md)."""
import uuid

import pyotp

from tests.suite import ADMIN_PASSWORD, AUDITOR_PASSWORD, SECADMIN_PASSWORD


def post(suite, path, token=None, **body):
    return suite.api("POST", path, token, json=body)


def test_an_administrator_signs_in_with_a_password_then_a_code(suite):
    r = post(suite, "/api/auth/login", account="auditor", password=AUDITOR_PASSWORD)
    assert r.status_code == 200
    body = r.json()
    assert body["mfa_required"] is True and "token" not in body
    # the step token is no bearer token
    assert suite.api("GET", "/api/notices", body["mfa_token"]).status_code == 401
    r = post(suite, "/api/auth/mfa", mfa_token=body["mfa_token"], code="12345x")
    assert r.status_code == 401 and r.json()["message"]
    r = post(suite, "/api/auth/mfa", mfa_token=body["mfa_token"], code=suite.totp_code("auditor"))
    assert r.status_code == 200, r.text
    session = r.json()
    assert session["role"] == "auditor" and session["must_change_password"] is False
    assert suite.api("POST", "/api/auth/logout", session["token"]).status_code == 204


def test_a_code_is_not_accepted_twice(suite):
    first = post(suite, "/api/auth/login", account="auditor", password=AUDITOR_PASSWORD).json()
    code = suite.totp_code("auditor")
    assert post(suite, "/api/auth/mfa", mfa_token=first["mfa_token"], code=code).status_code == 200
    second = post(suite, "/api/auth/login", account="auditor", password=AUDITOR_PASSWORD).json()
    r = post(suite, "/api/auth/mfa", mfa_token=second["mfa_token"], code=code)
    assert r.status_code == 401
    assert "已使用" in r.json()["message"]


def test_a_new_administrator_enrols_sees_a_qr_code_and_changes_the_password_first(suite):
    secadmin = suite.login("secadmin", SECADMIN_PASSWORD)
    account = "ops_" + uuid.uuid4().hex[:8]
    r = post(suite, "/api/admin/accounts", secadmin, account=account, role="admin")
    assert r.status_code == 201, r.text
    temporary = r.json()["temporary_password"]
    assert r.json()["role"] == "admin"

    step = post(suite, "/api/auth/login", account=account, password=temporary).json()
    assert step["mfa_enrolment_required"] is True
    r = post(suite, "/api/auth/mfa/enrol", mfa_token=step["mfa_token"])
    assert r.status_code == 200, r.text
    enrolment = r.json()
    assert enrolment["qr_svg"].startswith("data:image/svg+xml")
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/")
    assert len(enrolment["recovery_codes"]) == 10
    code = pyotp.TOTP(enrolment["secret"]).now()
    r = post(suite, "/api/auth/mfa", mfa_token=step["mfa_token"], code=code)
    assert r.status_code == 200, r.text
    session = r.json()
    assert session["must_change_password"] is True

    # nothing but the password change and logout until then
    r = suite.api("GET", "/api/admin/units", session["token"])
    assert r.status_code == 403 and r.json()["error"] == "password_change_required"
    assert "修改密码" in r.json()["message"]
    r = suite.api("PUT", "/api/auth/password", session["token"],
                  json={"old_password": temporary, "new_password": account + "#2026"})
    assert r.status_code == 400 and "密码不能包含账号" in r.json()["details"]["new_password"]
    r = suite.api("PUT", "/api/auth/password", session["token"],
                  json={"old_password": temporary, "new_password": "Chosen#2026"})
    assert r.status_code == 204, r.text
    assert suite.api("GET", "/api/admin/units", session["token"]).status_code == 200

    # a recovery code signs in once
    step = post(suite, "/api/auth/login", account=account, password="Chosen#2026").json()
    assert step["mfa_required"] is True
    r = post(suite, "/api/auth/mfa", mfa_token=step["mfa_token"], code=enrolment["recovery_codes"][0])
    assert r.status_code == 200, r.text
    step = post(suite, "/api/auth/login", account=account, password="Chosen#2026").json()
    r = post(suite, "/api/auth/mfa", mfa_token=step["mfa_token"], code=enrolment["recovery_codes"][0])
    assert r.status_code == 401

    listed = {a["account"]: a for a in suite.api("GET", "/api/admin/accounts", secadmin).json()["items"]}
    assert listed[account]["mfa_enrolled"] is True and listed[account]["recovery_codes_left"] == 9
    assert {"admin", "secadmin", "auditor"} <= set(listed)

    # the security administrator resets the second factor: enrolment again
    assert post(suite, f"/api/admin/accounts/{account}/mfa-reset", secadmin).status_code == 204
    step = post(suite, "/api/auth/login", account=account, password="Chosen#2026").json()
    assert step["mfa_enrolment_required"] is True
    # and the password: a temporary one, changed first
    r = post(suite, f"/api/admin/accounts/{account}/password-reset", secadmin)
    assert r.status_code == 200 and r.json()["temporary_password"]
    # never their own account
    assert post(suite, "/api/admin/accounts/secadmin/mfa-reset", secadmin).status_code == 403


def test_roles_cannot_be_combined_or_invented(suite):
    secadmin = suite.login("secadmin", SECADMIN_PASSWORD)
    for role in ("unit", "root", "admin,auditor"):
        r = post(suite, "/api/admin/accounts", secadmin, account="x_" + uuid.uuid4().hex[:6], role=role)
        assert r.status_code == 400, (role, r.text)
    r = post(suite, "/api/admin/accounts", secadmin, account="admin", role="auditor")
    assert r.status_code == 409  # an account has one role: admin stays admin
    r = post(suite, "/api/admin/accounts", secadmin, account="weak_" + uuid.uuid4().hex[:4], role="auditor",
             password="password1")
    assert r.status_code == 400 and r.json()["details"]["password"]


def test_unit_credentials_reset_and_unlock_by_either_administrator(suite, fresh_unit):
    account, unit_id = fresh_unit["account"], fresh_unit["unit"]["id"]
    for _ in range(5):
        post(suite, "/api/auth/login", account=account, password="wrong-pass")
    assert post(suite, "/api/auth/login", account=account, password=fresh_unit["password"]).status_code == 423
    secadmin = suite.login("secadmin", SECADMIN_PASSWORD)
    assert post(suite, f"/api/admin/units/{unit_id}/unlock", secadmin).status_code == 204
    assert post(suite, "/api/auth/login", account=account, password=fresh_unit["password"]).status_code == 200

    r = post(suite, f"/api/admin/units/{unit_id}/password-reset", suite.admin_token)
    assert r.status_code == 200, r.text
    temporary = r.json()["temporary_password"]
    # the unit's sessions ended; the old password no longer works
    assert suite.api("GET", "/api/unit", fresh_unit["token"]).status_code == 401
    assert post(suite, "/api/auth/login", account=account, password=fresh_unit["password"]).status_code == 401
    answer = post(suite, "/api/auth/login", account=account, password=temporary).json()
    assert answer["must_change_password"] is True
    r = suite.api("GET", "/api/unit", answer["token"])
    assert r.status_code == 403 and r.json()["error"] == "password_change_required"
    r = suite.api("PUT", "/api/auth/password", answer["token"],
                  json={"old_password": temporary, "new_password": "Renewed#2026"})
    assert r.status_code == 204
    assert suite.api("GET", "/api/unit", answer["token"]).status_code == 200
    assert post(suite, "/api/admin/units/999999/password-reset", suite.admin_token).status_code == 404


def test_the_seeded_administrators_changed_nothing_for_units(suite):
    # unit accounts sign in with a password alone by default (MFA_FOR_UNITS)
    r = post(suite, "/api/auth/login", account="demo", password=suite.demo_password)
    assert r.status_code == 200 and r.json()["token"] and r.json()["must_change_password"] is False


def test_admin_is_refused_the_security_administrators_work(suite):
    r = suite.api("GET", "/api/admin/accounts", suite.admin_token)
    assert r.status_code == 403
    assert post(suite, "/api/admin/accounts", suite.admin_token, account="x_sneaky", role="admin").status_code == 403
    assert ADMIN_PASSWORD  # the seeded admin is still admin only
