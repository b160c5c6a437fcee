"""The operator's unit use cases (services/auth/units.py) over a real SQLite
store: divisions, changes and their history, disabling, units in bulk."""
import io
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from common import sheets
from common.credit_code import check_character
from common.db import make_engine
from common.errors import AccountDisabled, Conflict, InvalidInput, NotFound
from services.auth import units
from services.auth.models import Account, Base, Session as SessionRow
from services.auth.store import AuthStore

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def credit_code(region="350503", serial=1):
    first17 = f"91{region}{serial:09d}"
    return first17 + check_character(first17)


@pytest.fixture
def store(sqlite_url):
    engine = make_engine(sqlite_url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield AuthStore(session)
    engine.dispose()


def new(store, serial=1, **values):
    values = {"name": "泉州市丰泽区东海社区居民委员会", "account": f"unit{serial:03d}",
              "credit_code": credit_code(serial=serial), "division": "350503", "street": "东海街道",
              "contact": "张三", "phone": "13800000000", **values}
    return units.create(store, values, "admin", T0)


def test_a_new_unit_needs_a_division_and_a_street(store):
    with pytest.raises(InvalidInput) as refused:
        new(store, division="", street="")
    assert set(refused.value.details) >= {"division", "street"}
    with pytest.raises(InvalidInput) as refused:
        new(store, division="350100")
    assert "division" in refused.value.details


def test_without_a_password_one_is_generated_and_must_be_changed(store):
    unit = new(store)
    assert unit["division_name"] == "丰泽区" and unit["street"] == "东海街道"
    password = unit["temporary_password"]
    assert len(password) == units.GENERATED_LENGTH
    with store.reading():
        row = store.session.query(Account).filter_by(account="unit001").one()
        assert row.must_change_password is True
        assert PasswordHasher().verify(row.password_hash, password)


def test_a_chosen_password_is_not_answered_and_must_be_changed_too(store):
    unit = new(store, password="Chosen#2026x")
    assert "temporary_password" not in unit
    with store.reading():
        row = store.session.query(Account).filter_by(account="unit001").one()
        assert PasswordHasher().verify(row.password_hash, "Chosen#2026x")
        assert row.must_change_password is True  # the operator who typed it knows it


def test_taken_account_or_credit_code_is_a_conflict(store):
    new(store)
    with pytest.raises(Conflict):
        new(store, serial=2, account="unit001")
    with pytest.raises(Conflict):
        new(store, serial=2, credit_code=credit_code(serial=1))


def test_list_filters_by_division_street_and_text(store):
    new(store, 1)
    new(store, 2, division="350582", street="青阳街道", name="晋江市青阳街道某社区居民委员会")
    page = units.list_units(store, {"division": "350582"}, 1, 20, T0)
    assert [u["account"] for u in page["items"]] == ["unit002"] and page["total"] == 1
    assert units.list_units(store, {"street": "东海街道"}, 1, 20, T0)["total"] == 1
    assert units.list_units(store, {"q": "青阳"}, 1, 20, T0)["total"] == 1
    assert units.list_units(store, {"q": "unit00"}, 1, 20, T0)["total"] == 2


def test_changes_are_recorded_with_who_and_when(store):
    unit = new(store)
    later = T0 + timedelta(hours=1)
    changed, ended = units.update_unit(store, unit["id"], {"division": "350582", "street": "青阳街道",
                                                           "name": "新名称社区"}, "operator1", later)
    assert changed["division"] == "350582" and ended is None
    items = units.history(store, unit["id"])["items"]
    assert items[0]["actor"] == "operator1" and items[0]["at"] == later.isoformat()
    fields = {c["field"]: (c["before"], c["after"]) for c in items[0]["changes"]}
    assert fields["division"] == ("350503", "350582") and fields["name"][1] == "新名称社区"
    assert items[-1]["action"] == "created"
    feed = units.changes_after(store, 0)
    assert [f["division"] for f in feed] == ["350503", "350582"]
    assert units.changes_after(store, feed[0]["seq"])[0]["street"] == "青阳街道"


def test_a_move_needs_a_valid_division(store):
    unit = new(store)
    with pytest.raises(InvalidInput):
        units.update_unit(store, unit["id"], {"division": "110101"}, "admin", T0)
    with pytest.raises(NotFound):
        units.update_unit(store, 9999, {"name": "某某社区"}, "admin", T0)


def test_disabling_ends_sessions_and_refuses_sign_in_until_enabled(store):
    unit = new(store, password="Chosen#2026x")
    with store.unit_of_work():
        account = store.session.query(Account).filter_by(account="unit001").one()
        store.session.add(SessionRow(token_hash="a" * 64, account_id=account.id, created_at=T0,
                                     expires_at=T0 + timedelta(hours=8)))
        store.commit()
    _, ended = units.update_unit(store, unit["id"], {"disabled": True}, "admin", T0)
    assert ended == "unit001"
    with store.reading():
        assert store.session.get(SessionRow, "a" * 64).revoked_at is not None
    with pytest.raises(AccountDisabled):
        units.refuse_disabled_login(store, "unit001")
    units.update_unit(store, unit["id"], {"disabled": False}, "admin", T0)
    units.refuse_disabled_login(store, "unit001")


def _upload(rows):
    return sheets.build(units.TEMPLATE_COLUMNS, rows)


def test_import_accepts_good_rows_refuses_bad_ones_and_hands_passwords_once(store):
    new(store, 1)
    content = _upload([
        ["甲社区居民委员会", credit_code(serial=10), "丰泽区", "东海街道", "jia01", "李四", "13800000001"],
        ["乙社区居民委员会", credit_code(serial=11), "350582", "青阳街道", "yi01", "", ""],
        ["丙社区", credit_code(serial=12), "福州市", "某街道", "bing01", "", ""],         # bad division
        ["丁社区", credit_code(serial=1), "丰泽区", "东海街道", "ding01", "", ""],       # credit code taken
        ["戊社区", credit_code(serial=13), "丰泽区", "", "jia01", "", ""],              # no street, account twice
    ])
    result = units.import_units(store, content, "admin", T0, import_id="imp1")
    assert (result["total"], result["succeeded"], result["failed"]) == (5, 2, 3)
    assert [f["row"] for f in result["failures"]] == [4, 5, 6]
    assert "所属区县" in result["failures"][0]["reason"]
    failures = load_workbook(io.BytesIO(units.import_failures(store, "imp1")["content"])).active
    assert [c.value for c in failures[1]][-1] == sheets.REASON and failures.max_row == 4
    creds = load_workbook(io.BytesIO(units.take_credentials(store, "imp1", T0)["content"])).active
    rows = list(creds.iter_rows(min_row=2, values_only=True))
    assert [r[2] for r in rows] == ["jia01", "yi01"]
    with store.reading():
        row = store.session.query(Account).filter_by(account="yi01").one()
        assert PasswordHasher().verify(row.password_hash, rows[1][3]) and row.must_change_password
    with pytest.raises(NotFound):
        units.take_credentials(store, "imp1", T0)
    assert units.list_units(store, {"division": "350582"}, 1, 20, T0)["items"][0]["street"] == "青阳街道"


def test_the_failures_file_can_be_corrected_and_imported_again(store):
    content = _upload([["丙社区居民委员会", credit_code(serial=12), "福州市", "某街道", "bing01", "", ""]])
    units.import_units(store, content, "admin", T0, import_id="imp1")
    book = load_workbook(io.BytesIO(units.import_failures(store, "imp1")["content"]))
    book.active["C2"] = "南安市"
    out = io.BytesIO()
    book.save(out)
    again = units.import_units(store, out.getvalue(), "admin", T0, import_id="imp2")
    assert again["succeeded"] == 1 and again["failed"] == 0


def test_a_file_without_the_columns_is_refused_whole(store):
    with pytest.raises(InvalidInput):
        units.import_units(store, sheets.build(["名称"], [["x"]]), "admin", T0)


def test_a_generated_password_is_downloaded_as_it_signs_in():
    """A password starting with a formula character would be written to the
    credentials workbook behind a quote: the one downloaded would not sign in."""
    import io

    import openpyxl

    from common import sheets
    from services.auth import accounts as account_rules

    passwords = [units.generate_password() for _ in range(500)] + [
        account_rules.temporary_password() for _ in range(500)]
    assert not [p for p in passwords if p.startswith(("=", "+", "-", "@"))]
    book = openpyxl.load_workbook(io.BytesIO(sheets.build(["密码"], [[p] for p in passwords[:50]])))
    assert [row[0] for row in book.active.iter_rows(min_row=2, values_only=True)] == passwords[:50]
