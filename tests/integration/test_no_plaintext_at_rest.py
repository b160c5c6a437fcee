"""Issue 17, point 6: after a full run of the platform — declarations one by
one and in a batch (with a failed row), a change of phone, a suspension, a
transfer, an idempotent retry, the roster export, the failures file, details
read (and so audited) — no 证件号码, 联系电话 or address of the test persons is
found in plain text in any store: every byte of the SQLite files (WAL
included) on the default engine, a `pg_dump` of every service's database on
PostgreSQL; nor in any process's log. The answers still carry the full values
where they should (details, the export, the failures file), so the values
are there, encrypted."""
import io
import os
import subprocess
import uuid
from datetime import date

import pytest
from openpyxl import load_workbook

from tests import fixtures_xlsx as fx
from tests.factories import enrolment
from tests.suite import ADMIN_PASSWORD, AUDITOR_PASSWORD, SERVICES, start_suite
from tests.waiting import wait_until

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CAP = 180  # seconds: the projection and the audit trail are asynchronous


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def suite(request):
    with start_suite(database=request.param) as s:
        s.engine = request.param
        s.admin_token = s.login("admin", ADMIN_PASSWORD)
        yield s


def people(count):
    """Persons whose every protected value is unique to this run."""
    region = f"35{uuid.uuid4().int % 10000:04d}"
    tag = uuid.uuid4().hex[:6]
    found = []
    for i in range(count):
        found.append(enrolment(i, cert_no=fx.id_number(i, date(1976, 3, 9), region=region),
                               phone=f"137{uuid.uuid4().int % 10 ** 8:08d}",
                               hukou_address=f"福建省泉州市鲤城区户籍路{tag}{i}号",
                               address=f"福建省泉州市丰泽区居住巷{tag}{i}号"))
    return found


def ok(r, status=200):
    assert r.status_code == status, r.text
    return r


def run_everything(suite):
    """Every write path and every download that touches a person; returns
    the protected values used."""
    a, b = suite.new_unit(suite.admin_token), suite.new_unit(suite.admin_token)
    p1, p2, p3, p4, p5, p6 = people(6)
    new_phone = f"136{uuid.uuid4().int % 10 ** 8:08d}"
    for p in (p1, p2, p3):
        ok(suite.api("POST", "/api/declarations/enrolment", a["token"], json=p), 201)
    key = {"Idempotency-Key": "at-rest-" + uuid.uuid4().hex}
    first = ok(suite.api("POST", "/api/declarations/enrolment", a["token"], json=p4, headers=key), 201)
    again = ok(suite.api("POST", "/api/declarations/enrolment", a["token"], json=p4, headers=key), 201)
    assert again.json() == first.json()
    ok(suite.api("POST", "/api/declarations/change", a["token"], json={
        "cert_type": "01", "cert_no": p1["cert_no"], "name": p1["name"], "changes": {"phone": new_phone}}), 201)
    ok(suite.api("POST", "/api/declarations/suspension", a["token"], json={
        "cert_type": "01", "cert_no": p2["cert_no"], "name": p2["name"], "reason": "02"}), 201)
    ok(suite.api("POST", "/api/declarations/enrolment", b["token"], json=p3), 201)  # a transfer to b

    rows = [fx.enrolment_row(p5["cert_no"], name="批量甲", phone=p5["phone"],
                               hukou_address=p5["hukou_address"], address=p5["address"]),
            fx.enrolment_row(p6["cert_no"], name="批量乙", phone="123",
                               hukou_address=p6["hukou_address"], address=p6["address"])]  # refused
    batch_no = ok(suite.api("POST", "/api/batches?business_type=enrolment", a["token"],
                            files={"file": ("名单.xlsx", fx.filled("enrolment", rows), XLSX)}), 202).json()["batch_no"]
    done = suite.wait_batch(a["token"], batch_no)
    assert (done["succeeded"], done["failed"]) == (1, 1), done
    failures = ok(suite.api("GET", f"/api/batches/{batch_no}/failures.xlsx", a["token"]))
    cells = {str(c) for row in load_workbook(io.BytesIO(failures.content)).active.iter_rows(values_only=True)
             for c in row if c is not None}
    assert p6["cert_no"] in cells  # the failures file is whole

    # the roster has applied everything: the changed phone, the transfer, the batch
    wait_until(lambda: suite.api("GET", f"/api/residents/01/{p1['cert_no']}", a["token"]).json().get("phone")
               == new_phone, "the roster never applied the change", CAP)
    wait_until(lambda: suite.api("GET", f"/api/residents/01/{p3['cert_no']}", b["token"]).status_code == 200,
               "the roster never applied the transfer", CAP)
    wait_until(lambda: suite.api("GET", f"/api/residents/01/{p5['cert_no']}", a["token"]).status_code == 200,
               "the roster never applied the batch", CAP)
    details = ok(suite.api("GET", f"/api/residents/01/{p1['cert_no']}", a["token"])).json()
    assert (details["cert_no"], details["hukou_address"], details["address"]) == \
        (p1["cert_no"], p1["hukou_address"], p1["address"])
    export = ok(suite.api("GET", "/api/residents/export", a["token"]))
    exported = {str(c) for row in load_workbook(io.BytesIO(export.content)).active.iter_rows(values_only=True)
                for c in row if c is not None}
    assert {p1["cert_no"], new_phone, p5["cert_no"]} <= exported  # the export is whole

    # the audit trail has the details reads, found by the full number
    auditor = suite.login("auditor", AUDITOR_PASSWORD)
    wait_until(lambda: suite.api("GET", "/api/audit", auditor, params={"cert_no": p1["cert_no"]}).json()
               .get("total"), "the audit trail never recorded the details read", CAP)

    values = {new_phone}
    for p in (p1, p2, p3, p4, p5, p6):
        values |= {p["cert_no"], p["phone"], p["hukou_address"], p["address"]}
    values.discard(None)
    return values


def stored_text(suite):
    """Everything the services keep, as (where, bytes): every file of the
    suite's directory (databases, WAL files, logs, audit archives) and, on
    PostgreSQL, a pg_dump of each service's database."""
    found = []
    for root, _dirs, files in os.walk(suite.workdir):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found.append((path, f.read()))
    if suite.engine == "postgresql":
        for service in SERVICES:
            url = suite.env[f"{service.upper()}_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
            dump = subprocess.run(["pg_dump", "--no-owner", url], capture_output=True, check=True, timeout=300)
            found.append((f"pg_dump of {service}", dump.stdout))
    return found


def test_no_personal_value_is_stored_in_plain_text(suite):
    values = run_everything(suite)
    stores = stored_text(suite)
    if suite.engine == "postgresql":
        assert len([w for w, _ in stores if w.startswith("pg_dump")]) == len(SERVICES)
    else:
        assert {f"{s}.db" for s in SERVICES} <= {os.path.basename(w) for w, _ in stores}
    leaks = sorted({(where if where.startswith("pg_dump") else os.path.basename(where), kind)
                    for where, content in stores
                    for value in values
                    for kind in ("number" if value.isascii() else "address",)
                    if value.encode("utf-8") in content})
    assert leaks == [], f"plain personal values found in: {leaks}"
