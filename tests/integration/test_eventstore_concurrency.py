"""Writers racing on the event log, as separate processes (real parallelism,
not green threads), released together from a barrier, on SQLite and on
PostgreSQL."""
import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy.orm import Session

from common.config import ROOT
from common.identity import check_character
from services.declarations import declaring, rebuild
from services.declarations.eventlog import read_events
from services.declarations.models import Base
from services.declarations.store import DeclarationsStore
from tests.databases import schema_engine

pytestmark = pytest.mark.integration

PRELUDE = """
import json, random, sys, time, uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
from sqlalchemy.orm import Session
from common.db import make_engine
from common.errors import Conflict
from services.declarations import declaring, domain
from services.declarations.projection import Fold
from services.declarations.eventlog import append
from services.declarations.store import DeclarationsStore

TZ = ZoneInfo("Asia/Shanghai")
url, arg = sys.argv[1], json.loads(sys.argv[2])
engine = make_engine(url)
session = Session(engine)
store = DeclarationsStore(session)
store.last_position()  # connected before the start line
session.rollback()

def barrier(word="ready"):
    print(word, flush=True)
    sys.stdin.readline()
"""

# Declares through the use case, as the service does. With arg["hold"], the
# store waits at the barrier when the use case asks for the write lock, that
# is after it has read the person's state and decided: both racers have then
# decided on the same version before either appends - "at the same moment"
# made certain rather than left to the scheduler.
ENROLLER = textwrap.dedent(PRELUDE + """
class HeldStore(DeclarationsStore):
    def begin_write(self):
        barrier("decided")
        super().begin_write()

if arg.get("hold"):
    store = HeldStore(session)
else:
    barrier()
now = datetime.now(timezone.utc)
try:
    answer = declaring.declare(store, "enrol", arg["unit"], {"account": "racer"}, arg["person"], now, TZ)
    print(json.dumps({"ok": answer["action"]}), flush=True)
except Conflict as exc:
    print(json.dumps({"refused": exc.message}), flush=True)
""")

# Reads the person's state and decides first, then waits, then appends:
# both racers decide on the same state (never declared) before either appends.
DECIDER = textwrap.dedent(PRELUDE + """
now = datetime.now(timezone.utc)
command = declaring.prepare("enrol", arg["unit"], arg["person"], now.date(), {"actor": "racer"})
streams = store.streams([command.key])
states = store.person_states(streams.values())
events, _ = domain.decide_many([command], states, {}, now, now.date(), streams=streams)
session.rollback()
barrier("decided")
store.begin_write()
try:
    store.append(events, Fold(TZ, persons=states))
    session.commit()
    print(json.dumps({"ok": events[0]["data"]["action"]}), flush=True)
except Conflict as exc:  # the store's translation of the stream version already taken
    session.rollback()
    print(json.dumps({"refused": exc.message == domain.BUSY}), flush=True)
""")

# Appends `count` events one transaction each, lingering a little between
# taking its positions and committing, to give an ordering bug its chance.
WRITER = textwrap.dedent(PRELUDE + """
barrier()
for i in range(arg["count"]):
    event_id = str(uuid.uuid4())
    store.begin_write()
    append(store.conn, [{
        "event_id": event_id, "stream_id": f"99:{arg['name']}-{i}", "stream_version": 1,
        "type": "resident_enrolled", "unit_id": 1, "occurred_at": datetime.now(timezone.utc),
        "data": {"cert_type": "99", "cert_no": f"{arg['name']}-{i}", "name": "并发", "action": "new_enrolment"},
        "metadata": {"schema_version": 1, "record_id": event_id, "unit": {"id": 1}},
    }])
    time.sleep(random.random() / 500)
    session.commit()
print(json.dumps({"ok": arg["count"]}), flush=True)
""")


def cert_no(i):
    first = f"35050319800101{i:03d}"
    return first + check_character(first)


def person(i):
    return {"cert_type": "01", "cert_no": cert_no(i), "name": "王五", "category": "11", "phone": "13800138000"}


U = {"id": 1, "name": "东海社区", "credit_code": "A"}
V = {"id": 2, "name": "西湖社区", "credit_code": "B"}


@pytest.fixture
def engine(db_url):
    with schema_engine(db_url, Base.metadata) as engine:
        yield engine


