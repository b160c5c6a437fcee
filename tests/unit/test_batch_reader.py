"""Safe reading of uploaded batch files: everything that refuses a whole
file does so before the cells are parsed, with a 4xx and a clear message."""
import io
import zipfile
from datetime import date, datetime

import openpyxl
import pytest

from common.errors import InvalidInput, TooLarge, UnsupportedFile
from services.declarations.batch import reader, template
from services.declarations.batch.reader import Limits
from tests import fixtures_xlsx as fx

SMALL = Limits(max_bytes=200_000, max_rows=5, max_uncompressed=5 * reader.MB)


def refused(content, limits=Limits()):
    with pytest.raises((UnsupportedFile, TooLarge, InvalidInput)) as info:
        reader.read(content, limits)
    return info.value


def test_reads_the_data_sheet_with_excel_row_numbers():
    data = fx.filled("enrolment", [fx.enrolment_row("350503198506150011")], start_row=3)
    sheet = reader.read(data)
    assert sheet.name == "城乡居民参保" and sheet.version == "enrolment-v1"
    assert sheet.rows[0][1] == "证件号码*"
    assert sheet.rows[2][1] == "350503198506150011"  # Excel row 3
    assert sheet.formulas == {}


def test_cells_keep_their_types():
    rows = [fx.enrolment_row(3.50503198506150e17, birth_date=date(1990, 1, 2), phone=13800138000)]
    sheet = reader.read(fx.filled("enrolment", rows))
    cells = sheet.rows[1]
    assert isinstance(cells[1], float)
    assert cells[4] in (date(1990, 1, 2), datetime(1990, 1, 2))


def test_an_empty_upload_is_refused():
    assert isinstance(refused(b""), InvalidInput)


def test_a_file_over_the_size_limit_is_413():
    error = refused(b"PK\x03\x04" + bytes(300_000), SMALL)
    assert isinstance(error, TooLarge) and error.status == 413


def test_an_xls_file_is_refused_naming_the_old_format():
    error = refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000))
    assert error.status == 415 and ".xls" in error.message and "另存为" in error.message


def test_an_encrypted_workbook_is_refused_as_encrypted():
    error = refused(fx.encrypted_bytes())
    assert error.status == 415 and "密码" in error.message


def test_a_csv_renamed_to_xlsx_is_refused():
    error = refused(fx.csv_bytes())
    assert error.status == 415 and "CSV" in error.message


def test_an_html_table_renamed_to_xls_is_refused():
    error = refused(fx.html_bytes())
    assert error.status == 415 and "HTML" in error.message


def test_random_bytes_are_refused():
    assert refused(bytes(range(256)) * 10).status == 415


def test_a_broken_zip_is_refused():
    data = template.build("enrolment")
    assert refused(data[: len(data) // 2]).status == 415


def test_a_zip_that_is_not_a_workbook_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<document/>")
    error = refused(out.getvalue())
    assert error.status == 415 and "Word" in error.message


def test_an_ods_file_is_refused_naming_the_format():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    assert ".ods" in refused(out.getvalue()).message


def test_a_macro_enabled_workbook_is_refused():
    error = refused(fx.macro_enabled(template.build("enrolment")))
    assert error.status == 415 and "宏" in error.message


def test_a_zip_bomb_is_refused_before_anything_is_inflated():
    error = refused(fx.zip_bomb(120))
    assert error.status == 415 and "压缩" in error.message


def test_an_absurd_compression_ratio_is_refused_even_under_the_size_limit():
    error = refused(fx.zip_bomb(20))
    assert error.status == 415 and "压缩比" in error.message


def test_a_sheet_declaring_more_rows_than_the_limit_is_413():
    rows = [fx.enrolment_row(fx.id_number(i)) for i in range(6)]
    error = refused(fx.filled("enrolment", rows), SMALL)
    assert isinstance(error, TooLarge) and "5" in error.message


def test_a_sheet_whose_dimension_lies_is_measured_by_its_cells():
    wb = openpyxl.load_workbook(io.BytesIO(template.build("enrolment")))
    ws = wb["城乡居民参保"]
    ws["A2"], ws["A900"] = "01", "01"
    data = fx.save(wb)
    lied = _rewrite_sheet(data, lambda xml: xml.replace(b'ref="A1:K900"', b'ref="A1:K2"'))
    assert reader.scan_sheet(_sheet_xml(lied), 101).dimension_rows == 2
    assert isinstance(refused(lied, Limits(max_rows=100)), TooLarge)


def test_a_sheet_far_wider_than_the_template_is_refused():
    wb = openpyxl.load_workbook(io.BytesIO(template.build("enrolment")))
    wb["城乡居民参保"]["ZZ2"] = "x"
    error = refused(fx.save(wb))
    assert isinstance(error, InvalidInput) and error.extra["reason"] == "wrong_template"


def test_the_sheet_is_scanned_in_chunks_without_missing_a_reference():
    wb = openpyxl.load_workbook(io.BytesIO(template.build("enrolment")))
    ws = wb["城乡居民参保"]
    ws["A2"], ws["AB20"], ws["C12345"] = "01", "x", '=HYPERLINK("a","b")'
    xml = _sheet_xml(fx.save(wb))
    whole = reader.scan_sheet(xml, 20001)
    assert (whole.max_row, whole.max_column, whole.has_formulas) == (12345, 28, True)
    for size in (5, 7, 64, 1000):
        chunks = [xml[i:i + size] for i in range(0, len(xml), size)]
        assert reader.scan_sheet(chunks, 20001) == whole
        assert reader.formula_cells(chunks) == {(12344, 2): '=HYPERLINK("a","b")'}


def test_formulas_are_reported_as_their_text_never_as_values():
    rows = [fx.enrolment_row("350503198506150011", name='=HYPERLINK("http://evil.example","张三")')]
    sheet = reader.read(fx.filled("enrolment", rows))
    assert sheet.formulas == {(1, 2): '=HYPERLINK("http://evil.example","张三")'}


def test_a_workbook_without_the_mark_reads_with_no_version():
    data = fx.plain_workbook([["证件类型", "证件号码"], ["01", "350503198506150011"]])
    assert reader.read(data).version is None


def test_limits_come_from_configuration():
    limits = Limits.from_config({"MAX_UPLOAD_ROWS": "300", "MAX_UPLOAD_BYTES": 1024})
    assert limits.max_rows == 300 and limits.max_bytes == 1024
    assert Limits.from_config({}) == Limits()


def _rewrite_sheet(data, change):
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                body = change(body)
            dst.writestr(item.filename, body)
    return out.getvalue()


def _sheet_xml(data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read("xl/worksheets/sheet1.xml")


def test_service_limits_fall_back_to_the_environment(monkeypatch):
    from services.declarations.batch.batches import limits_of

    monkeypatch.setenv("MAX_UPLOAD_ROWS", "123")
    assert limits_of({}).max_rows == 123
    assert limits_of({"MAX_UPLOAD_ROWS": 7}).max_rows == 7
    monkeypatch.delenv("MAX_UPLOAD_ROWS")
    assert limits_of({}) == Limits()
