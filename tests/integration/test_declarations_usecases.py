"""Declaring, figures, records, idempotency and replay over a real store,
on SQLite and PostgreSQL, with the clock passed in."""
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from common.errors import Conflict, InvalidInput, NotFound
from common.identity import check_character
from services.declarations import cli, declaring, queries, rebuild
from services.declarations.models import Base
from services.declarations.store import DeclarationsStore
from tests.databases import schema_engine

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)
U = {"id": 1, "name": "东海社区居民委员会", "credit_code": "91350503MA2Y8K3Q0A"}
V = {"id": 2, "name": "西湖社区居民委员会", "credit_code": "91350503MA2Y8K3Q0B"}
ACTOR = {"account": "donghai", "request_id": "req-1", "address": "10.0.0.1"}


def cert_no(i, born="19900101"):
    first = f"350503{born}{i:03d}"
    return first + check_character(first)


def person(i=1, **extra):
    return {"cert_type": "01", "cert_no": cert_no(i), "name": "张三", "category": "11",
            "phone": "13800138000", **extra}


def suspension(i=1, reason="02", **extra):
    return {"cert_type": "01", "cert_no": cert_no(i), "name": "张三", "reason": reason, **extra}


@pytest.fixture
def engine(db_url):
    with schema_engine(db_url, Base.metadata) as engine:
        yield engine


@pytest.fixture
def store(engine):
    with Session(engine) as session:
        yield DeclarationsStore(session)


def enrol(store, unit=U, data=None, now=NOW, key=None, actor=ACTOR):
    return declaring.declare(store, "enrol", unit, actor, data or person(), now, TZ, key)


def suspend(store, unit=U, data=None, now=NOW, key=None):
    return declaring.declare(store, "suspend", unit, ACTOR, data or suspension(), now, TZ, key)


def change(store, unit=U, changes=None, now=NOW, i=1, name="张三"):
    return declaring.declare(store, "change", unit, ACTOR,
                             {"cert_type": "01", "cert_no": cert_no(i), "name": name,
                              "changes": changes or {"phone": "13900139000"}}, now, TZ)


def summary(store, unit=U, now=NOW):
    return queries.unit_summary(store, unit["id"], now, TZ)


def event_count(store):
    return store.last_position()


# declaring and the unit's figures ----------------------------------------------------

def test_a_new_enrolment_answers_the_record_and_counts_for_the_unit(store):
    answer = enrol(store)
    assert answer["business_type"] == "enrolment" and answer["action"] == "new_enrolment"
    assert answer["declared_at"] == "2026-11-27T10:00:00+08:00"
    assert summary(store) == {"insured_count": 1, "month": "2026-11",
                              "month_increase": 1, "month_decrease": 0}


def test_a_transfer_moves_the_person_and_the_old_unit_loses_them(store):
    enrol(store, V)
    answer = enrol(store, U)
    assert answer["action"] == "transfer_in"
    assert summary(store, U)["insured_count"] == 1
    assert summary(store, V) == {"insured_count": 0, "month": "2026-11",
                                 "month_increase": 1, "month_decrease": 1}


def test_a_transfer_from_a_suspension_elsewhere_is_no_decrease_there(store):
    enrol(store, V)
    suspend(store, V)
    assert enrol(store, U)["action"] == "transfer_in"
    assert summary(store, V)["month_decrease"] == 1  # the suspension only


def test_enrolling_a_person_suspended_here_resumes(store):
    enrol(store)
    suspend(store)
    assert enrol(store)["action"] == "resume"
    assert summary(store) == {"insured_count": 1, "month": "2026-11",
                              "month_increase": 2, "month_decrease": 1}


@pytest.mark.parametrize("steps, command, message", [
    (["enrol"], "enrol", "该人员已在本单位正常参保"),
    ([], "suspend", "该人员未在本单位参保"),
    (["enrol", "suspend"], "suspend", "该人员已暂停参保"),
    (["enrol_v"], "suspend", "该人员未在本单位参保"),
    ([], "change", "该人员不属于本单位"),
    (["enrol_v"], "change", "该人员不属于本单位"),
])
def test_refusals_of_the_state_table_are_conflicts_and_append_nothing(store, steps, command, message):
    for step in steps:
        {"enrol": lambda: enrol(store), "suspend": lambda: suspend(store),
         "enrol_v": lambda: enrol(store, V)}[step]()
    before = event_count(store)
    with pytest.raises(Conflict) as exc:
        {"enrol": enrol, "suspend": suspend, "change": change}[command](store)
    assert exc.value.message == message
    assert event_count(store) == before


