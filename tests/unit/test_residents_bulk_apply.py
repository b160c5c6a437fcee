"""The bulk apply of the residents projection (rows read with one query per
batch, written with a few bulk statements) gives exactly the rows of a fold
of the log, however the events are grouped into transactions; catch-ups run
in short transactions with a pause between them; a roster total is counted
again only when its own unit changed. On SQLite and PostgreSQL."""
import random
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.events import ENROLLED, INFO_CHANGED, SUSPENDED, TRANSFERRED
from common.protect import process_index
from services.residents import feed, roster
from services.residents.models import Base, Resident, ResidentHistory, UnitVersion
from services.residents.store import PROTECTED, RosterStore
from tests.databases import schema_engine
from tests.unit.test_residents_projection import T0, LogBuilder, id_number

PERSON = ("name", "gender", "birth_date", "nation", "category", "phone", "hukou_address", "address", "remark")
CHANGEABLE = ("name", "gender", "birth_date", "nation", "phone", "hukou_address", "address", "category")


@pytest.fixture
def engine(db_url):
    with schema_engine(db_url, Base.metadata) as engine:
        yield engine


def mixed_log(persons=60, seed=19):
    """Enrolments, transfers (both directions), suspensions, resumes and
    changes of `persons` persons over three units, interleaved."""
    rng = random.Random(seed)
    log = LogBuilder()
    certs = [id_number(500 + i) for i in range(persons)]
    for i, cert in enumerate(certs):
        log.enrol(1 + i % 3, cert, f"居民{'甲乙丙丁戊'[i % 5]}", phone=f"1390000{i:04d}")
    for _ in range(persons * 3):
        cert = rng.choice(certs)
        status, unit, _person = log.state[cert]
        roll = rng.random()
        if roll < 0.3:
            log.enrol(rng.choice([u for u in (1, 2, 3) if u != unit]), cert, log.state[cert][2]["name"])
        elif roll < 0.5 and status == "active":
            log.suspend(unit, cert, reason=rng.choice(["01", "02"]), remark=rng.choice([None, "外出"]))
        elif roll < 0.65 and status == "suspended":
            log.enrol(unit, cert, log.state[cert][2]["name"])
        else:
            log.change(unit, cert, **rng.choice([
                {"phone": f"1370000{rng.randrange(10000):04d}"}, {"name": "改名" + "一二三"[rng.randrange(3)]},
                {"address": "泉州市鲤城区", "nation": "02"}, {"birth_date": "1991-02-03"}]))
    return log


def unit_id(unit):
    return unit.get("id") if isinstance(unit, dict) else unit


def when(value):
    return datetime.fromisoformat(value)


def fold(events, now):
    """The roster the rules of docs/domain.md give, written out here
    independently of services/residents/projection.py: {key: row} and the
    set of history rows."""
    rows, history = {}, set()

    def person_values(row, values):
        for field in PERSON:
            if field in values:
                value = values[field]
                if field == "birth_date":
                    value = date.fromisoformat(value) if value else None
                if field == "name":
                    value = value or row["name"]
                row[field] = value

    def hist(e, unit, kind, detail):
        history.add((e["position"], unit, e["data"]["cert_type"], e["data"]["cert_no"], kind, e["type"],
                     e["event_id"], when(e["occurred_at"]), e["record_id"], e["batch_no"], repr(detail)))

    def row_of(e):
        key = (e["person"]["cert_type"], e["person"]["cert_no"])
        if key not in rows:
            rows[key] = {"cert_type": key[0], "cert_no": key[1], "name": e["person"]["name"],
                         **{f: None for f in PERSON if f != "name"}, "unit_id": None, "status": None,
                         "since": None, "status_position": None, "suspension_reason": None,
                         "updated_position": None, "person_id": process_index().person_id(*key)}
        return rows[key]

    for e in events:
        data, at, position = e["data"], when(e["occurred_at"]), e["position"]
        if e["type"] in (ENROLLED, TRANSFERRED):
            to = unit_id(data.get("to_unit")) or unit_id(e["unit"]) if e["type"] == TRANSFERRED else unit_id(e["unit"])
            before = rows.get((e["person"]["cert_type"], e["person"]["cert_no"]))
            from_unit = unit_id(data.get("from_unit")) or (before["unit_id"] if before else None)
            row = row_of(e)
            person_values(row, {**data, "name": data.get("name") or e["person"]["name"]})
            row.update(unit_id=to, status="active", since=at, status_position=position,
                       suspension_reason=None, updated_position=position)
            if e["type"] == ENROLLED:
                hist(e, to, data.get("action") or "new_enrolment", {})
            else:
                hist(e, to, "transfer_in", {})
                if from_unit is not None and from_unit != to:
                    hist(e, from_unit, "transfer_out", {})
        elif e["type"] == SUSPENDED:
            row = row_of(e)
            if row["since"] is None:
                person_values(row, data)
            row.update(unit_id=unit_id(e["unit"]), status="suspended", since=at, status_position=position,
                       suspension_reason=data.get("reason"), updated_position=position)
            hist(e, unit_id(e["unit"]), "suspension", {"reason": data.get("reason"), "remark": data.get("remark")})
        elif e["type"] == INFO_CHANGED:
            row = row_of(e)
            changes = {k: v for k, v in data["after"].items() if k in CHANGEABLE}
            person_values(row, changes)
            row["updated_position"] = position
            hist(e, unit_id(e["unit"]), "change", {"before": data.get("before") or {}, "after": data["after"]})
    return rows, history


