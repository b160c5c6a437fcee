"""Sustained load (issue 10, point 7): 50 concurrent clients mix reads and
declarations through the gateway for 60 s on a platform of its own. No
answer may be an error (no 5xx, no 4xx: every request is valid for the state
its client left), and afterwards

* each unit's insured_count equals its roster of active residents and what
  the clients' own model of their declarations says,
* the declarations projections equal a replay of the event log
  (`python -m services.declarations.cli verify`).

Each client owns its persons (one new person per cycle of ten requests) and
sends them back to back on a keep-alive connection (bench/load.py), so the
state each request expects is known: enrol, change, suspend every second
person, resume every fourth, with reads of the unit, roster (list and search), records,
lookup, stats and notices in between.

The load generator runs in a process of its own (`python -m
tests.faults.test_sustained_load`, real threads, no eventlet), not as green
threads of the pytest process, which would share one core with the test's
own bookkeeping and measure pytest's scheduling as much as the platform.

SUSTAINED_LOAD_SECONDS shortens or lengthens the run (60 by default)."""
import json
import os
import subprocess
import sys
import time
from datetime import date
from urllib.parse import quote

import pytest

from bench import load
from tests import fixtures_xlsx as fx
from tests.suite import ADMIN_PASSWORD, ROOT, start_suite

CLIENTS = 50
UNITS = 5
SECONDS = float(os.environ.get("SUSTAINED_LOAD_SECONDS", "60"))
CYCLE = 10
ENROLMENT = {"cert_type": "01", "category": "11", "phone": "13905951234", "nation": "01",
             "address": "泉州市丰泽区东海街道", "hukou_address": "福建省泉州市丰泽区"}


@pytest.fixture(scope="module")
def platform():
    with start_suite() as suite:
        suite.admin_token = suite.login("admin", ADMIN_PASSWORD)
        yield suite


DIGITS = "〇一二三四五六七八九"


