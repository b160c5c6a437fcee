"""Text that looks like a formula is neutralised in every Excel file the
platform produces (issue 10, point 3): the roster export and the failures
workbook of a batch. Each such cell is a string cell (never a <f> formula
element) carrying Excel's quote prefix, so no spreadsheet evaluates it."""
import io
import zipfile
from datetime import date, datetime, timezone
from types import SimpleNamespace

import pytest

from services.declarations.batch import failures, template
from services.declarations.batch.reader import Limits
from services.residents import export

HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,2)",
]


def sheet_xml(data, member=None):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        member = member or next(n for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
        return z.read(member).decode(), z.read("xl/styles.xml").decode()


def resident(address, hukou="福建省泉州市"):
    return SimpleNamespace(
        cert_type="01", cert_no="350503198506150011", name="张三", gender="1",
        birth_date=date(1985, 6, 15), nation="01", category="11", phone="13800138000",
        hukou_address=hukou, address=address, status="active",
        since=datetime(2026, 11, 1, tzinfo=timezone.utc))


@pytest.mark.parametrize("text", HOSTILE)
def test_the_roster_export_writes_formula_like_text_as_quoted_strings(text):
    out = io.BytesIO()
    assert export.write_roster([resident(text)], out) == 1
    data = out.getvalue()
    xml, _styles = sheet_xml(data)
    assert "<f>" not in xml and "<f " not in xml, "a formula element was written"
    import openpyxl
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    cell = ws.cell(row=2, column=10)  # 居住地址
    assert cell.value == text and cell.data_type == "s"
    assert cell.quotePrefix, "no quote prefix: Excel would evaluate it when the cell is edited"
    assert ws.cell(row=2, column=9).quotePrefix is False  # plain text stays plain


@pytest.mark.parametrize("text", HOSTILE)
def test_the_failures_workbook_writes_formula_like_text_as_quoted_strings(text):
    rows = [{"row": 2, "reason": "居住地址含有公式",
             "values": {"cert_type": "01", "cert_no": "350503198506150011", "name": "张三", "address": text}}]
    data = failures.workbook("enrolment", rows, Limits())
    xml, _styles = sheet_xml(data, "xl/worksheets/sheet1.xml")
    assert "<f>" not in xml and "<f " not in xml
    import openpyxl
    ws = openpyxl.load_workbook(io.BytesIO(data))[template.DATA_SHEETS["enrolment"]]
    column = [c.field for c in template.COLUMNS["enrolment"]].index("address") + 1
    cell = ws.cell(row=template.HEADER_ROW + 1, column=column)
    assert cell.value == text and cell.data_type == "s" and cell.quotePrefix
