"""A unit's roster, one person, and the lookup of the enrolment form, over a
real store filled from a declaration log."""
import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from common.errors import InvalidInput, NotFound
from common.protect import process_index
from services.residents import export, feed, roster
from tests.unit.test_residents_projection import T0, LogBuilder, id_number, store  # noqa: F401

TODAY = date(2026, 11, 27)


@pytest.fixture
def filled(store):  # noqa: F811
    log = LogBuilder()
    log.enrol(1, id_number(1), "张三")
    log.enrol(1, id_number(2), "李四")
    log.enrol(1, id_number(3), "王五", phone="0595-22345678")
    log.suspend(1, id_number(2))
    log.enrol(2, id_number(4), "赵六")          # another unit's resident
    log.enrol(2, id_number(5), "孙七")
    log.suspend(2, id_number(5))
    log.enrol(1, id_number(6), "周八")
    log.enrol(2, id_number(6), "周八")          # transferred away from unit 1
    feed.apply_in_order(store, log.events, T0)
    return store


def names(page):
    return [item["name"] for item in page["items"]]


def test_roster_lists_only_the_units_own_residents_newest_first(filled):
    page = roster.roster(filled, 1, {}, 1, 20)
    # 李四's suspension is the newest change of status in unit 1.
    assert names(page) == ["李四", "王五", "张三"]
    assert page["total"] == 3 and page["page"] == 1 and page["size"] == 20
    item = page["items"][0]
    assert item["status"] == "suspended" and item["status_label"] == "暂停参保"
    assert item["since"].endswith("+08:00")
    assert set(item) >= {"person_id", "cert_type", "cert_no", "name", "gender", "nation",
                         "phone", "category", "status", "since"}


def test_roster_lines_are_masked_with_a_person_id_and_no_birth_date(filled):
    """A list shows 证件号码 and 联系电话 masked and gives the person's opaque id;
    no birth date, which would give back the 8 characters the mask hides."""
    items = {item["name"]: item for item in roster.roster(filled, 1, {}, 1, 20)["items"]}
    wang = items["王五"]
    assert wang["cert_no"] == id_number(3)[:6] + "********" + id_number(3)[-4:]
    assert wang["phone"] == "059******5678"
    assert items["张三"]["phone"] == "138****8000"
    assert wang["person_id"] == process_index().person_id("01", id_number(3))
    assert "birth_date" not in wang
    text = repr(items)
    for full in (id_number(1), id_number(2), id_number(3), "13800138000", "0595-22345678", "1990-01-01"):
        assert full not in text


def test_roster_pages(filled):
    assert names(roster.roster(filled, 1, {}, 2, 2)) == ["张三"]
    assert roster.roster(filled, 1, {}, 2, 2)["total"] == 3


def test_exact_search_by_cert_no_normalises_what_was_typed(filled):
    typed = "  " + id_number(3)[:6] + " " + id_number(3)[6:] + "\u200b "
    assert names(roster.roster(filled, 1, {"cert_no": typed}, 1, 20)) == ["王五"]
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in id_number(1))
    assert names(roster.roster(filled, 1, {"cert_no": full_width}, 1, 20)) == ["张三"]
    assert roster.roster(filled, 1, {"cert_no": id_number(1)[:-2]}, 1, 20)["total"] == 0


def test_search_by_cert_no_never_finds_another_units_resident(filled):
    assert roster.roster(filled, 1, {"cert_no": id_number(4)}, 1, 20)["total"] == 0
    assert roster.roster(filled, 1, {"cert_no": id_number(6)}, 1, 20)["total"] == 0


def test_exact_search_by_name_and_status_filter(filled):
    assert names(roster.roster(filled, 1, {"name": " 张三 "}, 1, 20)) == ["张三"]
    assert roster.roster(filled, 1, {"name": "张"}, 1, 20)["total"] == 0
    assert names(roster.roster(filled, 1, {"status": "active"}, 1, 20)) == ["王五", "张三"]
    assert names(roster.roster(filled, 1, {"status": "暂停参保"}, 1, 20)) == ["李四"]
    with pytest.raises(InvalidInput):
        roster.roster(filled, 1, {"status": "gone"}, 1, 20)


def test_person_shows_data_and_this_units_history(filled):
    person = roster.person(filled, 1, "01", id_number(2))
    assert person["name"] == "李四" and person["status"] == "suspended"
    assert person["labels"]["status"] == "暂停参保"
    assert [h["kind"] for h in person["history"]] == ["suspension", "new_enrolment"]
    assert person["history"][0]["reason"] == "02"


def test_person_of_another_unit_is_not_found(filled):
    with pytest.raises(NotFound):
        roster.person(filled, 1, "01", id_number(4))
    with pytest.raises(NotFound):
        roster.person(filled, 1, "01", id_number(6))  # transferred away


def test_a_person_id_from_the_list_opens_the_person_with_full_values(filled):
    item = roster.roster(filled, 1, {"cert_no": id_number(3)}, 1, 20)["items"][0]
    person = roster.person_by_id(filled, 1, item["person_id"])
    assert person == roster.person(filled, 1, "01", id_number(3))
    assert (person["cert_no"], person["phone"]) == (id_number(3), "0595-22345678")
    assert person["person_id"] == item["person_id"] and person["history"]


@pytest.mark.parametrize("person_id", [
    lambda: process_index().person_id("01", id_number(4)),  # another unit's resident
    lambda: process_index().person_id("01", id_number(6)),  # transferred away from unit 1
    lambda: process_index().person_id("01", id_number(99)),  # nobody
    lambda: process_index().person_id("01", id_number(1))[:-1],  # not an id
    lambda: id_number(1),  # a certificate number is not an id
    lambda: "",
])
def test_a_person_id_opens_only_a_person_of_the_unit(filled, person_id):
    with pytest.raises(NotFound):
        roster.person_by_id(filled, 1, person_id())