def race(script, db_url, args, ready="ready", during=None):
    """Start one process per entry of `args`, wait until all are at the
    barrier, release them together; their last output lines, parsed."""
    env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONWARNINGS": "ignore"}
    procs = [subprocess.Popen([sys.executable, "-c", script, db_url, json.dumps(arg)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              cwd=ROOT, env=env, text=True) for arg in args]
    try:
        for proc in procs:
            line = proc.stdout.readline().strip()
            assert line == ready, line + proc.stderr.read()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        if during:
            during(procs)
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def test_two_units_deciding_on_the_same_state_only_one_append_succeeds(engine, db_url):
    results = race(DECIDER, db_url, [{"unit": U, "person": person(1)}, {"unit": V, "person": person(1)}],
                   ready="decided")
    assert sorted(json.dumps(r) for r in results) == ['{"ok": "new_enrolment"}', '{"refused": true}']
    with engine.connect() as conn:
        events = read_events(conn, 0, 10)
    assert len(events) == 1 and events[0]["stream_version"] == 1
    assert rebuild.verify(engine, rebuild_tz())[1] == []


def test_two_units_enrolling_one_person_at_the_same_moment_exactly_one_succeeds(engine, db_url):
    rounds = 3
    for round_ in range(rounds):
        p = person(10 + round_)
        # Each racer has read the person (never declared) and decided a new
        # enrolment; released together, they contend for the append lock.
        results = race(ENROLLER, db_url, [{"unit": U, "person": p, "hold": True},
                                          {"unit": V, "person": p, "hold": True}], ready="decided")
        assert sorted(json.dumps(r, ensure_ascii=False) for r in results) == [
            '{"ok": "new_enrolment"}', '{"refused": "%s"}' % declaring.BUSY], results
    with Session(engine) as session:
        store = DeclarationsStore(session)
        states = store.person_states(store.streams([("01", cert_no(10 + r)) for r in range(rounds)]).values())
        # The loser appended nothing: one event per person, counted once.
        assert len(states) == rounds and all(s["status"] == "active" and s["version"] == 1 for s in states.values())
        assert store.insured_count(U["id"]) + store.insured_count(V["id"]) == rounds
    with engine.connect() as conn:
        events = read_events(conn, 0, 100)
    assert [e["position"] for e in events] == list(range(1, rounds + 1))
    assert rebuild.verify(engine, rebuild_tz())[1] == []


def test_two_units_released_together_never_both_enrol_one_person(engine, db_url):
    # Left to the scheduler: the second either decided before the first
    # committed (409, nothing appended) or after (a transfer-in) - never a
    # second new enrolment, never the person active in both units.
    rounds = 5
    for round_ in range(rounds):
        p = person(20 + round_)
        results = race(ENROLLER, db_url, [{"unit": U, "person": p}, {"unit": V, "person": p}])
        outcomes = {r.get("ok") or r.get("refused") for r in results}
        assert outcomes in ({"new_enrolment", "transfer_in"}, {"new_enrolment", declaring.BUSY}), outcomes
    with Session(engine) as session:
        store = DeclarationsStore(session)
        states = store.person_states(store.streams([("01", cert_no(20 + r)) for r in range(rounds)]).values())
        assert len(states) == rounds and all(s["status"] == "active" for s in states.values())
        assert store.insured_count(U["id"]) + store.insured_count(V["id"]) == rounds
    assert rebuild.verify(engine, rebuild_tz())[1] == []


def test_a_second_unit_enrolling_after_the_first_committed_is_a_transfer_in(engine):
    p = person(30)
    with Session(engine) as session:
        store = DeclarationsStore(session)
        now = datetime.now(timezone.utc)
        first = declaring.declare(store, "enrol", U, {"account": "a"}, p, now, rebuild_tz())
        second = declaring.declare(store, "enrol", V, {"account": "b"}, p, now, rebuild_tz())
    assert (first["action"], second["action"]) == ("new_enrolment", "transfer_in")


def test_writers_appending_at_once_get_gap_free_positions_in_commit_order(engine, db_url):
    writers, each = 4, 60
    seen = []

    def tail(procs):
        # A consumer resuming after the last position it saw: if any event
        # committed after a higher-numbered one, it would be skipped here.
        with engine.connect() as conn:
            deadline = time.time() + 120
            while time.time() < deadline:
                batch = read_events(conn, seen[-1] if seen else 0, 1000)
                conn.rollback()
                seen.extend(e["position"] for e in batch)
                if len(seen) >= writers * each or all(p.poll() is not None for p in procs) and not batch:
                    break

    results = race(WRITER, db_url, [{"name": f"w{i}", "count": each} for i in range(writers)], during=tail)
    assert results == [{"ok": each}] * writers
    with engine.connect() as conn:
        seen.extend(e["position"] for e in read_events(conn, seen[-1] if seen else 0, 10000))
        positions = [e["position"] for e in read_events(conn, 0, 10000)]
    assert positions == list(range(1, writers * each + 1))
    assert seen == positions


def rebuild_tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")