def aware(value):
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def table_rows(engine):
    """The rows as the fold has them: personal fields decrypted, the
    certificate number in clear instead of its blind index."""
    with Session(engine) as session:
        store = RosterStore(session)
        rows, numbers = {}, {}
        for r in session.scalars(select(Resident)):
            person = store.opened(r)
            values = {c.name: getattr(person, c.name) for c in Resident.__table__.columns
                      if not c.name.endswith(("_enc", "_bidx"))}
            values.update({f: getattr(person, f) for f in PROTECTED})
            values["since"] = aware(values["since"])
            rows[(r.cert_type, person.cert_no)] = values
            numbers[(r.cert_type, r.cert_no_bidx)] = person.cert_no
        history = {(h.position, h.unit_id, h.cert_type, numbers[(h.cert_type, h.cert_no_bidx)], h.kind,
                    h.event_type, h.event_id, aware(h.occurred_at), h.record_id, h.batch_no,
                    repr(store.open_detail(h.detail)))
                   for h in session.scalars(select(ResidentHistory))}
        versions = {v.unit_id: v.position for v in session.scalars(select(UnitVersion))}
    return rows, history, versions


def apply_grouped(engine, events, sizes):
    """Apply `events` in transactions of the sizes `sizes` yields."""
    with Session(engine) as session:
        store = RosterStore(session)
        start = 0
        while start < len(events):
            size = next(sizes)
            feed.apply_in_order(store, events[start:start + size], T0)
            start += size
        return store.checkpoint()


@pytest.mark.parametrize("grouping", ["one transaction", "one event each", "random batches"])
def test_the_bulk_apply_gives_the_rows_of_a_fold_of_the_log(engine, grouping):
    log = mixed_log()
    rng = random.Random(3)
    sizes = {"one transaction": iter(lambda: len(log.events), None),
             "one event each": iter(lambda: 1, None),
             "random batches": iter(lambda: rng.randrange(1, 60), None)}[grouping]
    assert apply_grouped(engine, log.events, sizes) == len(log.events)
    rows, history, versions = table_rows(engine)
    expected_rows, expected_history = fold(log.events, T0)
    assert rows == expected_rows
    assert history == expected_history
    # Each unit's version is the end of the last transaction that touched
    # its roster (with one event each: that event's position).
    last = {}
    for h in expected_history:
        last[h[1]] = max(last.get(h[1], 0), h[0])
    assert versions.keys() == last.keys()
    if grouping == "one event each":
        assert versions == last
    assert all(last[u] <= versions[u] <= len(log.events) for u in last)
    # and the fold agrees with what LogBuilder says each person's state is
    for cert, (status, unit, person) in log.state.items():
        row = rows[("01", cert)]
        assert (row["status"], row["unit_id"], row["name"], row["phone"]) == (status, unit, person["name"],
                                                                               person["phone"])


def test_rows_read_before_an_apply_are_seen_as_written(engine):
    log = LogBuilder()
    cert = id_number(900)
    log.enrol(1, cert, "林一")
    with Session(engine, expire_on_commit=False) as session:
        store = RosterStore(session)
        feed.apply_in_order(store, log.events, T0)
        assert store.opened(store.person("01", cert)).phone == "13800138000"  # in the session's identity map now
        log.change(1, cert, phone="13500000000")
        feed.apply_in_order(store, log.events[1:], T0)
        assert store.opened(store.person("01", cert)).phone == "13500000000"


def test_a_catch_up_applies_in_short_transactions_with_a_pause_between(engine):
    log = LogBuilder()
    for i in range(1000):
        log.enrol(1 + i % 2, id_number(2000 + i), "陈一")
    pauses, asked = [], []

    def fetch(after, limit):
        asked.append(limit)
        return log.events_after(after, limit)

    with Session(engine) as session:
        store = RosterStore(session)
        assert feed.catch_up(store, fetch, T0, pause=lambda: pauses.append(store.checkpoint()), chunk=150) == 1000
        assert store.checkpoint() == 1000
    assert asked[0] == feed.CATCHUP_PAGE
    # 1,000 events in transactions of at most 150: a pause after each, the
    # checkpoint already committed when it comes.
    assert pauses == [150, 300, 450, 600, 750, 900, 1000]


