"""Batches under the campaign peak, on SQLite and PostgreSQL, through the
whole suite with two batch worker processes:

- eight units upload at the same moment: every upload is accepted (202),
  every row is decided once, two units enrolling the same persons at the
  same moment never both enrol one (the loser's row is a transfer-in or a
  409-style row failure), the log's positions are gap-free, `verify` finds
  the projections equal to a replay, and every roster equals a fold of the
  log;
- a batch worker killed in the middle of a file, then started again: the
  batch finishes once its lease runs out, nothing lost and nothing doubled.
"""
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import date

import pytest

from tests import fixtures_xlsx as fx
from tests.faults.conftest import fold, listed, listed_key, read_log
from tests.suite import ADMIN_PASSWORD, ROOT, start_suite

pytestmark = pytest.mark.integration

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UNITS = 8
ROWS = 200
SHARED = 20  # persons in the files of both unit 0 and unit 1
# Rows of the file whose worker is killed: enough that reading and deciding
# it outlast the polls that catch the worker at it.
KILLED_FILE_ROWS = 12_000


def fresh_ids(count):
    region = f"35{uuid.uuid4().int % 10000:04d}"
    return [fx.id_number(i % 500, date(1950 + i // 500, 3, 4), region=region) for i in range(count)]


def upload(suite, token, data):
    return suite.api("POST", "/api/batches?business_type=enrolment", token,
                     files={"file": ("参保名单.xlsx", data, XLSX)})


def verify(suite):
    return subprocess.run([sys.executable, "-m", "services.declarations.cli", "verify"],
                          env=suite.env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def wait_rosters(suite, tokens, expected, timeout=120):
    """Each unit's roster total once it equals `expected[unit]`; the last
    totals seen otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        totals = {unit: suite.api("GET", "/api/residents?size=1", token).json()["total"]
                  for unit, token in tokens.items()}
        if totals == expected or time.monotonic() > deadline:
            return totals
        time.sleep(0.5)


def roster_of(suite, token):
    """{(cert_type, person_id): (status, name)} of a unit's whole roster."""
    out, page = {}, 1
    while True:
        body = suite.api("GET", f"/api/residents?page={page}&size=200", token).json()
        for item in body["items"]:
            out[listed_key(item)] = (item["status"], item["name"])
        if page * 200 >= body["total"]:
            return out
        page += 1


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_eight_units_uploading_at_once_are_all_accepted_and_decided_once(database):
    env = {"BATCH_POLL_INTERVAL": "0.2"}
    with start_suite(extra_env=env, instances={"batches": 2}, database=database) as suite:
        admin = suite.login("admin", ADMIN_PASSWORD)
        units = [suite.new_unit(admin) for _ in range(UNITS)]
        ids = fresh_ids(UNITS * ROWS)
        shared = ids[:SHARED]
        own = ROWS - SHARED
        files = []
        for i in range(UNITS):
            people = (shared if i < 2 else []) + ids[SHARED + i * own:SHARED + (i + 1) * own]
            files.append(fx.big("enrolment", [fx.enrolment_row(p) for p in people]))

        barrier, answers = threading.Barrier(UNITS), [None] * UNITS

        def send(i):
            barrier.wait()
            answers[i] = upload(suite, units[i]["token"], files[i])

        threads = [threading.Thread(target=send, args=(i,)) for i in range(UNITS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [a.status_code for a in answers] == [202] * UNITS, [a.text for a in answers]
        numbers = [a.json()["batch_no"] for a in answers]
        assert len(set(numbers)) == UNITS and all(n.startswith("PL") for n in numbers)

        results = [suite.wait_batch(units[i]["token"], numbers[i]) for i in range(UNITS)]
        assert [r["status"] for r in results] == ["done"] * UNITS, results
        rows_of = [ROWS if i < 2 else own for i in range(UNITS)]
        assert [r["total"] for r in results] == rows_of
        # Units 2..7 own all their persons; units 0 and 1 both name the
        # shared ones: each shared row is declared by one and is a transfer
        # by the other, or refused for the clash — never two new enrolments.
        for r in results[2:]:
            assert (r["succeeded"], r["failed"]) == (own, 0), r
        for r in results[:2]:
            assert all("同时办理" in f["reason"] for f in r["failures"]), r["failures"]

        admin_log = read_log(suite, admin)
        positions = [e["position"] for e in admin_log]
        assert positions == list(range(1, len(admin_log) + 1)), "the log has gaps or repeats"
        assert len({e["event_id"] for e in admin_log}) == len(admin_log)
        accepted = sum(r["succeeded"] for r in results)
        assert len(admin_log) == accepted
        new = Counter((e["person"]["cert_type"], e["person"]["cert_no"]) for e in admin_log
                      if e["data"].get("action") == "new_enrolment")
        assert max(new.values()) == 1, "a person was newly enrolled twice"
        assert len(new) == SHARED + UNITS * own, "a person was not enrolled"

        checked = verify(suite)
        assert checked.returncode == 0, checked.stdout + checked.stderr

        state = listed(fold(admin_log))
        tokens = {u["unit"]["id"]: u["token"] for u in units}
        expected = Counter(unit for unit, _status, _name in state.values())
        assert wait_rosters(suite, tokens, {u: expected[u] for u in tokens}) == {u: expected[u] for u in tokens}
        for unit_id, token in tokens.items():
            mine = {key: (status, name) for key, (unit, status, name) in state.items() if unit == unit_id}
            assert roster_of(suite, token) == mine


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_batch_worker_killed_mid_file_loses_nothing_and_doubles_nothing(database):
    env = {"BATCH_POLL_INTERVAL": "0.2", "BATCH_LEASE_SECONDS": "5"}
    with start_suite(extra_env=env, database=database) as suite:
        admin = suite.login("admin", ADMIN_PASSWORD)
        unit = suite.new_unit(admin)
        ids = fresh_ids(KILLED_FILE_ROWS)
        data = fx.big("enrolment", [fx.enrolment_row(i) for i in ids])
        r = upload(suite, unit["token"], data)
        assert r.status_code == 202, r.text
        batch_no = r.json()["batch_no"]

        # Kill the worker once it has begun the file, before it finished.
        deadline, seen = time.monotonic() + 120, None
        while True:
            seen = suite.api("GET", f"/api/batches/{batch_no}", unit["token"]).json()
            if seen["status"] in ("reading", "deciding"):
                break
            assert seen["status"] == "queued" and time.monotonic() < deadline, seen
            time.sleep(0.02)
        suite.stop_process("batches", sig=signal.SIGKILL)
        after_kill = suite.api("GET", f"/api/batches/{batch_no}", unit["token"]).json()
        assert after_kill["status"] in ("reading", "deciding"), after_kill
        assert read_log(suite, admin) == [], "a killed worker's batch appended something"

        suite.start_process("batches")
        done = suite.wait_batch(unit["token"], batch_no, timeout=300)
        assert (done["status"], done["total"], done["succeeded"], done["failed"]) == (
            "done", KILLED_FILE_ROWS, KILLED_FILE_ROWS, 0), done

        log = read_log(suite, admin)
        assert [e["position"] for e in log] == list(range(1, KILLED_FILE_ROWS + 1))
        assert sorted(e["person"]["cert_no"] for e in log) == sorted(ids)
        assert {e["batch_no"] for e in log} == {batch_no}
        assert suite.api("GET", "/api/unit", unit["token"]).json()["insured_count"] == KILLED_FILE_ROWS
        checked = verify(suite)
        assert checked.returncode == 0, checked.stdout + checked.stderr
