"""Login, lockout, logout, password change and role checks, over HTTP."""
from datetime import datetime

from tests.suite import random_credit_code


def test_demo_unit_logs_in_and_reads_its_unit(suite):
    r = suite.api("POST", "/api/auth/login", json={"account": "demo", "password": suite.demo_password})
    assert r.status_code == 200
    body = r.json()
    assert body["role"] == "unit" and body["unit"]["name"].endswith("居民委员会")
    assert datetime.fromisoformat(body["expires_at"]) > datetime.now().astimezone()
    unit = suite.api("GET", "/api/unit", body["token"]).json()
    assert unit["account"] == "demo"
    assert unit["credit_code"] == body["unit"]["credit_code"]
    assert {"insured_count", "month", "month_increase", "month_decrease"} <= set(unit)


def test_wrong_password_is_401_in_chinese(suite, fresh_unit):
    r = suite.api("POST", "/api/auth/login", json={"account": fresh_unit["account"], "password": "wrong-pass"})
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"
    assert "密码" in r.json()["message"]


def test_unknown_account_is_the_same_401(suite):
    r = suite.api("POST", "/api/auth/login", json={"account": "nobody_here", "password": "whatever1"})
    assert r.status_code == 401 and r.json()["message"] == "账号或密码错误"


def test_missing_field_is_400_with_details(suite):
    r = suite.api("POST", "/api/auth/login", json={"account": "demo"})
    assert r.status_code == 400
    assert r.json()["details"] == {"password": ["此项为必填项"]}


def test_five_wrong_passwords_lock_the_account_and_say_until_when(suite, fresh_unit):
    creds = {"account": fresh_unit["account"], "password": "bad-password"}
    statuses = [suite.api("POST", "/api/auth/login", json=creds).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 423]
    r = suite.api("POST", "/api/auth/login", json={**creds, "password": fresh_unit["password"]})
    assert r.status_code == 423
    body = r.json()
    until = datetime.fromisoformat(body["locked_until"])
    minutes = (until - datetime.now().astimezone()).total_seconds() / 60
    assert 14 < minutes <= 15
    assert "锁定" in body["message"] and "后再试" in body["message"]


def test_logout_revokes_the_token_at_once(suite, fresh_unit):
    token = fresh_unit["token"]
    assert suite.api("GET", "/api/unit", token).status_code == 200
    assert suite.api("POST", "/api/auth/logout", token).status_code == 204
    r = suite.api("GET", "/api/unit", token)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"


def test_password_change_revokes_other_tokens_but_keeps_this_one(suite, fresh_unit):
    other = suite.login(fresh_unit["account"], fresh_unit["password"])
    r = suite.api("PUT", "/api/auth/password", fresh_unit["token"],
                  json={"old_password": fresh_unit["password"], "new_password": "Changed#2026"})
    assert r.status_code == 204
    assert suite.api("GET", "/api/unit", other).status_code == 401
    assert suite.api("GET", "/api/unit", fresh_unit["token"]).status_code == 200
    assert suite.login(fresh_unit["account"], "Changed#2026")


def test_password_change_with_wrong_old_password_is_refused(suite, fresh_unit):
    r = suite.api("PUT", "/api/auth/password", fresh_unit["token"],
                  json={"old_password": "not-it-at-all", "new_password": "Changed#2026"})
    assert r.status_code == 400 and "old_password" in r.json()["details"]


def test_weak_new_password_is_refused(suite, fresh_unit):
    r = suite.api("PUT", "/api/auth/password", fresh_unit["token"],
                  json={"old_password": fresh_unit["password"], "new_password": "short"})
    assert r.status_code == 400
    assert r.json()["details"]["new_password"] == ["密码至少8位", "密码须包含大写字母、小写字母、数字、符号中的至少3类"]


def test_no_token_is_401(suite):
    for path in ("/api/unit", "/api/admin/units", "/api/unit/stats"):
        r = suite.api("GET", path)
        assert r.status_code == 401, path


def test_unit_token_cannot_use_admin_endpoints(suite, fresh_unit):
    assert suite.api("GET", "/api/admin/units", fresh_unit["token"]).status_code == 403
    r = suite.api("POST", "/api/admin/units", fresh_unit["token"], json={
        "name": "越权单位", "account": "sneaky1", "credit_code": random_credit_code(), "password": "Sneaky#2026"})
    assert r.status_code == 403


def test_admin_is_not_a_unit(suite, admin_token):
    assert suite.api("GET", "/api/unit", admin_token).status_code == 403


def test_admin_registers_a_unit_and_lists_it(suite, admin_token):
    code = random_credit_code()
    r = suite.api("POST", "/api/admin/units", admin_token, json={
        "name": "泉州市鲤城区海滨街道新华社区居民委员会", "account": "xinhua_" + code[-6:].lower(),
        "credit_code": code, "password": "Xinhua#2026", "division": "350502", "street": "海滨街道"})
    assert r.status_code == 201
    listed = suite.api("GET", "/api/admin/units?size=200", admin_token).json()
    assert code in [u["credit_code"] for u in listed["items"]]


