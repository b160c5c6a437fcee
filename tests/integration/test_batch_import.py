"""Batch import over a real declarations store, on SQLite and PostgreSQL:
rows decided against the current state in one pass, accepted rows appended
with their batch number in one transaction, the batch recorded with its
failures, a re-submitted file doubling nothing, the failures file
re-importable, and another unit's batches invisible."""
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.errors import InvalidInput, NotFound, TooLarge, UnsupportedFile
from services.declarations import declaring, queries, rebuild
from services.declarations.batch import batches
from services.declarations.batch.reader import Limits
from services.declarations.models import Base, Batch, BatchFile, Event
from services.declarations.store import DeclarationsStore
from tests import fixtures_xlsx as fx
from tests.databases import schema_engine

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
U = {"id": 1, "name": "东海社区居民委员会", "credit_code": "91350503MA2Y8K3Q0A"}
V = {"id": 2, "name": "西湖社区居民委员会", "credit_code": "91350503MA2Y8K3Q0B"}
ACTOR = {"account": "donghai", "request_id": "req-1", "address": "10.0.0.1"}
IDS = fx.many_ids(50)


@pytest.fixture
def engine(db_url):
    with schema_engine(db_url, Base.metadata) as engine:
        yield engine


@pytest.fixture
def store(engine):
    with Session(engine) as session:
        yield DeclarationsStore(session)


def enrol_file(rows):
    return fx.filled("enrolment", rows)


def run(store, data, business_type="enrolment", unit=U, now=NOW, name="参保.xlsx", limits=Limits()):
    return batches.import_batch(store, unit, ACTOR, business_type, name, data, now, TZ, limits)


def count(store, model):
    n = store.session.scalar(select(func.count()).select_from(model))
    store.rollback()
    return n


def test_a_file_of_valid_rows_enrols_everyone_with_the_batch_number(store):
    result = run(store, enrol_file([fx.enrolment_row(i) for i in IDS[:5]]))
    assert result["total"] == 5 and result["succeeded"] == 5 and result["failed"] == 0
    assert result["batch_no"] == "PL20261127-000001" and result["failures"] == []
    assert result["submitted_at"].endswith("+08:00") and result["file_name"] == "参保.xlsx"
    records = queries.list_records(store, U["id"], {"batch_no": result["batch_no"]}, 1, 20, TZ)
    assert records["total"] == 5 and {r["batch_no"] for r in records["items"]} == {result["batch_no"]}
    events = store.events_after(0, 100)
    assert len(events) == 5 and {e["metadata"]["batch_no"] for e in events} == {result["batch_no"]}
    assert queries.unit_summary(store, U["id"], NOW, TZ)["insured_count"] == 5


def test_each_row_is_judged_on_its_own_with_row_number_and_reason(store):
    declaring.declare_many(store, U, ACTOR, [("enrol", {"cert_type": "01", "cert_no": IDS[0], "name": "张三",
                                                        "category": "11", "phone": "13800138000"})], NOW, TZ)
    rows = [
        fx.enrolment_row(IDS[0]),                      # row 2: already enrolled here
        fx.enrolment_row(IDS[1]),                      # row 3: fine
        fx.enrolment_row(IDS[2], phone="123"),         # row 4: bad phone
        fx.enrolment_row(3.50503198506150e17),         # row 5: ID turned into a number
        fx.enrolment_row(IDS[1]),                      # row 6: same person as row 3
        fx.enrolment_row(fx.id_number(7, date(1990, 1, 1)), category="12 老年居民"),  # row 7: too young
    ]
    result = run(store, enrol_file(rows))
    assert (result["total"], result["succeeded"], result["failed"]) == (6, 1, 5)
    reasons = {f["row"]: f["reason"] for f in result["failures"]}
    assert reasons[2] == "该人员已在本单位正常参保"
    assert "联系电话" in reasons[4]
    assert "Excel" in reasons[5] and "文本" in reasons[5]
    assert reasons[6] == "与第3行是同一人，同一文件中每人只能填写一次"
    assert "老年居民" in reasons[7]
    assert {f["row"]: f["cert_no"] for f in result["failures"]}[2] == IDS[0]  # masked by the gateway
    assert {f["row"]: f["cert_type"] for f in result["failures"]}[2] == "01"  # for the gateway's person_id


def test_messy_cells_of_real_files_are_tolerated(store):
    full_width = IDS[0].translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    rows = [
        fx.enrolment_row(" " + full_width + "\u3000", name=" 王 五 ", cert_type="居民身份证（户口簿）"),
        fx.enrolment_row(IDS[1], cert_type="01", nation="汉族", category="成年居民", phone=13800138000.0),
        fx.enrolment_row(IDS[2][:-1] + IDS[2][-1].lower()),
    ]
    foreign = fx.enrolment_row("E12345678", cert_type="08 外国人护照", gender="女", birth_date="1990/1/1")
    other = fx.enrolment_row("H12345678", cert_type="04", gender="1", birth_date=date(1991, 2, 3))
    compact = fx.enrolment_row("M12345678", cert_type="05", gender="男", birth_date="19920304")
    result = run(store, enrol_file(rows + [{}, foreign, other, compact]))
    assert result["failed"] == 0, result["failures"]
    assert result["succeeded"] == 6