def test_person_ids_are_stable_and_differ_per_person_and_type(filled):
    ids = {item["person_id"] for item in roster.roster(filled, 1, {}, 1, 20)["items"]}
    assert len(ids) == 3
    assert ids == {item["person_id"] for item in roster.roster(filled, 1, {}, 1, 20)["items"]}
    assert process_index().person_id("99", id_number(1)) != process_index().person_id("01", id_number(1))


@pytest.mark.parametrize("serial, unit, status, action", [
    (99, 1, "none", "new_enrolment"),
    (1, 1, "active_here", None),
    (2, 1, "suspended_here", "resume"),
    (4, 1, "active_elsewhere", "transfer_in"),
    (5, 1, "suspended_elsewhere", "transfer_in"),
    (6, 2, "active_here", None),
    (6, 1, "active_elsewhere", "transfer_in"),
])
def test_lookup_tells_the_form_what_enrolment_would_be(filled, serial, unit, status, action):
    answer = roster.lookup(filled, unit, "01", id_number(serial), None, TODAY)
    assert (answer["status"], answer["action"]) == (status, action)
    assert answer["person"] is None and answer["message"]


def test_lookup_refuses_an_active_person_of_this_unit_with_the_reason(filled):
    answer = roster.lookup(filled, 1, "01", id_number(1), "张三", TODAY)
    assert answer["action"] is None and answer["message"] == "该人员已在本单位正常参保"
    assert answer["person"]["phone"] == "13800138000" and answer["person"]["cert_no"] == id_number(1)
    assert answer["person"]["person_id"] == process_index().person_id("01", id_number(1))


def test_lookup_shows_a_person_elsewhere_only_with_the_right_name_and_no_contact_data(filled):
    wrong = roster.lookup(filled, 1, "01", id_number(4), "赵七", TODAY)
    assert wrong["person"] is None and wrong["name_matches"] is False
    assert "姓名" in wrong["message"]
    right = roster.lookup(filled, 1, "01", id_number(4), "赵六", TODAY)
    assert right["name_matches"] is True
    assert right["person"] == {"person_id": process_index().person_id("01", id_number(4)), "cert_type": "01",
                               "cert_no": id_number(4)[:6] + "********" + id_number(4)[-4:], "name": "赵六",
                               "gender": "1", "birth_date": "1990-01-01", "nation": "01"}
    text = repr(right)
    for secret in ("丰泽社区", "13800138000", "泉州市丰泽区", "unit", id_number(4)):
        assert secret not in text


def test_lookup_of_a_new_person_offers_what_the_id_number_says(filled):
    answer = roster.lookup(filled, 1, "01", id_number(77), "新人", TODAY)
    assert answer["derived"] == {"gender": "1" if int(id_number(77)[16]) % 2 else "2",
                                 "birth_date": "1990-01-01"}


def test_lookup_of_an_invalid_number_says_why(filled):
    with pytest.raises(InvalidInput) as error:
        roster.lookup(filled, 1, "01", id_number(1)[:-1] + "0", None, TODAY)
    assert "校验位" in error.value.details["cert_no"][0]
    with pytest.raises(InvalidInput):
        roster.lookup(filled, 1, "AA", "123", None, TODAY)


def test_lookup_accepts_a_15_digit_legacy_number(store):  # noqa: F811
    log = LogBuilder()
    legacy = "350503900101123"
    from common.identity import upgrade_legacy_id
    log.enrol(1, upgrade_legacy_id(legacy), "老号")
    feed.apply_in_order(store, log.events, T0)
    assert roster.lookup(store, 1, "01", legacy, "老号", TODAY)["status"] == "active_here"
    assert roster.roster(store, 1, {"cert_no": legacy}, 1, 20)["total"] == 1


def test_export_writes_chinese_headers_text_ids_and_the_filtered_rows(filled):
    buffer = io.BytesIO()
    rows = filled.roster_stream(1, **roster.filters_of({"status": "active"}, filled))
    assert export.write_roster(rows, buffer) == 2
    sheet = load_workbook(io.BytesIO(buffer.getvalue())).active
    values = list(sheet.values)
    assert values[0][:3] == ("证件类型", "证件号码", "姓名")
    assert [r[2] for r in values[1:]] == ["王五", "张三"]
    assert values[1][1] == id_number(3) and isinstance(values[1][1], str)
    assert sheet.cell(row=2, column=2).number_format == "@"
    assert values[1][0] == "居民身份证（户口簿）" and values[1][10] == "正常参保"
    assert values[1][7] == "0595-22345678"


def test_roster_total_is_reused_only_while_the_checkpoint_stays(filled):
    from services.residents import store as store_module

    assert roster.roster(filled, 1, {}, 1, 20)["total"] == 3
    engine = filled.session.get_bind()
    counts = store_module._COUNTS[getattr(engine, "engine", engine)]
    (key, (position, total)), = [(k, v) for k, v in counts.items() if k[0] == 1 and not k[1]]
    assert total == 3
    counts[key] = (position, 999)  # a total filed under the current checkpoint is served as is
    assert roster.roster(filled, 1, {}, 1, 20)["total"] == 999
    log = LogBuilder(start=T0 + timedelta(days=1))
    log.position = position
    log.enrol(1, id_number(7), "吴九")
    feed.apply_in_order(filled, log.events, T0)
    assert roster.roster(filled, 1, {}, 1, 20)["total"] == 4  # the checkpoint moved: counted again
