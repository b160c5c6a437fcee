"""The batch templates: built from the validation's field labels and code
tables, with dropdowns, a text ID column and a version mark."""
import io

import openpyxl
import pytest

from common import codes
from common.person import ENROLMENT_FIELDS, FIELD_LABELS, SUSPENSION_FIELDS
from services.declarations.batch import reader, template
from tests.fixtures_xlsx import read_back


def open_template(business_type):
    return openpyxl.load_workbook(io.BytesIO(template.build(business_type)))


def test_templates_hold_the_fields_the_validation_reads_in_its_order():
    assert tuple(c.field for c in template.COLUMNS["enrolment"]) == ENROLMENT_FIELDS
    assert tuple(c.field for c in template.COLUMNS["suspension"]) == SUSPENSION_FIELDS


def test_enrolment_headers_are_those_of_the_manual_with_required_marked():
    wb = open_template("enrolment")
    headers = [c.value for c in wb["城乡居民参保"][1]]
    assert headers == ["证件类型*", "证件号码*", "姓名*", "性别", "出生日期", "民族",
                       "人员类别*", "联系电话*", "户籍地址", "居住地址", "备注"]


def test_suspension_headers_are_those_of_the_manual():
    wb = open_template("suspension")
    assert [c.value for c in wb["城乡居民暂停参保"][1]] == ["证件类型*", "证件号码*", "姓名*", "暂停原因*", "备注"]


def test_the_id_column_is_formatted_as_text():
    ws = open_template("enrolment")["城乡居民参保"]
    assert ws.column_dimensions["B"].number_format == "@"


@pytest.mark.parametrize("business_type, column, table", [
    ("enrolment", "A", codes.CERT_TYPES),
    ("enrolment", "F", codes.NATIONS),
    ("enrolment", "G", codes.CATEGORIES),
    ("suspension", "D", codes.SUSPENSION_REASONS),
])
def test_every_coded_column_has_a_dropdown_of_its_code_table(business_type, column, table):
    wb = open_template(business_type)
    ws = wb[template.DATA_SHEETS[business_type]]
    rule = next(dv for dv in ws.data_validations.dataValidation if str(dv.sqref).startswith(column + "2"))
    assert rule.type == "list"
    sheet_ref, cells = rule.formula1.split("!")
    source = wb[sheet_ref.strip("'")]
    items = [c.value for row in source[cells.replace("$", "")] for c in row]
    assert items == codes.dropdown_items(table)
    assert all(codes.resolve(table, item) for item in items)


def test_the_gender_dropdown_offers_only_declarable_genders():
    wb = open_template("enrolment")
    ws = wb["城乡居民参保"]
    rule = next(dv for dv in ws.data_validations.dataValidation if str(dv.sqref).startswith("D2"))
    _sheet, cells = rule.formula1.split("!")
    items = [c.value for row in wb[template.CODES_SHEET][cells.replace("$", "")] for c in row]
    assert items == ["1 男", "2 女"]


def test_the_guide_sheet_explains_and_lists_the_code_tables():
    wb = open_template("enrolment")
    text = "\n".join(str(c.value) for row in wb["说明"].iter_rows() for c in row if c.value)
    assert "文本格式" in text and "20000" in text and "enrolment-v1" in text
    for label in codes.NATIONS.values():
        assert label in text


def test_the_codes_sheet_is_hidden():
    assert open_template("enrolment")[template.CODES_SHEET].sheet_state == "hidden"


def test_the_template_carries_its_version_mark_in_two_places():
    data = template.build("suspension")
    sheet = reader.read(data)
    assert sheet.version == "suspension-v1"
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert {p.name: p.value for p in wb.custom_doc_props}["EDT_TEMPLATE"] == "suspension-v1"
    assert wb[template.CODES_SHEET]["B1"].value == "suspension-v1"


def test_the_failures_workbook_adds_a_reason_column_and_keeps_text_as_text():
    rows = [{"cert_type": "01", "cert_no": "350503198506150011", "name": "张三", "phone": "0595-22345678"}]
    data = template.build("enrolment", rows=rows, reasons=["联系电话：不正确"])
    values, ws = read_back(data, "enrolment")
    assert values[0][-1] == "失败原因"
    assert values[1][1] == "350503198506150011" and ws["B2"].data_type == "s"
    assert values[1][-1] == "联系电话：不正确"


@pytest.mark.parametrize("text", ['=HYPERLINK("http://evil.example","点我")', "=cmd|' /C calc'!A0",
                                  "+1+1", "@SUM(1)", "-2+3"])
def test_formula_like_text_is_written_as_quoted_text_never_as_a_formula(text):
    data = template.build("enrolment", rows=[{"name": text, "remark": text}], reasons=[text])
    _values, ws = read_back(data, "enrolment")
    for cell in (ws["C2"], ws["K2"], ws["L2"]):
        assert cell.data_type == "s" and cell.value == text and cell.quotePrefix
    with_zip = io.BytesIO(data)
    import zipfile
    sheet_xml = zipfile.ZipFile(with_zip).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml


def test_file_names_name_the_business():
    assert template.file_name("enrolment") == "城乡居民参保批量导入模板.xlsx"
    assert FIELD_LABELS["reason"] == "暂停原因"