def person(client, cycle):
    """(ID number, name) of a client's person of a cycle; names hold no digits."""
    name = "负载" + "".join(DIGITS[int(d)] for d in f"{client:02d}") + "号" + \
        "".join(DIGITS[int(d)] for d in str(cycle))
    return fx.id_number(cycle % 500, date(1960 + cycle // 500, 3, 4), region=f"3505{client:02d}"), name


def final_state(cycle, steps):
    """The state a person of `cycle` is left in after its first `steps`
    requests (None: never enrolled)."""
    if steps < 1:
        return None
    state = "active"
    if cycle % 2 == 1 and steps > 5:
        state = "suspended"
    if cycle % 4 == 3 and steps > 7:
        state = "active"
    return state


class Clients:
    """make_request for bench/load.run: request i of client n, and a record
    of how many requests each client sent."""

    def __init__(self, tokens):
        self.tokens = tokens
        self.sent = {}

    def unit_of(self, n):
        return n % UNITS

    def __call__(self, index):
        n, i = divmod(index, 1_000_000)
        self.sent[n] = i + 1
        cycle, step = divmod(i, CYCLE)
        cert_no, name = person(n, cycle)
        auth = {"Authorization": f"Bearer {self.tokens[self.unit_of(n)]}"}
        who = {"cert_type": "01", "cert_no": cert_no, "name": name}
        if step == 0:
            return "POST", "/api/declarations/enrolment", auth, {**ENROLMENT, **who}
        if step == 1:
            return "GET", "/api/unit", auth, None
        if step == 2:
            return "POST", "/api/declarations/change", auth, {**who, "changes": {"phone": f"139{cycle:08d}"}}
        if step == 3:
            return "GET", "/api/residents?size=20", auth, None
        if step == 4:
            return "GET", "/api/declarations?size=20", auth, None
        if step == 5 and cycle % 2 == 1:
            return "POST", "/api/declarations/suspension", auth, {**who, "reason": "02"}
        if step == 5:
            return "GET", f"/api/residents/lookup?cert_type=01&cert_no={cert_no}&name={quote(name)}", auth, None
        if step == 6:
            return "GET", "/api/notices", auth, None
        if step == 7 and cycle % 4 == 3:
            return "POST", "/api/declarations/enrolment", auth, {**ENROLMENT, **who}
        if step == 7:
            return "GET", "/api/notices/unread_count", auth, None
        if step == 8:
            return "GET", "/api/unit/stats?months=3", auth, None
        # a search, not GET /api/residents/01/{cert_no}: the roster follows the
        # log asynchronously, so the person may not be there yet (404).
        return "GET", f"/api/residents?cert_no={cert_no}", auth, None

    def expected_insured(self):
        counts = [0] * UNITS
        for n, sent in self.sent.items():
            for cycle in range(sent // CYCLE + 1):
                if final_state(cycle, sent - cycle * CYCLE) == "active":
                    counts[self.unit_of(n)] += 1
        return counts


def generate(url, tokens, clients, seconds):
    """The load itself (in the generator's process): the Result's summary and
    how many requests each client sent, as JSON-able data."""
    model = Clients(tokens)
    result = load.run(url, "mixed", model, clients=clients, seconds=seconds, warmup=0)
    return {"line": result.line(), "count": result.count, "errors": result.errors,
            "statuses": {str(k): v for k, v in result.statuses.items()},
            "sent": {str(k): v for k, v in model.sent.items()}}


def run_generator(suite, tokens):
    """Run `generate` in its own process; its answer, with `sent` and
    `statuses` keyed by int again."""
    out = os.path.join(suite.workdir, "load-result.json")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.faults.test_sustained_load", suite.url, out, str(CLIENTS), str(SECONDS)],
        input=json.dumps(tokens), text=True, capture_output=True, cwd=ROOT,
        env={**suite.env, "EDT_NO_EVENTLET": "1"}, timeout=SECONDS + 600)
    assert proc.returncode == 0, f"the load generator failed:\n{proc.stdout}\n{proc.stderr}"
    with open(out, encoding="utf-8") as f:
        answer = json.load(f)
    answer["statuses"] = {int(k): v for k, v in answer["statuses"].items()}
    answer["sent"] = {int(k): v for k, v in answer["sent"].items()}
    return answer


def roster_active(suite, token):
    r = suite.api("GET", "/api/residents?status=active&size=1", token)
    assert r.status_code == 200, r.text
    return r.json()["total"]


def test_fifty_clients_for_a_minute_without_an_error_and_counts_equal_a_replay(platform):
    suite = platform
    units = [suite.new_unit(suite.admin_token) for _ in range(UNITS)]
    r = suite.api("POST", "/api/admin/notices", suite.admin_token,
                  json={"title": "负载测试通知", "body": "请各单位按时申报。", "pinned": False})
    assert r.status_code == 201, r.text
    tokens = [u["token"] for u in units]

    result = run_generator(suite, tokens)
    print(f"\n{result['line']}  statuses {dict(sorted(result['statuses'].items()))}")
    assert result["count"] > CLIENTS * CYCLE, "the clients barely got through"
    assert result["errors"] == 0, f"errors under load: {result['statuses']}"
    assert all(200 <= status < 300 for status in result["statuses"]), result["statuses"]
    clients = Clients(tokens)
    clients.sent = result["sent"]

    # The counts the clients' model expects, from the declarations service...
    expected = clients.expected_insured()
    assert sum(expected) > 0
    for unit, count in zip(units, expected):
        info = suite.api("GET", "/api/unit", unit["token"]).json()
        assert info["insured_count"] == count, (unit["account"], info, count)
    # ...and from the residents roster, once it has applied every event
    # (waited for, with a generous cap: the roster follows the log).
    deadline = time.monotonic() + 300
    while True:
        roster = [roster_active(suite, u["token"]) for u in units]
        if roster == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert roster == expected, f"roster {roster} != insured_count {expected}"

    # The projections equal a replay of the log.
    verify = subprocess.run([sys.executable, "-m", "services.declarations.cli", "verify"],
                            env=suite.env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    print(verify.stdout.strip())
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "equal a replay" in verify.stdout
    assert suite.api("GET", "/readyz").status_code == 200


if __name__ == "__main__":
    # The load generator's process: url, result file, clients, seconds; the
    # units' tokens as JSON on stdin.
    url, out, clients, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    answer = generate(url, json.load(sys.stdin), clients, seconds)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(answer, f)
