"""Tenant isolation, generated from /api/openapi.json so that a new endpoint
cannot escape it: every operation refuses a missing token and a wrong role,
and no operation gives unit A any of unit B's data."""
import re
from datetime import date

import pytest

PUBLIC = {
    ("post", "/api/auth/login"), ("get", "/healthz"), ("get", "/readyz"),
    ("get", "/api/codes"),
}
ROLES = ("unit", "admin", "downstream")


def operations(suite):
    doc = suite.api("GET", "/api/openapi.json").json()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, op


def fill(path, values):
    """Replace {param} placeholders with values (or a harmless dummy)."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), "1")), path)


@pytest.fixture(scope="module")
def tokens(suite):
    downstream = "insurer_" + suite.port.__str__()
    r = suite.api("POST", "/api/auth/login", json={"account": downstream, "password": "Insurer#2026"})
    if r.status_code != 200:
        import subprocess
        import sys

        from tests.suite import ROOT
        subprocess.run(
            [sys.executable, "-m", "services.auth.cli", "create-account", downstream, "--role", "downstream"],
            input="Insurer#2026\nInsurer#2026\n", text=True, env=suite.env, cwd=ROOT, check=True,
            capture_output=True,
        )
    return {
        "unit": suite.new_unit(suite.admin_token)["token"],
        "admin": suite.admin_token,
        "downstream": suite.login(downstream, "Insurer#2026"),
    }


def test_every_operation_but_the_public_ones_wants_a_token(suite):
    checked = 0
    for method, path, op in operations(suite):
        if (method, path) in PUBLIC:
            continue
        r = suite.api(method.upper(), fill(path, {}))
        assert r.status_code == 401, f"{method.upper()} {path} answered {r.status_code} without a token"
        checked += 1
    assert checked >= 5


def test_every_operation_refuses_the_roles_it_does_not_name(suite, tokens):
    checked = 0
    for method, path, op in operations(suite):
        roles = op.get("x-roles")
        if (method, path) in PUBLIC:
            continue
        assert roles, f"{method.upper()} {path} does not declare its roles"
        for role in ROLES:
            if role in roles:
                continue
            r = suite.api(method.upper(), fill(path, {}), tokens[role])
            assert r.status_code == 403, f"{role} on {method.upper()} {path}: {r.status_code}"
            checked += 1
    assert checked >= 5


ENROLMENT = {
    "cert_type": "01", "name": "隔离测试", "category": "11", "phone": "13905951234",
    "nation": "01", "address": "泉州市丰泽区东海街道",
}


def id_number(seed):
    """A valid 18-digit ID number (born 1980-01-01) that differs per seed."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    body = "35050319800101" + f"{seed % 1000:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]


def test_unit_a_never_sees_unit_b_data(suite, fresh_unit, other_unit):
    """B declares a person; A calls every unit GET operation with B's
    identifiers (and a wrong name, as someone guessing would)."""
    cert_no = id_number(date.today().toordinal() % 1000)
    r = suite.api("POST", "/api/declarations/enrolment", other_unit["token"],
                  json={**ENROLMENT, "cert_no": cert_no, "name": "乙单位居民"})
    assert r.status_code == 201, r.text
    b_unit = other_unit["unit"]
    secrets = {"乙单位居民", ENROLMENT["phone"], ENROLMENT["address"], r.json()["record_id"],
               b_unit["name"], b_unit["credit_code"]}
    values = {"record_id": r.json()["record_id"], "cert_type": "01", "cert_no": cert_no,
              "batch_no": "x", "id": "1"}
    query = {"cert_no": cert_no, "name": "猜测姓名", "cert_type": "01"}
    checked = 0
    for method, path, op in operations(suite):
        if method != "get" or "unit" not in (op.get("x-roles") or []):
            continue
        res = suite.api("GET", fill(path, values), fresh_unit["token"], params=query)
        body = res.content.decode("utf-8", errors="replace")
        leaked = [s for s in secrets if s in body]
        assert not leaked, f"GET {path} gave unit A {leaked} of unit B"
        assert res.status_code < 500, f"GET {path}: {res.status_code}"
        checked += 1
    assert checked >= 3
