"""Personal fields of the residents projection are encrypted at rest (issue 17,
docs/protection.md): the tables hold blind indexes and tokens, never the
证件号码, 联系电话 or addresses in clear; searches by 证件号码 still find the person,
details and the export show full values, lists masked ones. A change of the
blind-index key rebuilds the roster from the log; the migration encrypts an
existing roster; the CLI rotates the data keys. On SQLite and PostgreSQL."""
import io
import json
import os
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from common.db import make_engine
from common.identity import upgrade_legacy_id
from common.protect import BlindIndex, mask_cert_no, mask_phone
from common.protect.runtime import Protection, protection
from services.residents import cli, export, feed, roster
from services.residents.models import Base
from services.residents.store import RosterStore
from services.residents.subscription import MeteredIntake
from tests.databases import schema_engine
from tests.unit.test_residents_projection import T0, LogBuilder, id_number

LEGACY = "350503900101123"  # a 15-digit ID number; the register keeps its 18-digit upgrade
UPGRADED = upgrade_legacy_id(LEGACY)
PHONES = ("13912345678", "0595-22876543", "13698765432")
HUKOU = "福建省泉州市鲤城区开元街道中山路一百二十三号"
ADDRESS = "泉州市丰泽区东海街道滨海社区五十六号"
NEW_ADDRESS = "泉州市洛江区万安街道塘西社区七十八号"


def persons_log():
    log = LogBuilder()
    log.enrol(1, id_number(41), "陈一", phone=PHONES[0], hukou_address=HUKOU, address=ADDRESS)
    log.enrol(1, UPGRADED, "陈二", phone=PHONES[1])
    log.enrol(2, id_number(42), "陈三", phone=PHONES[2])
    log.change(1, id_number(41), address=NEW_ADDRESS, phone="13512340000")
    log.suspend(1, UPGRADED, remark="外出务工")
    return log


SECRETS = (id_number(41), UPGRADED, LEGACY, id_number(42), *PHONES, "13512340000", HUKOU, ADDRESS, NEW_ADDRESS,
           "中山路", "滨海社区", "塘西社区")