def test_suspension_rows_are_decided_against_the_unit(store):
    run(store, enrol_file([fx.enrolment_row(i) for i in IDS[:2]]))
    run(store, enrol_file([fx.enrolment_row(IDS[2])]), unit=V)
    rows = [fx.suspension_row(IDS[0]), fx.suspension_row(IDS[2]), fx.suspension_row(IDS[3]),
            fx.suspension_row(IDS[1], reason="99")]
    result = run(store, fx.filled("suspension", rows), "suspension")
    reasons = {f["row"]: f["reason"] for f in result["failures"]}
    assert result["succeeded"] == 1
    assert reasons[3] == reasons[4] == "该人员未在本单位参保"
    assert "备注" in reasons[5]


def test_the_same_file_twice_answers_with_the_first_batch_and_appends_nothing(store):
    data = enrol_file([fx.enrolment_row(i) for i in IDS[:3]] + [fx.enrolment_row(IDS[3], phone="1")])
    first = run(store, data)
    second = run(store, data, now=NOW + timedelta(hours=1), name="again.xlsx")
    assert second["duplicate"] is True and first["duplicate"] is False
    assert {k: v for k, v in second.items() if k != "duplicate"} == {k: v for k, v in first.items() if k != "duplicate"}
    assert count(store, Event) == 3 and count(store, Batch) == 1


def test_a_changed_file_rechecks_every_row_with_already_reasons(store):
    run(store, enrol_file([fx.enrolment_row(i) for i in IDS[:3]]))
    again = run(store, enrol_file([fx.enrolment_row(i) for i in IDS[:3]]
                                  + [{"remark": None}, fx.enrolment_row(IDS[4])]))
    assert again["succeeded"] == 1 and again["failed"] == 3
    assert {f["reason"] for f in again["failures"]} == {"该人员已在本单位正常参保"}
    assert count(store, Event) == 4


def test_the_corrected_failures_file_imports_the_corrected_rows(store):
    rows = [fx.enrolment_row(IDS[0]), fx.enrolment_row(IDS[1], phone="12"),
            fx.enrolment_row(IDS[2], category="火星人"), fx.enrolment_row(IDS[3], name="=1+1")]
    first = run(store, enrol_file(rows))
    assert first["failed"] == 3
    download = batches.failures_workbook(store, U["id"], first["batch_no"])
    assert download["file_name"] == f"{first['batch_no']}失败明细.xlsx"
    import base64
    data = base64.b64decode(download["content"])
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb["城乡居民参保"]
    assert [c.value for c in ws[1]][-1] == "失败原因"
    assert ws["B2"].value == IDS[1] and ws["H2"].value == "12" and ws["L2"].value.startswith("第3行：")
    assert ws["C4"].value == "=1+1" and ws["C4"].data_type == "s"
    ws["H2"] = "13900139000"
    ws["G3"] = "11 成年居民"
    corrected = fx.save(wb)
    second = run(store, corrected, name="失败明细.xlsx")
    assert second["succeeded"] == 2 and second["failed"] == 1
    assert second["failures"][0]["row"] == 4 and "姓名" in second["failures"][0]["reason"]


@pytest.mark.parametrize("make, error", [
    (lambda: fx.csv_bytes(), UnsupportedFile),
    (lambda: fx.html_bytes(), UnsupportedFile),
    (lambda: fx.encrypted_bytes(), UnsupportedFile),
    (lambda: fx.zip_bomb(120), UnsupportedFile),
    (lambda: fx.with_mark(enrol_file([fx.enrolment_row(IDS[0])]), "enrolment-v0"), InvalidInput),
    (lambda: fx.filled("suspension", [fx.suspension_row(IDS[0])]), InvalidInput),
    (lambda: fx.filled("enrolment", []), InvalidInput),
])
def test_a_refused_file_appends_nothing_and_its_batch_fails_with_the_reason(store, make, error):
    with pytest.raises(error) as refusal:
        run(store, make())
    assert count(store, Event) == 0 and count(store, BatchFile) == 0
    # Plainly not an .xlsx: refused on receipt, no batch; anything that must
    # be read first: a failed batch that says why.
    recorded = store.session.scalars(select(Batch)).all()
    store.rollback()
    assert all((b.status, b.message, b.total) == ("failed", refusal.value.message, 0) for b in recorded)


