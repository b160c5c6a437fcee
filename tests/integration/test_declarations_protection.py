"""Issue 17 points 1-2 in the declarations database: no 证件号码, 联系电话 or
address of a person in clear in `events`, `persons` or `records`; exact
search by 证件号码 through its blind index; downstream readers (the log for
residents and GET /api/events, the relay's messages) get full values; the
stream ids are opaque and kept across an index-key change. Both engines."""
import base64
import os
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from common.db import make_engine
from common.events import ENROLLED, INFO_CHANGED
from common.identity import check_character
from common.protect import runtime
from deploy import migrate
from services.declarations import cli, declaring, index_key, queries, rebuild
from services.declarations.eventlog import read_events
from services.declarations.models import Base
from services.declarations.relay import relay_pending
from services.declarations.relay_store import RelayStore
from services.declarations.store import DeclarationsStore
from tests.databases import schema_engine

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
U = {"id": 1, "name": "东海社区居民委员会", "credit_code": "91350503MA2Y8K3Q0A"}
ACTOR = {"account": "donghai", "request_id": "req-1", "address": "10.0.0.1"}
PHONE, NEW_PHONE = "13912345678", "13787654321"
HUKOU, ADDRESS, NEW_ADDRESS = "福建省泉州市丰泽区东海街道一号", "泉州市丰泽区刺桐路八号", "泉州市鲤城区中山路九号"


def cert_no(i):
    first = f"35050319900101{i:03d}"
    return first + check_character(first)


def enrolment(i):
    return {"cert_type": "01", "cert_no": cert_no(i), "name": "张三", "category": "11", "phone": PHONE,
            "hukou_address": HUKOU, "address": ADDRESS}


PLAIN = [cert_no(1), cert_no(2), PHONE, NEW_PHONE, HUKOU, ADDRESS, NEW_ADDRESS]


@pytest.fixture
def engine(db_url):
    with schema_engine(db_url, Base.metadata) as engine:
        yield engine


def declare(engine, kind, data, unit=U):
    with Session(engine) as session:
        return declaring.declare(DeclarationsStore(session), kind, unit, ACTOR, data, NOW, TZ)


def populate(engine):
    declare(engine, "enrol", enrolment(1))
    declare(engine, "enrol", enrolment(2))
    declare(engine, "change", {"cert_type": "01", "cert_no": cert_no(1), "name": "张三",
                               "changes": {"phone": NEW_PHONE, "address": NEW_ADDRESS}})
    declare(engine, "suspend", {"cert_type": "01", "cert_no": cert_no(2), "name": "张三", "reason": "02"})


def raw_text(engine):
    """Every stored value of the three tables, as text."""
    with engine.connect() as conn:
        return " ".join(str(row) for table in ("events", "persons", "records")
                        for row in conn.execute(text(f"SELECT * FROM {table}")))


def test_no_person_field_is_stored_in_clear(engine):
    populate(engine)
    stored = raw_text(engine)
    assert [value for value in PLAIN if value in stored] == []
    assert "v1:" in stored  # tokens, not nothing
    with engine.connect() as conn:
        streams = {r[0] for r in conn.execute(text("SELECT stream_id FROM events"))}
    assert len(streams) == 2 and all(s.startswith("p:") and len(s) == 34 for s in streams)


def test_an_append_encrypts_each_value_once_and_its_projections_copy_the_token(engine):
    import json

    declare(engine, "enrol", enrolment(1))
    with engine.connect() as conn:
        data = conn.execute(text("SELECT data FROM events")).scalar()
        person = conn.execute(text("SELECT cert_no_enc, person FROM persons")).one()
        record = conn.execute(text("SELECT cert_no_enc FROM records")).scalar()
    data = json.loads(data) if isinstance(data, str) else data
    stored = json.loads(person[1]) if isinstance(person[1], str) else person[1]
    assert data["cert_no"] == person[0] == record
    assert (stored["phone"], stored["hukou_address"], stored["address"]) == (
        data["phone"], data["hukou_address"], data["address"])