def test_invalid_fields_are_refused_per_field_in_chinese(store):
    with pytest.raises(InvalidInput) as exc:
        enrol(store, data=person(cert_no="350503199001011235", phone="123", category=""))
    details = exc.value.details
    assert details["cert_no"] == ["身份证号码校验位不正确，请核对"]
    assert "phone" in details and "category" in details
    assert event_count(store) == 0


def test_the_data_are_stored_normalised(store):
    raw = person(cert_no=" " + cert_no(1)[:-1] + "", name=" 张三 ", phone="138-0013-8000",
                 category="11 成年居民", nation="汉族")
    raw["cert_no"] = raw["cert_no"] + cert_no(1)[-1]
    enrol(store, data=raw)
    state = queries.person_state(store, "01", cert_no(1))
    assert state["person"]["name"] == "张三" and state["person"]["phone"] == "13800138000"
    assert state["person"]["category"] == "11" and state["person"]["nation"] == "01"
    assert state["person"]["birth_date"] == "1990-01-01" and state["person"]["gender"] == "1"


def test_a_change_answers_before_and_after_and_updates_the_person(store):
    enrol(store)
    answer = change(store, changes={"phone": "13900139000", "address": "丰泽区东海街道1号"})
    assert answer["before"] == {"phone": "13800138000", "address": None}
    assert answer["after"] == {"phone": "13900139000", "address": "丰泽区东海街道1号"}
    assert queries.person_state(store, "01", cert_no(1))["person"]["phone"] == "13900139000"


def test_a_change_of_a_non_id_card_person_checks_the_category_against_the_stored_birth_date(store):
    data = {"cert_type": "08", "cert_no": "E12345678", "name": "JOHN SMITH", "gender": "1",
            "birth_date": "1990-05-01", "category": "11", "phone": "13800138000"}
    enrol(store, data=data)
    with pytest.raises(InvalidInput) as exc:
        declaring.declare(store, "change", U, ACTOR, {"cert_type": "08", "cert_no": "E12345678",
                          "name": "JOHN SMITH", "changes": {"category": "13"}}, NOW, TZ)
    assert "changes.category" in exc.value.details


# idempotency ----------------------------------------------------------------------

def test_a_retried_request_returns_the_first_answer_and_appends_nothing(store):
    first = enrol(store, key="key-1")
    again = enrol(store, key="key-1", now=NOW + timedelta(seconds=5))
    assert again == first
    assert event_count(store) == 1


def test_the_same_key_of_another_account_is_another_request(store):
    enrol(store, key="key-1")
    other = {"account": "xihu"}
    assert enrol(store, V, key="key-1", actor=other)["action"] == "transfer_in"
    assert event_count(store) == 2


def test_a_key_reused_for_another_declaration_is_refused(store):
    enrol(store, key="key-1")
    with pytest.raises(Conflict) as exc:
        enrol(store, data=person(2), key="key-1")
    assert "Idempotency-Key" in exc.value.details
    assert event_count(store) == 1


def test_a_refused_request_is_not_remembered_under_its_key(store):
    with pytest.raises(Conflict):
        suspend(store, key="key-2")
    enrol(store)
    assert suspend(store, key="key-2")["action"] == "suspend"


# months and stats -------------------------------------------------------------------

def test_months_are_calendar_months_in_shanghai(store):
    # 2026-10-31 16:30 UTC is 1 November 00:30 in Shanghai.
    enrol(store, now=datetime(2026, 10, 31, 16, 30, tzinfo=timezone.utc))
    assert summary(store, now=NOW)["month_increase"] == 1