def test_a_password_the_operator_typed_must_be_changed_before_anything_else(suite, admin_token):
    code = random_credit_code()
    account, typed = "typed_" + code[-6:].lower(), "Typed#2026x"
    r = suite.api("POST", "/api/admin/units", admin_token, json={
        "name": "泉州市鲤城区海滨街道初始社区居民委员会", "account": account, "credit_code": code,
        "password": typed, "division": "350502", "street": "海滨街道"})
    assert r.status_code == 201 and "temporary_password" not in r.json()
    first = suite.api("POST", "/api/auth/login", json={"account": account, "password": typed}).json()
    assert first["must_change_password"] is True
    refused = suite.api("GET", "/api/unit", first["token"])
    assert refused.status_code == 403 and refused.json()["error"] == "password_change_required"
    r = suite.api("PUT", "/api/auth/password", first["token"],
                  json={"old_password": typed, "new_password": "Mine#2026yz"})
    assert r.status_code == 204, r.text
    assert suite.api("GET", "/api/unit", first["token"]).json()["account"] == account
    again = suite.api("POST", "/api/auth/login", json={"account": account, "password": "Mine#2026yz"}).json()
    assert again["must_change_password"] is False


def test_unit_with_bad_credit_code_is_refused(suite, admin_token):
    code = random_credit_code()
    bad = code[:-1] + ("0" if code[-1] != "0" else "1")
    r = suite.api("POST", "/api/admin/units", admin_token, json={
        "name": "校验位错误社区", "account": "badcode_unit", "credit_code": bad, "password": "Badcode#2026",
        "division": "350503", "street": "东海街道"})
    assert r.status_code == 400
    assert r.json()["details"]["credit_code"] == ["统一社会信用代码校验位不正确，请核对"]


def test_each_unit_sees_only_itself(suite, fresh_unit, other_unit):
    mine = suite.api("GET", "/api/unit", fresh_unit["token"]).json()
    theirs = suite.api("GET", "/api/unit", other_unit["token"]).json()
    assert mine["account"] == fresh_unit["account"]
    assert theirs["account"] == other_unit["account"]
    assert mine["credit_code"] != theirs["credit_code"]


def test_request_id_is_echoed_or_generated(suite):
    r = suite.api("GET", "/healthz", headers={"X-Request-ID": "trace-abc-123"})
    assert r.headers["X-Request-ID"] == "trace-abc-123"
    assert len(suite.api("GET", "/healthz").headers["X-Request-ID"]) == 32


def test_request_id_reaches_the_service_logs(suite):
    suite.api("POST", "/api/auth/login", json={"account": "demo", "password": "wrong-pw-x"},
              headers={"X-Request-ID": "rid-auth-trace-42"})
    assert "rid-auth-trace-42" in suite.log_tail("auth", 200)


def test_metrics_are_prometheus_text(suite):
    suite.api("GET", "/healthz")
    r = suite.api("GET", "/metrics")
    assert r.status_code == 200
    assert 'gateway_http_requests_total{endpoint="/healthz"' in r.text


def test_openapi_document_lists_the_routes(suite):
    doc = suite.api("GET", "/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in ("/api/auth/login", "/api/unit", "/api/admin/units", "/readyz"):
        assert path in doc["paths"]
    assert doc["paths"]["/api/unit"]["get"]["x-roles"] == ["unit"]


def test_errors_never_carry_a_stack_trace(suite):
    r = suite.api("POST", "/api/auth/login", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert "Traceback" not in r.text and set(r.json()) >= {"error", "message"}


def test_admin_lists_a_units_logins_with_address_and_outcome(suite, admin_token, fresh_unit):
    suite.api("POST", "/api/auth/login", json={"account": fresh_unit["account"], "password": "wrong-pass-1"})
    r = suite.api("GET", f"/api/admin/units/{fresh_unit['unit']['id']}/logins", admin_token)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["success"] for i in items[:2]] == [False, True]
    assert items[0]["address"] == "127.0.0.1"


def test_unit_cannot_list_logins(suite, fresh_unit):
    r = suite.api("GET", f"/api/admin/units/{fresh_unit['unit']['id']}/logins", fresh_unit["token"])
    assert r.status_code == 403


def test_code_tables_come_from_the_validation_tables(suite):
    from common import codes

    tables = suite.api("GET", "/api/codes").json()
    assert [i["code"] for i in tables["cert_types"]] == list(codes.CERT_TYPES)
    assert [i["code"] for i in tables["genders"]] == ["1", "2"]
    assert {"code": "22", "label": "畲"} in tables["nations"]
