"""Tenant isolation, generated from /api/openapi.json so that a new endpoint
cannot escape it: every operation refuses a missing token and a wrong role,
and no operation gives unit A any of unit B's data.

Each refusal has its positive control: B sends the very requests A sent
and gets its data back (so A's empty answers are isolation, not requests
that find nothing for anyone), and every unit GET operation is named below
as one that shows a unit its own data or one that holds no unit's data."""
import io
import re
import uuid
import zipfile
from datetime import date

import openpyxl
import pytest

from tests import fixtures_xlsx as fx, waiting

PUBLIC = {
    ("post", "/api/auth/login"), ("get", "/healthz"), ("get", "/readyz"),
    ("get", "/api/codes"),
    # the second step of a sign-in: an mfa_token in the body, no bearer token yet
    ("post", "/api/auth/mfa"), ("post", "/api/auth/mfa/enrol"),
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


# Unit GET operations that answer with the unit's own data: B must find its
# data in each (positive control) where A finds none of it.
OWNER_DATA = {
    "/api/unit", "/api/unit/stats", "/api/declarations", "/api/declarations/{record_id}",
    "/api/residents", "/api/residents/lookup", "/api/residents/export",
    "/api/residents/{cert_type}/{cert_no}", "/api/residents/p/{person_id}", "/api/batches", "/api/batches/{batch_no}",
    "/api/batches/{batch_no}/failures.xlsx",
}
# Unit GET operations that hold no unit's data (the same for every unit).
NO_UNIT_DATA = {"/api/notices", "/api/notices/unread_count", "/api/notices/{notice_id}", "/api/batches/template"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def text_of(res):
    """What a response shows: its text, or every cell of an .xlsx."""
    if res.content[:2] == b"PK":
        try:
            wb = openpyxl.load_workbook(io.BytesIO(res.content), read_only=True)
        except (zipfile.BadZipFile, OSError, KeyError, ValueError):
            return res.content.decode("utf-8", errors="replace")
        return "\n".join(str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
                         for v in row if v is not None)
    return res.content.decode("utf-8", errors="replace")


def numbers(value):
    """The sum of every number in a JSON answer (counts and figures)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, dict):
        return sum(numbers(v) for v in value.values())
    if isinstance(value, list):
        return sum(numbers(v) for v in value)
    return 0


def wait_for(check, message, cap=60):
    return waiting.wait_until(check, message, cap)


def test_unit_a_never_sees_unit_b_data(suite, fresh_unit, other_unit):
    """B declares a person and imports a batch (one row accepted, one
    refused); A calls every unit GET operation with B's identifiers, with
    the right name and a wrong one (as someone guessing would), and B sends
    the same requests."""
    cert_no = id_number(date.today().toordinal() % 1000)
    r = suite.api("POST", "/api/declarations/enrolment", other_unit["token"],
                  json={**ENROLMENT, "cert_no": cert_no, "name": "乙单位居民"})
    assert r.status_code == 201, r.text
    record_id = r.json()["record_id"]
    region = f"35{uuid.uuid4().int % 10000:04d}"
    rows = [fx.enrolment_row(fx.id_number(1, region=region), name="乙单位批量"),
            fx.enrolment_row(fx.id_number(2, region=region), name="乙单位失败", phone="123")]
    r = suite.api("POST", "/api/batches?business_type=enrolment", other_unit["token"],
                  files={"file": ("乙单位名单.xlsx", fx.filled("enrolment", rows), XLSX)})
    assert r.status_code in (201, 202), r.text  # 202: imported in the background
    batch_no = r.json()["batch_no"]
    batch = {}

    def imported():
        batch.update(suite.api("GET", f"/api/batches/{batch_no}", other_unit["token"]).json())
        return batch.get("status", "done") in ("done", "failed")

    wait_for(imported, "B's batch was never imported", cap=120)
    assert batch.get("status", "done") == "done" and batch["succeeded"] == 1 and batch["failed"] == 1, batch
    # The roster follows the log: wait until B's own roster has the person.
    wait_for(lambda: suite.api("GET", f"/api/residents/01/{cert_no}", other_unit["token"]).status_code == 200,
             "B's roster never showed its person")
    person_id = suite.api("GET", f"/api/residents/01/{cert_no}", other_unit["token"]).json()["person_id"]

    # What A must never see (identifiers A sends itself may be echoed back).
    b_unit = other_unit["unit"]
    secrets = {"乙单位居民", "乙单位批量", "乙单位失败", "乙单位名单", ENROLMENT["phone"],
               ENROLMENT["address"], b_unit["name"], b_unit["credit_code"]}
    values = {"record_id": record_id, "cert_type": "01", "cert_no": cert_no, "batch_no": batch_no,
              "person_id": person_id, "notice_id": "1", "id": "1"}
    queries = [
        {},
        {"cert_type": "01", "cert_no": cert_no, "name": "乙单位居民"},
        {"cert_type": "01", "cert_no": cert_no, "name": "猜测姓名"},
        {"cert_type": "01", "cert_no": cert_no},
        {"batch_no": batch_no},
        {"business_type": "enrolment"},
    ]
    seen_by_owner, checked = {}, 0
    for method, path, op in operations(suite):
        if method != "get" or "unit" not in (op.get("x-roles") or []):
            continue
        assert path in OWNER_DATA | NO_UNIT_DATA, \
            f"GET {path} is new: name it in OWNER_DATA or NO_UNIT_DATA of this test"
        url = fill(path, values)
        for query in queries:
            res = suite.api("GET", url, fresh_unit["token"], params=query)
            assert res.status_code < 500, f"GET {path} {query}: {res.status_code}"
            shown = text_of(res)
            # What A typed itself may come back (a lookup by the right name).
            leaked = sorted(s for s in secrets if s in shown and s not in query.values())
            assert not leaked, f"GET {path} {query} gave unit A {leaked} of unit B"
            if path == "/api/unit/stats" and res.status_code == 200:
                assert numbers(res.json()) == 0, f"unit A's figures count unit B's declarations: {res.text}"
            # The same request by the owner.
            own = suite.api("GET", url, other_unit["token"], params=query)
            assert own.status_code < 500, f"GET {path} {query} by B: {own.status_code}"
            found = {s for s in secrets if s in text_of(own) and s not in query.values()}
            if path == "/api/unit/stats" and own.status_code == 200 and numbers(own.json()) > 0:
                found.add("figures")
            seen_by_owner.setdefault(path, set()).update(found)
            checked += 1
    assert checked >= len(OWNER_DATA) * len(queries)
    blind = sorted(path for path in OWNER_DATA if not seen_by_owner.get(path))
    assert not blind, f"the owner itself got none of its data from {blind}: the requests prove nothing there"
    holding = sorted(path for path in NO_UNIT_DATA if seen_by_owner.get(path))
    assert not holding, f"{holding} answered unit data: move them to OWNER_DATA"