def test_stats_walk_insured_end_forward_oldest_first(store):
    def at(month, day=10):
        return datetime(2026, month, day, 4, 0, tzinfo=timezone.utc)

    enrol(store, data=person(1), now=at(6))       # before the window
    enrol(store, data=person(2), now=at(9))
    enrol(store, data=person(3), now=at(9))
    suspend(store, data=suspension(2), now=at(10))
    enrol(store, V, data=person(3), now=at(11))   # transferred away
    stats = queries.unit_stats(store, U["id"], 4, NOW, TZ)
    assert stats == [
        {"month": "2026-08", "increase": 0, "decrease": 0, "insured_end": 1},
        {"month": "2026-09", "increase": 2, "decrease": 0, "insured_end": 3},
        {"month": "2026-10", "increase": 0, "decrease": 1, "insured_end": 2},
        {"month": "2026-11", "increase": 0, "decrease": 1, "insured_end": 1},
    ]
    assert stats[-1]["insured_end"] == summary(store)["insured_count"]


def test_stats_cross_the_year(store):
    months = queries.unit_stats(store, U["id"], 13, NOW, TZ)
    assert [m["month"] for m in months][:2] == ["2025-11", "2025-12"] and months[-1]["month"] == "2026-11"


def test_stats_refuse_an_unreasonable_number_of_months(store):
    with pytest.raises(InvalidInput):
        queries.unit_stats(store, U["id"], 0, NOW, TZ)


# records -----------------------------------------------------------------------------

def test_records_are_the_units_own_newest_first_with_paging(store):
    for i in range(1, 6):
        enrol(store, data=person(i), now=NOW + timedelta(minutes=i))
    enrol(store, V, data=person(9))
    page = queries.list_records(store, U["id"], {}, 1, 2, TZ)
    assert page["total"] == 5 and page["page"] == 1 and page["size"] == 2
    assert [r["cert_no"] for r in page["items"]] == [cert_no(5), cert_no(4)]
    last = queries.list_records(store, U["id"], {}, 3, 2, TZ)
    assert [r["cert_no"] for r in last["items"]] == [cert_no(1)]


def test_transferring_a_person_away_leaves_no_record_with_the_old_unit(store):
    enrol(store, V)
    enrol(store, U)
    assert [r["action"] for r in queries.list_records(store, V["id"], {}, 1, 20, TZ)["items"]] == ["new_enrolment"]


def test_records_filter_by_every_field_of_api_md(store):
    enrol(store, data=person(1), now=datetime(2026, 11, 1, 15, 59, tzinfo=timezone.utc))  # 11-01 23:59
    enrol(store, data={**person(2), "name": "李四"}, now=datetime(2026, 11, 1, 16, 0, tzinfo=timezone.utc))  # 11-02
    suspend(store, data=suspension(1), now=datetime(2026, 11, 3, 1, 0, tzinfo=timezone.utc))
    declaring.declare_many(store, U, ACTOR, [("enrol", person(3))], NOW, TZ, batch_no="P202611270001")

    def ids(**filters):
        return sorted(r["cert_no"][-4:] + r["business_type"][0]
                      for r in queries.list_records(store, U["id"], filters, 1, 50, TZ)["items"])

    assert ids(business_type="suspension") == [cert_no(1)[-4:] + "s"]
    assert ids(**{"from": "2026-11-02", "to": "2026-11-02"}) == [cert_no(2)[-4:] + "e"]
    assert ids(to="2026-11-01") == [cert_no(1)[-4:] + "e"]
    assert ids(name="李四") == [cert_no(2)[-4:] + "e"]
    assert ids(cert_no=cert_no(1).lower()) == sorted([cert_no(1)[-4:] + "e", cert_no(1)[-4:] + "s"])
    assert ids(batch_no="P202611270001") == [cert_no(3)[-4:] + "e"]
    assert len(ids()) == 4


def test_a_15_digit_number_finds_the_records_of_its_18_digit_form(store):
    old = "350503900101123"  # born 1990-01-01, legacy form
    enrol(store, data=person(cert_no=old))
    found = queries.list_records(store, U["id"], {"cert_no": old}, 1, 20, TZ)["items"]
    assert len(found) == 1 and len(found[0]["cert_no"]) == 18


def test_a_record_has_all_declared_data_and_a_change_its_before_and_after(store):
    enrol(store, data=person(hukou_address="泉州市丰泽区", remark="首次参保"))
    record_id = change(store)["record_id"]
    first = queries.list_records(store, U["id"], {"business_type": "enrolment"}, 1, 1, TZ)["items"][0]
    detail = queries.get_record(store, U["id"], first["record_id"], TZ)
    assert detail["data"]["hukou_address"] == "泉州市丰泽区" and detail["data"]["remark"] == "首次参保"
    assert detail["declared_by"] == "donghai"
    changed = queries.get_record(store, U["id"], record_id, TZ)
    assert changed["before"] == {"phone": "13800138000"} and changed["after"] == {"phone": "13900139000"}