def test_readers_of_the_log_get_full_values(engine):
    populate(engine)
    with Session(engine) as session:
        store = DeclarationsStore(session)
        items = queries.events_after(store, 0, 100)["items"]  # GET /api/events, residents' catch-up
    first = items[0]["data"]
    assert (first["cert_no"], first["phone"], first["hukou_address"], first["address"]) == (
        cert_no(1), PHONE, HUKOU, ADDRESS)
    change = items[2]["data"]
    assert change["before"] == {"phone": PHONE, "address": ADDRESS}
    assert change["after"] == {"phone": NEW_PHONE, "address": NEW_ADDRESS}

    published = []
    relay = RelayStore(Session(engine), "relay-1")
    assert relay_pending(relay, published.append, lambda: NOW, timedelta(seconds=10)) == 4
    assert [e["data"] for e in published] == [e["data"] for e in items]
    assert published[0]["data"]["cert_no"] == cert_no(1)


def test_persons_and_records_answer_full_values_and_search_exactly(engine):
    populate(engine)
    with Session(engine) as session:
        store = DeclarationsStore(session)
        state = queries.person_state(store, "01", cert_no(1))
        assert state["cert_no"] == cert_no(1)
        assert state["person"]["phone"] == NEW_PHONE and state["person"]["address"] == NEW_ADDRESS
        assert queries.person_state(store, "01", cert_no(3)) is None
        found = queries.list_records(store, U["id"], {"cert_no": f" {cert_no(1).lower()} "}, 1, 20, TZ)
        assert found["total"] == 2 and {i["cert_no"] for i in found["items"]} == {cert_no(1)}
        assert queries.list_records(store, U["id"], {"cert_no": cert_no(1)[:-1]}, 1, 20, TZ)["total"] == 0
        record = queries.get_record(store, U["id"], found["items"][0]["record_id"], TZ)
        assert record["cert_no"] == cert_no(1) and record["after"]["phone"] == NEW_PHONE


def test_a_known_person_keeps_its_stream(engine):
    populate(engine)
    with engine.connect() as conn:
        before = [e["stream_id"] for e in read_events(conn, 0, 100)]
    declare(engine, "enrol", enrolment(2))  # resumes the suspended person: its stream, version 3
    with engine.connect() as conn:
        last = read_events(conn, 0, 100)[-1]
    assert last["stream_id"] == before[1] and last["stream_version"] == 3


def test_rebuild_and_verify_are_clean(engine):
    populate(engine)
    assert rebuild.rebuild(engine, TZ) == 4
    assert rebuild.verify(engine, TZ) == (4, [])
    assert [value for value in PLAIN if value in raw_text(engine)] == []


def test_verify_reports_a_difference_without_the_person_fields(engine):
    from common.protect.masking import mask_cert_no

    populate(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE persons SET version = version + 5"))
        conn.execute(text("DELETE FROM records WHERE position = 1"))
    _, report = rebuild.verify(engine, TZ)
    lines = "\n".join(report)
    assert "persons" in lines and "records" in lines and mask_cert_no(cert_no(1)) in lines
    assert [value for value in PLAIN if value in lines] == []


@pytest.fixture
def other_index_key(monkeypatch):
    """The development key ring with another blind-index key."""
    from common.protect.keys import load_keys

    ring = load_keys()
    keys = ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in ring.keks.items())

    def switch():
        monkeypatch.setenv("EDT_PI_KEYS", keys)
        monkeypatch.setenv("EDT_PI_ACTIVE_KEY", ring.active_id)
        monkeypatch.setenv("EDT_PI_INDEX_KEY", "i-other:" + base64.b64encode(os.urandom(32)).decode())
        runtime.forget()
    yield switch
    runtime.forget()


def test_a_new_index_key_refuses_start_until_rebuild_keeps_the_log(engine, other_index_key):
    populate(engine)
    index_key.check(engine)  # records the key the projections were built with
    index_key.check(engine)  # and finds it
    with engine.connect() as conn:
        log_before = [(e["stream_id"], e["data"]) for e in read_events(conn, 0, 100)]
    other_index_key()
    with pytest.raises(SystemExit, match="rebuild"):
        index_key.check(engine)
    assert rebuild.rebuild(engine, TZ) == 4
    index_key.check(engine)
    assert rebuild.verify(engine, TZ) == (4, [])
    with engine.connect() as conn:
        assert [(e["stream_id"], e["data"]) for e in read_events(conn, 0, 100)] == log_before
    declare(engine, "enrol", enrolment(2))  # found under the new key: its own stream, no new one
    with engine.connect() as conn:
        last = read_events(conn, 0, 100)[-1]
    assert (last["stream_id"], last["stream_version"]) == (log_before[1][0], 3)


