"""The audit trail end to end on PostgreSQL (the production path: every
database migrated by `deploy.migrate upgrade`): personal-data reads are
chained in the audit database, fail closed while the audit service is
stopped and succeed once it is back, with every answer given on record
exactly once, and `verify` finds the chain intact."""
import io
import time
import uuid

import pytest

from common.rpc.client import RpcClient
from services.audit import cli
from tests.suite import ADMIN_PASSWORD, start_suite

CAP = 90  # seconds


@pytest.fixture(scope="module")
def pg_suite():
    with start_suite(database="postgresql") as suite:
        suite.admin_token = suite.login("admin", ADMIN_PASSWORD)
        yield suite


def read(suite, token):
    request_id = uuid.uuid4().hex
    r = suite.api("GET", "/api/residents", token, headers={"X-Request-ID": request_id})
    return r, request_id


def test_reads_on_postgresql_fail_closed_and_every_answer_is_chained_once(pg_suite, tmp_path):
    suite = pg_suite
    unit = suite.new_unit(suite.admin_token)
    seen = [read(suite, unit["token"]) for _ in range(5)]
    assert all(r.status_code == 200 for r, _ in seen)
    suite.stop_process("audit")
    try:
        deadline = time.monotonic() + CAP
        while True:
            r, request_id = read(suite, unit["token"])
            seen.append((r, request_id))
            if r.status_code == 503:
                assert r.json()["error"] == "audit_unavailable"
                break
            assert time.monotonic() < deadline, "reads never failed closed"
            time.sleep(0.1)
    finally:
        suite.start_process("audit")
        suite.wait_ready()
    deadline = time.monotonic() + CAP
    while True:
        r, request_id = read(suite, unit["token"])
        seen.append((r, request_id))
        if r.status_code == 200:
            break
        assert time.monotonic() < deadline, "reads never came back"
        time.sleep(0.2)

    client = RpcClient(suite.env["AMQP_URI"], 30)
    try:
        trail = client.cluster.audit
        expected = {rid: ("success" if r.status_code == 200 else "withheld") for r, rid in seen}
        deadline = time.monotonic() + CAP
        while True:
            items = trail.search({"account": unit["account"], "action": "roster.list"}, 1, 200)["items"]
            got = {}
            for item in items:
                got.setdefault(item["request_id"], []).append(item["outcome"])
            if set(got) >= set(expected):
                break
            assert time.monotonic() < deadline, f"missing records: {set(expected) - set(got)}"
            time.sleep(0.3)
        assert {rid: outcomes for rid, outcomes in got.items() if rid in expected} == \
            {rid: [outcome] for rid, outcome in expected.items()}
    finally:
        client.close()

    out = io.StringIO()
    code = cli.main(["--database-url", suite.env["AUDIT_DATABASE_URL"], "--archive-dir", str(tmp_path), "verify"],
                    out=out)
    assert code == 0, out.getvalue()
    assert "audit chain intact" in out.getvalue()