def test_another_units_record_is_not_found(store):
    record_id = enrol(store, V)["record_id"]
    with pytest.raises(NotFound):
        queries.get_record(store, U["id"], record_id, TZ)


def test_a_transfer_record_does_not_name_the_unit_that_lost_the_person(store):
    enrol(store, V)
    detail = queries.get_record(store, U["id"], enrol(store, U)["record_id"], TZ)
    assert "from_unit" not in detail["data"] and V["name"] not in str(detail)


def test_record_filters_are_checked(store):
    with pytest.raises(InvalidInput):
        queries.list_records(store, U["id"], {"from": "2026-13-01"}, 1, 20, TZ)
    with pytest.raises(InvalidInput):
        queries.list_records(store, U["id"], {"business_type": "other"}, 1, 20, TZ)


# many at once (the batch import's entry point) ----------------------------------------------

def test_declare_many_decides_each_row_on_its_own_and_one_person_in_order(store):
    enrol(store, V, data=person(4))
    items = [("enrol", person(1)), ("enrol", person(1)), ("enrol", person(2, phone="1")),
             ("suspend", suspension(1)), ("enrol", person(4)), ("suspend", suspension(3))]
    outcomes = declaring.declare_many(store, U, ACTOR, items, NOW, TZ, batch_no="P1")
    assert [o["ok"] for o in outcomes] == [True, False, False, True, True, False]
    assert outcomes[1]["status"] == 409 and outcomes[1]["message"] == "该人员已在本单位正常参保"
    assert outcomes[2]["status"] == 400 and "phone" in outcomes[2]["details"]
    assert declaring.rejection_text(outcomes[2]).startswith("联系电话：")
    assert outcomes[4]["record"]["action"] == "transfer_in"
    assert summary(store) == {"insured_count": 1, "month": "2026-11",
                              "month_increase": 2, "month_decrease": 1}
    assert queries.list_records(store, U["id"], {"batch_no": "P1"}, 1, 50, TZ)["total"] == 3


def test_persons_state_answers_in_the_order_asked(store):
    enrol(store, data=person(1))
    enrol(store, V, data=person(2))
    suspend(store, V, data=suspension(2))
    states = queries.persons_state(store, [("01", cert_no(2)), ("01", cert_no(3)), ("居民身份证（户口簿）", cert_no(1))])
    assert [s and (s["status"], s["unit_id"]) for s in states] == [("suspended", 2), None, ("active", 1)]
    assert states[2]["person"]["name"] == "张三" and states[0]["since"]


# rebuild and verify -------------------------------------------------------------------------

def scenario(store):
    enrol(store, V, data=person(1))
    enrol(store, data=person(1), now=NOW + timedelta(days=40))
    enrol(store, data=person(2))
    suspend(store, data=suspension(2), now=NOW + timedelta(days=3))
    enrol(store, data=person(2), now=NOW + timedelta(days=70))
    change(store, i=2, changes={"name": "张叁"}, now=NOW + timedelta(days=71))


def test_the_live_projections_equal_a_replay(store, engine):
    scenario(store)
    count, differences = rebuild.verify(engine, TZ)
    assert count == 6 and differences == []


def test_rebuild_gives_the_same_projections_back(store, engine):
    scenario(store)
    before = queries.list_records(store, U["id"], {}, 1, 50, TZ), queries.unit_stats(store, U["id"], 6, NOW + timedelta(days=80), TZ)
    store.rollback()
    assert rebuild.rebuild(engine, TZ, chunk=4) == 6
    after = queries.list_records(store, U["id"], {}, 1, 50, TZ), queries.unit_stats(store, U["id"], 6, NOW + timedelta(days=80), TZ)
    assert after == before
    assert rebuild.verify(engine, TZ)[1] == []