def test_row_limit_is_configurable_and_refuses_with_413(store):
    with pytest.raises(TooLarge):
        run(store, enrol_file([fx.enrolment_row(i) for i in IDS[:4]]), limits=Limits(max_rows=3))
    assert count(store, Event) == 0
    failed = store.session.scalar(select(Batch))
    assert (failed.status, failed.error) == ("failed", "too_large")


def test_batch_numbers_count_the_days_batches(store):
    first = run(store, enrol_file([fx.enrolment_row(IDS[0])]))
    second = run(store, enrol_file([fx.enrolment_row(IDS[1])]))
    next_day = run(store, enrol_file([fx.enrolment_row(IDS[2])]), now=NOW + timedelta(days=1))
    assert [first["batch_no"], second["batch_no"], next_day["batch_no"]] == [
        "PL20261127-000001", "PL20261127-000002", "PL20261128-000001"]


def test_batch_records_filter_and_hide_other_units(store):
    a = run(store, enrol_file([fx.enrolment_row(IDS[0])]))
    run(store, enrol_file([fx.enrolment_row(IDS[1])]), now=NOW + timedelta(days=2))
    run(store, fx.filled("suspension", [fx.suspension_row(IDS[0])]), "suspension", now=NOW + timedelta(days=2))
    theirs = run(store, enrol_file([fx.enrolment_row(IDS[5])]), unit=V)
    listed = batches.list_batches(store, U["id"], TZ)
    assert listed["total"] == 3 and "failures" not in listed["items"][0]
    assert [b["business_type"] for b in listed["items"]] == ["suspension", "enrolment", "enrolment"]
    assert batches.list_batches(store, U["id"], TZ, {"business_type": "suspension"})["total"] == 1
    assert batches.list_batches(store, U["id"], TZ, {"from": "2026-11-27", "to": "2026-11-27"})["total"] == 1
    found = batches.list_batches(store, U["id"], TZ, {"batch_no": a["batch_no"][2:].lower()})
    assert found["items"][0]["batch_no"] == a["batch_no"]
    assert batches.get_batch(store, U["id"], a["batch_no"], TZ)["failures"] == []
    with pytest.raises(NotFound):
        batches.get_batch(store, U["id"], theirs["batch_no"], TZ)
    with pytest.raises(NotFound):
        batches.failures_workbook(store, U["id"], theirs["batch_no"])
    assert batches.list_batches(store, V["id"], TZ)["total"] == 1


def test_bad_filters_are_invalid_input(store):
    with pytest.raises(InvalidInput):
        batches.list_batches(store, U["id"], TZ, {"from": "27/11/2026"})
    with pytest.raises(InvalidInput):
        batches.list_batches(store, U["id"], TZ, {"business_type": "change"})


def test_the_template_download_is_the_current_template():
    import base64
    download = batches.template_workbook("suspension")
    assert download["file_name"] == "城乡居民暂停参保批量导入模板.xlsx"
    wb = openpyxl.load_workbook(io.BytesIO(base64.b64decode(download["content"])))
    assert "城乡居民暂停参保" in wb.sheetnames


def test_big_files_are_written_in_bulk_and_the_projections_equal_a_replay(store, engine):
    # Enough rows for the bulk paths (COPY on PostgreSQL): new persons
    # inserted, then persons of another unit taken over (rows updated), and
    # suspensions; every figure must equal a replay of the log.
    ids = fx.many_ids(200)
    first = run(store, fx.big("enrolment", [fx.enrolment_row(i) for i in ids[:150]]))
    assert (first["succeeded"], first["failed"]) == (150, 0)
    second = run(store, fx.big("enrolment", [fx.enrolment_row(i) for i in ids[100:200]]), unit=V,
                 now=NOW + timedelta(minutes=1))
    assert (second["succeeded"], second["failed"]) == (100, 0)
    third = run(store, fx.big("suspension", [fx.suspension_row(i) for i in ids[:60]]),
                business_type="suspension", now=NOW + timedelta(minutes=2))
    assert (third["succeeded"], third["failed"]) == (60, 0)
    assert queries.unit_summary(store, U["id"], NOW, TZ)["insured_count"] == 150 - 50 - 60
    assert queries.unit_summary(store, V["id"], NOW, TZ)["insured_count"] == 100
    events = store.events_after(0, 1000)
    assert [e["position"] for e in events] == list(range(1, 311))
    transfer = next(e for e in events if e["data"]["action"] == "transfer_in")
    assert transfer["data"]["from_unit"]["id"] == U["id"] and transfer["metadata"]["unit"]["id"] == V["id"]
    assert transfer["metadata"]["batch_no"] == second["batch_no"] and transfer["data"]["name"] == "张三"
    assert len({e["event_id"] for e in events}) == 310
    store.rollback()
    assert rebuild.verify(engine, TZ)[1] == []
