"""From a data sheet to rows to declare: template and version checks that
refuse a whole file, row numbers as Excel shows them, blank rows skipped,
coded values resolved, duplicates and formulas rejected per row."""
import io
from datetime import date

import openpyxl
import pytest

from common.errors import InvalidInput
from services.declarations.batch import reader, template
from services.declarations.batch.rows import read_rows, reason_text
from tests import fixtures_xlsx as fx

ID1, ID2 = fx.id_number(1), fx.id_number(2)


def rows_of(data, business_type="enrolment"):
    return read_rows(reader.read(data), business_type)


def refusal(data, business_type="enrolment"):
    with pytest.raises(InvalidInput) as info:
        rows_of(data, business_type)
    return info.value


def test_rows_carry_the_row_number_excel_shows_and_skip_blank_rows():
    data = fx.filled("enrolment", [
        fx.enrolment_row(ID1), {}, {"name": "  ", "remark": "\u3000"}, fx.enrolment_row(ID2),
    ])
    rows = rows_of(data)
    assert [r.number for r in rows] == [2, 5]


def test_coded_columns_are_resolved_to_codes_once_per_value():
    rows = rows_of(fx.filled("enrolment", [
        fx.enrolment_row(ID1, cert_type="居民身份证（户口簿）", nation="汉", category="11"),
        fx.enrolment_row(ID2, cert_type="01 居民身份证（户口簿）", nation="０１ 汉", category="成年居民"),
    ]))
    for row in rows:
        assert (row.data["cert_type"], row.data["nation"], row.data["category"]) == ("01", "01", "11")


def test_unknown_codes_are_left_as_typed_for_the_validation_to_reject():
    rows = rows_of(fx.filled("enrolment", [fx.enrolment_row(ID1, nation="火星")]))
    assert rows[0].data["nation"] == "火星" and not rows[0].errors


def test_the_text_as_typed_is_kept_for_the_failures_file():
    rows = rows_of(fx.filled("enrolment", [fx.enrolment_row(3.50503198506150e17, birth_date=date(1990, 1, 2))]))
    assert rows[0].values["cert_no"] == "350503198506150016"
    assert rows[0].values["birth_date"] == "1990-01-02"


def test_the_same_person_twice_rejects_the_later_row_naming_the_first():
    spaced = " ".join(ID1[i:i + 6] for i in range(0, 18, 6))
    rows = rows_of(fx.filled("enrolment", [fx.enrolment_row(ID1), fx.enrolment_row(ID2),
                                           fx.enrolment_row(spaced)]))
    assert not rows[0].errors and not rows[1].errors
    assert rows[2].reason == "与第2行是同一人，同一文件中每人只能填写一次"


def test_ids_that_excel_turned_into_numbers_are_not_taken_for_the_same_person():
    rows = rows_of(fx.filled("enrolment", [fx.enrolment_row(3.50503198506150e17),
                                           fx.enrolment_row(3.50503198506150e17)]))
    assert all(r.key is None and not r.errors for r in rows)


def test_a_formula_cell_rejects_its_row_and_keeps_the_formula_as_text():
    evil = '=HYPERLINK("http://evil.example","张三")'
    rows = rows_of(fx.filled("enrolment", [fx.enrolment_row(ID1, name=evil)]))
    assert rows[0].values["name"] == evil
    assert "公式" in rows[0].reason


def test_a_file_without_data_rows_is_refused():
    error = refusal(template.build("enrolment"))
    assert error.extra["reason"] == "no_rows" and "没有数据" in error.message


def test_a_file_of_blank_rows_only_is_refused():
    assert refusal(fx.filled("enrolment", [{"name": " "}, {}])).extra["reason"] == "no_rows"


def test_a_suspension_file_posted_as_enrolment_is_refused_naming_it():
    data = fx.filled("suspension", [fx.suspension_row(ID1)])
    error = refusal(data, "enrolment")
    assert error.extra["reason"] == "wrong_template" and "城乡居民暂停参保的模板" in error.message


def test_an_outdated_template_is_refused_asking_for_the_current_one():
    data = fx.with_mark(fx.filled("enrolment", [fx.enrolment_row(ID1)]), "enrolment-v0")
    error = refusal(data)
    assert error.extra["reason"] == "outdated_template" and "下载最新模板" in error.message


def test_a_workbook_that_is_not_a_template_is_refused():
    data = fx.plain_workbook([["证件类型", "证件号码", "姓名"], ["01", ID1, "张三"]])
    error = refusal(data)
    assert error.extra["reason"] == "wrong_template" and "下载最新模板" in error.message


def test_a_template_with_a_column_removed_is_refused_naming_it():
    data = fx.filled("enrolment", [fx.enrolment_row(ID1)])
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb["城乡居民参保"].delete_cols(8)  # 联系电话
    error = refusal(fx.save(wb))
    assert "联系电话" in error.message


def test_columns_are_found_by_header_whatever_their_order():
    wb = openpyxl.load_workbook(io.BytesIO(fx.filled("suspension", [fx.suspension_row(ID1, remark="x")])))
    ws = wb["城乡居民暂停参保"]
    a, e = [c.value for c in ws["A"]], [c.value for c in ws["E"]]
    for i, (x, y) in enumerate(zip(a, e), start=1):
        ws.cell(i, 1, y), ws.cell(i, 5, x)
    rows = rows_of(fx.save(wb), "suspension")
    assert rows[0].data["remark"] == "x" and rows[0].data["cert_type"] == "01"


def test_the_failures_reason_column_is_ignored_on_import():
    data = template.build("suspension", rows=[fx.suspension_row(ID1)], reasons=["第2行：该人员未在本单位参保"])
    rows = rows_of(data, "suspension")
    assert len(rows) == 1 and "失败原因" not in rows[0].values


def test_reason_text_names_the_field_unless_the_reason_does():
    text = reason_text({"phone": ["请填写联系电话"], "cert_no": ["校验位不正确"], "row": ["重复"]})
    assert text == "请填写联系电话；证件号码：校验位不正确；重复"