def test_verify_names_every_difference(store, engine):
    scenario(store)
    store.rollback()
    with engine.begin() as conn:
        conn.execute(text("UPDATE unit_counts SET insured_count = insured_count + 1 WHERE unit_id = 1"))
        conn.execute(text("UPDATE persons SET version = version + 1"))
        conn.execute(text("DELETE FROM records WHERE action = 'resume'"))
    _, differences = rebuild.verify(engine, TZ, chunk=2)
    assert {line.split()[0] for line in differences} == {"persons", "records", "unit_counts"}
    assert any("missing" in line for line in differences if line.startswith("records"))


def test_the_cli_verifies_and_rebuilds_and_exits_non_zero_on_a_difference(store, db_url, capsys):
    scenario(store)
    store.commit()
    assert cli.main(["verify", "--database-url", db_url]) == 0
    with store.session.bind.begin() as conn:
        conn.execute(text("UPDATE unit_months SET increase = increase + 5"))
    assert cli.main(["verify", "--database-url", db_url]) == 1
    assert "unit_months" in capsys.readouterr().out
    assert cli.main(["rebuild", "--database-url", db_url]) == 0
    assert cli.main(["verify", "--database-url", db_url]) == 0


def test_today_for_validation_is_the_business_date(store):
    # 2026-11-27 17:00 UTC is already 28 November in Shanghai: a child born
    # on the 28th may be declared.
    born = "20261128"
    first = f"350503{born}001"
    data = {**person(), "cert_no": first + check_character(first), "category": "13"}
    answer = enrol(store, data=data, now=datetime(2026, 11, 27, 17, 0, tzinfo=timezone.utc))
    assert answer["action"] == "new_enrolment"
    assert date.fromisoformat(answer["declared_at"][:10]) == date(2026, 11, 28)


class _Overtaken(DeclarationsStore):
    """A store whose use case is overtaken: when it asks for the write lock
    (having read and decided), another session declares `first` and commits."""

    def __init__(self, session, engine, first):
        super().__init__(session)
        self.engine, self.first = engine, first

    def begin_write(self):
        if self.first:
            with Session(self.engine) as other:
                for unit, data in self.first:
                    declaring.declare(DeclarationsStore(other), "enrol", unit, ACTOR, data, NOW, TZ)
            self.first = None
        super().begin_write()


def test_a_declaration_overtaken_between_decision_and_append_is_409_and_appends_nothing(engine):
    with Session(engine) as session:
        store = _Overtaken(session, engine, [(V, person(1))])
        with pytest.raises(Conflict) as refused:
            enrol(store, U, person(1))
        assert refused.value.message == declaring.BUSY
        assert queries.person_state(store, "01", cert_no(1))["unit_id"] == V["id"]
        assert store.insured_count(U["id"]) == 0 and store.last_position() == 1
        # Asked again, it is decided on the new state: a transfer-in.
        assert enrol(store, U, person(1))["action"] == "transfer_in"
    assert rebuild.verify(engine, TZ)[1] == []


def test_a_batch_overtaken_on_one_person_refuses_that_row_only(engine):
    with Session(engine) as session:
        store = _Overtaken(session, engine, [(V, person(2))])
        items = [("enrol", person(i)) for i in (1, 2, 3)]
        outcomes = declaring.declare_many(store, U, ACTOR, items, NOW, TZ, batch_no="PL1")
        assert [o["ok"] for o in outcomes] == [True, False, True]
        assert (outcomes[1]["status"], outcomes[1]["message"]) == (409, declaring.BUSY)
        assert store.insured_count(U["id"]) == 2 and store.insured_count(V["id"]) == 1
        assert store.last_position() == 3
    assert rebuild.verify(engine, TZ)[1] == []


def test_a_big_declare_many_yields_to_other_green_threads_outside_the_write_transaction(store, monkeypatch):
    # A batch must not keep the service from answering pings (/readyz) for
    # seconds, yet never yield while it holds the append lock: a green
    # thread waiting for that lock would block the whole process.
    yields = []
    monkeypatch.setattr(declaring, "_cooperate",
                        lambda: yields.append(store.session.in_transaction()))
    count = 2 * declaring.CHUNK + 10
    items = [("enrol", person(cert_no=cert_no(i % 900, born=f"19{80 + i // 900}0101"))) for i in range(count)]
    outcomes = declaring.declare_many(store, U, ACTOR, items, NOW, TZ, batch_no="PL9", records=False)
    assert all(o == {"ok": True} for o in outcomes)
    assert len(yields) >= 4 and not any(yields)
    assert store.insured_count(U["id"]) == count