def raw_text(engine):
    """Every value of every row of the residents tables, as text."""
    out = []
    with engine.connect() as conn:
        for table in ("residents", "resident_history", "residents_checkpoint"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                out.extend(str(v) for v in row)
    return "\n".join(out)


@pytest.fixture
def engine(db_url):
    with schema_engine(db_url, Base.metadata) as engine:
        yield engine


@pytest.fixture
def store(engine):
    with Session(engine) as session:
        store = RosterStore(session)
        feed.apply_in_order(store, persons_log().events, T0)
        yield store


def test_the_tables_hold_no_personal_field_in_clear(engine, store):
    dump = raw_text(engine)
    assert "v1:" in dump  # tokens
    for value in SECRETS:
        assert value not in dump, value
    with engine.connect() as conn:
        columns = set(conn.execute(text("SELECT * FROM residents")).keys())
        history_columns = set(conn.execute(text("SELECT * FROM resident_history")).keys())
    assert not {"cert_no", "phone", "hukou_address", "address"} & columns
    assert {"cert_no_bidx", "cert_no_enc", "phone_enc", "hukou_address_enc", "address_enc"} <= columns
    assert "cert_no" not in history_columns and "cert_no_bidx" in history_columns


def test_search_by_cert_no_is_exact_through_the_blind_index(store):
    def found(cert_no, **filters):
        return [item["name"] for item in roster.roster(store, 1, {"cert_no": cert_no, **filters}, 1, 20)["items"]]

    assert found(id_number(41)) == ["陈一"]
    assert found(" " + id_number(41).lower().replace("x", "X") + " ") == ["陈一"]
    assert found(id_number(41), cert_type="01") == ["陈一"]
    assert found(id_number(41)[:-1]) == []  # no partial match
    assert found(id_number(42)) == []  # another unit's person
    # The 15-digit number finds the 18-digit upgrade the register keeps, typed or not.
    assert found(LEGACY) == ["陈二"]
    assert found(LEGACY, cert_type="01") == ["陈二"]
    assert found(UPGRADED) == ["陈二"]
    assert found(id_number(41), cert_type="02") == []


def test_lists_are_masked_and_details_show_full_values(store):
    items = {i["name"]: i for i in roster.roster(store, 1, {}, 1, 20)["items"]}
    assert items["陈一"]["cert_no"] == mask_cert_no(id_number(41))
    assert items["陈一"]["phone"] == mask_phone("13512340000")
    assert items["陈二"]["phone"] == mask_phone(PHONES[1])
    assert not any(value in repr(items) for value in SECRETS)
    person = roster.person_by_id(store, 1, items["陈一"]["person_id"])
    assert (person["cert_no"], person["phone"], person["hukou_address"], person["address"]) == (
        id_number(41), "13512340000", HUKOU, NEW_ADDRESS)
    change = next(h for h in person["history"] if h["kind"] == "change")
    assert change["before"] == {"address": ADDRESS, "phone": PHONES[0]}
    assert change["after"] == {"address": NEW_ADDRESS, "phone": "13512340000"}
    by_number = roster.person(store, 1, "01", LEGACY)
    assert (by_number["cert_no"], by_number["phone"], by_number["status"]) == (UPGRADED, PHONES[1], "suspended")
    suspension = next(h for h in by_number["history"] if h["kind"] == "suspension")
    assert suspension["remark"] == "外出务工"
    # The lookup of the form: this unit's person in full, another unit's masked.
    here = roster.lookup(store, 1, "01", id_number(41), "陈一", T0.date())["person"]
    assert (here["cert_no"], here["address"]) == (id_number(41), NEW_ADDRESS)
    elsewhere = roster.lookup(store, 1, "01", id_number(42), "陈三", T0.date())["person"]
    assert elsewhere["cert_no"] == mask_cert_no(id_number(42)) and "phone" not in elsewhere


def test_the_export_has_full_values(store):
    buffer = io.BytesIO()
    rows = store.roster_stream(1, **roster.filters_of({}, store))
    assert export.write_roster(rows, buffer) == 2
    sheet = load_workbook(io.BytesIO(buffer.getvalue())).active
    lines = {row[2]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert lines["陈一"][1] == id_number(41)
    assert lines["陈一"][7:10] == ("13512340000", HUKOU, NEW_ADDRESS)
    assert (lines["陈二"][1], lines["陈二"][7]) == (UPGRADED, PHONES[1])


def test_a_list_decrypts_only_what_it_shows(store):
    opened = []
    real = store.opened

    def counting(row, fields=("cert_no", "phone", "hukou_address", "address")):
        opened.append(tuple(fields))
        return real(row, fields)

    store.opened = counting
    roster.roster(store, 1, {}, 1, 20)
    assert opened == [("cert_no", "phone")] * 2


def test_another_index_key_empties_the_roster_and_rebuilds_it_from_the_log(engine, store):
    log = persons_log()
    old_id = store.opened(store.person("01", id_number(41))).person_id
    new_key = Protection(protection(engine).fields, BlindIndex("i-next", os.urandom(32)))
    with Session(engine) as session:
        moved = RosterStore(session, protected=new_key)
        assert moved.index_key_id() == protection(engine).index.key_id
        intake = MeteredIntake()
        intake.applied = 5
        assert intake.catch_up(moved, log.events_after, T0) == len(log.events)
        assert moved.index_key_id() == "i-next" and moved.checkpoint() == len(log.events)
        assert not intake.rebuilding and intake.applied == len(log.events)
        # Found under the new key, with a new person id; nothing under the old one is left.
        items = roster.roster(moved, 1, {"cert_no": id_number(41)}, 1, 20)["items"]
        assert [i["name"] for i in items] == ["陈一"] and items[0]["person_id"] != old_id
        assert roster.roster(moved, 1, {}, 1, 20)["total"] == 2
        assert [h["kind"] for h in roster.person(moved, 1, "01", LEGACY)["history"]] == [
            "suspension", "new_enrolment"]
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM residents")).scalar() == 3
            assert conn.execute(text("SELECT count(*) FROM resident_history")).scalar() == len(log.events)
        # The same key again: nothing is emptied.
        again = MeteredIntake()
        assert again.catch_up(moved, log.events_after, T0) == 0 and moved.checkpoint() == len(log.events)


def test_an_apply_under_another_index_key_starts_again_from_the_first_event(engine, store):
    log = persons_log()
    log.enrol(3, id_number(43), "陈四")
    new_key = Protection(protection(engine).fields, BlindIndex("i-next", os.urandom(32)))
    with Session(engine) as session:
        moved = RosterStore(session, protected=new_key)
        assert feed.receive(moved, log.events[-1], log.events_after, T0) == len(log.events)
        assert roster.roster(moved, 1, {"cert_no": id_number(41)}, 1, 20)["total"] == 1


PREVIOUS_HEAD = "2c7e0f4a6b81"


def test_the_migration_encrypts_an_existing_roster_that_stays_searchable(db_url):
    from deploy import migrate

    migrate.upgrade("residents", db_url, PREVIOUS_HEAD)
    engine = make_engine(db_url)
    at = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    index = protection_index()
    with engine.begin() as conn:
        for n, (cert, unit, name, phone) in enumerate(((id_number(41), 1, "陈一", PHONES[0]),
                                                         (UPGRADED, 1, "陈二", PHONES[1]),
                                                         (id_number(42), 2, "陈三", PHONES[2])), start=1):
            conn.execute(text(
                "INSERT INTO residents (cert_type, cert_no, unit_id, name, gender, birth_date, nation, category,"
                " phone, hukou_address, address, remark, status, since, status_position, suspension_reason,"
                " updated_position, person_id) VALUES ('01', :c, :u, :name, '1', :born, '01', '11', :phone,"
                " :hukou, :address, NULL, 'active', :at, :n, NULL, :n, :pid)"),
                {"c": cert, "u": unit, "name": name, "born": datetime(1990, 1, 1).date(), "phone": phone,
                 "hukou": HUKOU if n == 1 else None, "address": ADDRESS, "at": at, "n": n,
                 "pid": index.person_id("01", cert)})
            conn.execute(text(
                "INSERT INTO resident_history (position, unit_id, cert_type, cert_no, kind, event_type, event_id,"
                " occurred_at, detail, projected_at) VALUES (:n, :u, '01', :c, 'new_enrolment', 'enrolled', 'e',"
                " :at, '{}', :at)"), {"n": n, "u": unit, "c": cert, "at": at})
        conn.execute(text(
            "INSERT INTO resident_history (position, unit_id, cert_type, cert_no, kind, event_type, event_id,"
            " occurred_at, detail, projected_at) VALUES (4, 1, '01', :c, 'change', 'info_changed', 'e4', :at,"
            " :detail, :at)"),
            {"c": id_number(41), "at": at,
             "detail": json.dumps({"before": {"address": ADDRESS}, "after": {"address": NEW_ADDRESS}})})
        conn.execute(text("INSERT INTO residents_checkpoint (name, position, updated_at) "
                          "VALUES ('declarations', 4, :at)"), {"at": at})
    migrate.upgrade("residents", db_url)
    try:
        assert migrate.current("residents", db_url) == "4e9a2b6c8d13"
        assert migrate.differences("residents", db_url) == []
        dump = raw_text(engine)
        for value in SECRETS:
            assert value not in dump, value
        with Session(engine) as session:
            store = RosterStore(session)
            assert store.index_key_id() == store.index.key_id
            assert store.checkpoint() == 4
            items = roster.roster(store, 1, {"cert_no": LEGACY}, 1, 20)["items"]
            assert [i["name"] for i in items] == ["陈二"]
            assert items[0]["phone"] == mask_phone(PHONES[1])
            person = roster.person(store, 1, "01", id_number(41))
            assert (person["cert_no"], person["phone"], person["hukou_address"], person["address"]) == (
                id_number(41), PHONES[0], HUKOU, ADDRESS)
            assert person["person_id"] == index.person_id("01", id_number(41))
            change = person["history"][0]
            assert (change["kind"], change["after"]) == ("change", {"address": NEW_ADDRESS})
            # The projection goes on from the migrated rows: a change is applied onto them.
            log = LogBuilder()
            log.position = 4
            log.state[id_number(42)] = ("active", 2, {"name": "陈三"})
            log.change(2, id_number(42), phone="13700001111")
            assert feed.apply_in_order(store, log.events, T0) == (1, 5)
            assert roster.person(store, 2, "01", id_number(42))["phone"] == "13700001111"
            assert roster.roster(store, 2, {}, 1, 20)["total"] == 1
    finally:
        engine.dispose()


def protection_index():
    from common.protect import process_index

    return process_index()


def test_the_cli_rotates_and_lists_the_master_keys_of_the_roster_database(engine, store):
    url = engine.url.render_as_string(hide_password=False)
    lines = []
    assert cli.main(["protect-keys", "--database-url", url], out=lines.append) == 0
    ring_key = protection(engine).fields.ring.active_id
    assert lines == [f"master keys in use: {ring_key}"]
    lines.clear()
    assert cli.main(["protect-rotate", "--database-url", url], out=lines.append) == 0
    assert lines[0] == f"active master key: {ring_key}"
    assert lines[1].startswith("data keys re-wrapped: 0") and lines[2] == "data keys already under it: 1"


def test_the_migration_goes_back_to_plaintext_columns(db_url):
    from alembic import command

    from deploy import migrate

    migrate.upgrade("residents", db_url)
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            feed.apply_in_order(RosterStore(session), persons_log().events, T0)
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config("residents", conn), PREVIOUS_HEAD)
        with engine.connect() as conn:
            rows = {r.cert_no: (r.phone, r.address) for r in conn.execute(
                text("SELECT cert_no, phone, address FROM residents"))}
            detail = conn.execute(text("SELECT detail FROM resident_history WHERE position = 4")).scalar()
        assert rows[id_number(41)] == ("13512340000", NEW_ADDRESS) and rows[UPGRADED][0] == PHONES[1]
        detail = json.loads(detail) if isinstance(detail, str) else detail
        assert detail["after"] == {"address": NEW_ADDRESS, "phone": "13512340000"}
        migrate.upgrade("residents", db_url)
        assert migrate.differences("residents", db_url) == []
    finally:
        engine.dispose()


def test_a_number_of_thirty_chinese_characters_fits_its_token_column(engine):
    """identity.MAX_LENGTH characters, each 3 bytes in UTF-8: the longest token
    of a 证件号码 (PostgreSQL refuses a value too long for its column)."""
    number = "南" * 30
    log = LogBuilder()
    event = log.enrol(1, number, "林五")
    for part in (event["person"], event["data"]):
        part["cert_type"] = "99"
    with Session(engine) as session:
        store = RosterStore(session)
        assert feed.apply_in_order(store, log.events, T0) == (1, 1)
        assert roster.person(store, 1, "99", number)["cert_no"] == number