def test_a_large_gap_is_applied_in_short_transactions_with_a_pause_between(engine):
    log = LogBuilder()
    for i in range(1200):
        log.enrol(1, id_number(4000 + i), "陈二")
    intake = feed.Intake()
    with Session(engine) as session:
        store = RosterStore(session)
        intake.pause = lambda: pauses.append(store.checkpoint())
        pauses = []
        intake.offer(log.events[-1])
        assert intake.apply(store, log.events[-1], log.events_after, T0) == 1200
    assert pauses == [500, 1000]  # between the transactions of 500, 500 and 200


def test_a_roster_total_is_counted_again_only_when_its_unit_changes(engine):
    log = LogBuilder()
    for i in range(6):
        log.enrol(1 if i < 4 else 2, id_number(6000 + i), "吴一")
    with Session(engine) as session:
        store = RosterStore(session)
        feed.apply_in_order(store, log.events, T0)
        counted = []
        original = session.scalar

        def counting_scalar(statement, *args, **kwargs):
            if "count(" in str(statement).lower():
                counted.append(statement)
            return original(statement, *args, **kwargs)

        session.scalar = counting_scalar
        assert roster.roster(store, 1, {}, 1, 20)["total"] == 4
        assert len(counted) == 1
        # Events of unit 2 only: unit 1's total is reused although the checkpoint moved.
        log.enrol(2, id_number(6100), "吴二")
        log.suspend(2, id_number(6004))
        feed.apply_in_order(store, log.events[6:], T0)
        assert roster.roster(store, 1, {}, 1, 20)["total"] == 4
        assert len(counted) == 1
        # A person leaves unit 1 (the event names only the new unit): counted again.
        log.enrol(2, id_number(6000), "吴一")
        feed.apply_in_order(store, log.events[8:], T0)
        assert roster.roster(store, 1, {}, 1, 20)["total"] == 3
        assert len(counted) == 2
        assert roster.roster(store, 2, {}, 1, 20)["total"] == 4


def test_a_value_too_long_for_its_column_is_refused_not_cut(postgres_url):
    from sqlalchemy.exc import DataError

    with schema_engine(postgres_url, Base.metadata) as engine, Session(engine) as session:
        store = RosterStore(session)
        log = LogBuilder()
        log.enrol(1, id_number(7000), "名" * 60)
        with pytest.raises(DataError):
            feed.apply_in_order(store, log.events, T0)
        assert store.checkpoint() == 0


def test_the_unit_versions_migration_fills_them_from_the_history(tmp_path):
    from sqlalchemy import text

    from common.db import make_engine
    from deploy import migrate

    url = f"sqlite:///{tmp_path}/residents.db"
    migrate.upgrade("residents", url, "2dc55453f7e9")
    engine = make_engine(url)
    with engine.begin() as conn:
        for position, unit in ((1, 1), (2, 2), (3, 1), (4, 3)):
            conn.execute(text(
                "INSERT INTO resident_history (position, unit_id, cert_type, cert_no, kind, event_type, event_id,"
                " occurred_at, detail, projected_at) VALUES (:p, :u, '01', 'x', 'change', 't', 'e', :at, '{}', :at)"),
                {"p": position, "u": unit, "at": datetime(2026, 1, 1) + timedelta(seconds=position)})
    migrate.upgrade("residents", url)
    with engine.connect() as conn:
        assert dict(conn.execute(text("SELECT unit_id, position FROM residents_unit_versions")).all()) == \
            {1: 3, 2: 2, 3: 4}
    engine.dispose()


def test_postgres_round_trips_yield_to_the_hub_in_the_service_process(postgres_url):
    """psycopg's C wait blocks the whole process; the residents service
    makes it wait through eventlet's select, so other green threads (the RPC
    workers) run while PostgreSQL works on an apply."""
    import eventlet
    import eventlet.patcher
    import psycopg.waiting

    from services.residents import service  # noqa: F401 (what the service process does on import)
    from services.residents.store import cooperative_waits

    if not eventlet.patcher.is_monkey_patched("select"):
        pytest.skip("runs under eventlet (the test process is patched by the root conftest)")
    assert cooperative_waits() and psycopg.waiting.wait is psycopg.waiting.wait_select
    ticks = []

    def ticker():
        while len(ticks) < 200:
            ticks.append(1)
            eventlet.sleep(0.01)

    with schema_engine(postgres_url, Base.metadata) as engine:
        thread = eventlet.spawn(ticker)
        eventlet.sleep(0)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_sleep(1)")
        during = len(ticks)
        thread.kill()
    # The ticker ran while the query waited (it would tick once with wait_c).
    assert during >= 10, during