def test_cli_key_commands(engine, capsys):
    url = engine.url.render_as_string(hide_password=False)
    declare(engine, "enrol", enrolment(1))
    assert cli.main(["protect-keys", "--database-url", url]) == 0
    assert "master keys in use: " in capsys.readouterr().out
    assert cli.main(["protect-rotate", "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert "data keys re-wrapped" in out and "v1:" not in out
    with Session(engine) as session:  # values untouched and still readable
        assert queries.person_state(DeclarationsStore(session), "01", cert_no(1))["cert_no"] == cert_no(1)


# -- the migration ------------------------------------------------------------

OLD_EVENTS = [
    (1, "e-1", f"01:{cert_no(1)}", 1, ENROLLED, 1,
     {"cert_type": "01", "cert_no": cert_no(1), "name": "张三", "gender": "1", "birth_date": "1990-01-01",
      "category": "11", "phone": PHONE, "hukou_address": HUKOU, "address": ADDRESS, "action": "new_enrolment"}),
    (2, "e-2", f"01:{cert_no(1)}", 2, INFO_CHANGED, 1,
     {"cert_type": "01", "cert_no": cert_no(1), "name": "张三", "action": "change",
      "before": {"phone": PHONE, "address": ADDRESS}, "after": {"phone": NEW_PHONE, "address": NEW_ADDRESS}}),
]


def _old_rows(conn):
    import json

    j = "CAST(:{} AS json)" if conn.dialect.name == "postgresql" else ":{}"
    for position, event_id, sid, version, type_, unit_id, data in OLD_EVENTS:
        conn.execute(text("INSERT INTO events (position, event_id, stream_id, stream_version, type, unit_id, "
                          f"occurred_at, data, metadata) VALUES (:p, :e, :s, :v, :t, :u, :o, {j.format('d')}, "
                          f"{j.format('m')})"),
                     {"p": position, "e": event_id, "s": sid, "v": version, "t": type_, "u": unit_id, "o": NOW,
                      "d": json.dumps(data, ensure_ascii=False),
                      "m": json.dumps({"record_id": event_id, "unit": {"id": 1, "name": U["name"],
                                                                       "credit_code": U["credit_code"]},
                                       "batch_no": None, "actor": "donghai", "address": "10.0.0.1"})})
    person = {"name": "张三", "gender": "1", "birth_date": "1990-01-01", "nation": None, "category": "11",
              "phone": NEW_PHONE, "hukou_address": HUKOU, "address": NEW_ADDRESS}
    conn.execute(text("INSERT INTO persons (stream_id, cert_type, cert_no, status, unit_id, version, since, "
                      f"person) VALUES (:s, '01', :n, 'active', 1, 2, :o, {j.format('j')})"),
                 {"s": f"01:{cert_no(1)}", "n": cert_no(1), "o": NOW, "j": json.dumps(person, ensure_ascii=False)})
    for position, event_id, *_ in OLD_EVENTS:
        conn.execute(text("INSERT INTO records (position, record_id, unit_id, business_type, action, cert_type, "
                          "cert_no, name, declared_at) VALUES (:p, :r, 1, :b, :a, '01', :n, '张三', :o)"),
                     {"p": position, "r": event_id, "b": "enrolment" if position == 1 else "change",
                      "a": "new_enrolment" if position == 1 else "change", "n": cert_no(1), "o": NOW})


def test_the_migration_seals_the_rows_of_the_previous_head(db_url):
    migrate.upgrade("declarations", db_url, "1b6d9e3f5a70")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            _old_rows(conn)
        with engine.begin() as conn:
            command.upgrade(migrate.alembic_config("declarations", conn), "5f0b3c7d9e24")
        runtime.forget(engine)
        assert [value for value in PLAIN if value in raw_text(engine)] == []
        with engine.connect() as conn:
            events = read_events(conn, 0, 10)
            assert conn.execute(text("SELECT count(*) FROM projection_keys")).scalar() == 1
        assert [(e["position"], e["event_id"], e["stream_version"], e["type"]) for e in events] == [
            (1, "e-1", 1, ENROLLED), (2, "e-2", 2, INFO_CHANGED)]
        assert [e["data"] for e in events] == [data for *_, data in OLD_EVENTS]
        assert events[0]["stream_id"] == events[1]["stream_id"] != f"01:{cert_no(1)}"
        with Session(engine) as session:  # the converted projections
            store = DeclarationsStore(session)
            assert queries.person_state(store, "01", cert_no(1))["person"]["phone"] == NEW_PHONE
            assert queries.list_records(store, 1, {"cert_no": cert_no(1)}, 1, 20, TZ)["total"] == 2
        with engine.connect() as conn:
            persons = conn.execute(text("SELECT stream_id FROM persons")).scalars().all()
        assert persons == [events[0]["stream_id"]]
        assert rebuild.rebuild(engine, TZ) == 2  # (the test's old rows had no figures)
        assert rebuild.verify(engine, TZ) == (2, [])
        declare(engine, "suspend", {"cert_type": "01", "cert_no": cert_no(1), "name": "张三", "reason": "02"})
        with engine.connect() as conn:
            last = read_events(conn, 0, 10)[-1]
            assert (last["stream_id"], last["stream_version"]) == (events[0]["stream_id"], 3)
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:  # triggers back
            conn.execute(text("UPDATE events SET type = 'x' WHERE position = 1"))
        assert migrate.differences("declarations", db_url) == []
    finally:
        engine.dispose()


def _file_bytes(url):
    path = url.removeprefix("sqlite:///")
    data = b""
    for suffix in ("", "-wal"):
        if os.path.exists(path + suffix):
            with open(path + suffix, "rb") as f:
                data += f.read()
    return data


def test_the_sqlite_file_holds_no_person_field(sqlite_url):
    with schema_engine(sqlite_url, Base.metadata) as engine:
        populate(engine)
        rebuild.rebuild(engine, TZ)
    stored = _file_bytes(sqlite_url)
    assert [value for value in PLAIN if value.encode() in stored] == []


def test_after_the_migration_the_sqlite_file_holds_no_old_text(sqlite_url):
    migrate.upgrade("declarations", sqlite_url, "1b6d9e3f5a70")
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        _old_rows(conn)
    engine.dispose()
    assert cert_no(1).encode() in _file_bytes(sqlite_url) and HUKOU.encode() in _file_bytes(sqlite_url)
    try:
        with engine.begin() as conn:
            command.upgrade(migrate.alembic_config("declarations", conn), "5f0b3c7d9e24")
    finally:
        engine.dispose()
        runtime.forget()
    stored = _file_bytes(sqlite_url)
    assert [value for value in PLAIN if value.encode() in stored and value != cert_no(2)] == []



def test_a_process_that_found_no_index_key_accepts_the_one_another_recorded_meanwhile(db_url, monkeypatch):
    """The service and its batch workers check the index key at the same
    moment on a new database: one finds no row, another records it before
    the first writes. The first must start (no "database is locked" on
    SQLite, no taken key on PostgreSQL) and one row stays recorded."""
    setup = make_engine(db_url)
    Base.metadata.create_all(setup)
    first, other = make_engine(db_url), make_engine(db_url)
    try:
        found, reads = index_key._built, []

        def built(engine):
            if engine is first and not reads:  # the first process's read, taken before the other wrote
                reads.append(None)
                return None
            return found(engine)

        monkeypatch.setattr(index_key, "_built", built)
        index_key.check(other)
        index_key.check(first)  # read None, then writes: the other's row is there already
        assert reads == [None]
        with setup.connect() as conn:
            rows = conn.execute(text("SELECT key_id FROM projection_keys")).scalars().all()
        assert rows == [runtime.protection(setup).index.key_id]
    finally:
        for engine in (first, other, setup):
            runtime.forget(engine)
            engine.dispose()
