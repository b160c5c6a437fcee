"""Hostile uploads through the gateway (issue 10, point 3): every file a unit
must not be able to import is refused with a clear Chinese message — at once
with a 4xx when it needs no reading, else as a failed batch once a batch
worker has read it — nothing is declared, the memory of the declarations
process and of the batch worker stays bounded while they refuse them, and
the platform is still ready afterwards. Formulas are stored as
text, never evaluated, and neutralised in every Excel the platform writes.

What each refusal says is tested in tests/unit/test_batch_reader.py and
tests/http/test_batches_http.py; here they come one after another through
the gateway while the processes' resident memory is sampled.

Macro-enabled workbooks (.xlsm, or an .xlsx holding a VBA project) are
refused with 415: the platform never runs anything in a file, but a macro
file is not a template and importing it would teach units to pass them on.
"""
import io
import re
import threading
import time
import uuid
import zipfile
from datetime import date

import openpyxl
import pytest

from services.declarations.batch import template
from tests import fixtures_xlsx as fx
from tests.unit.test_batch_reader_guards import unnumbered_rows, wide_unnumbered_row

pytestmark = pytest.mark.http

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEMORY_LIMIT_MB = 300
SHEET = "xl/worksheets/sheet1.xml"


def upload(suite, token, data, name="名单.xlsx", business_type="enrolment"):
    return suite.api("POST", f"/api/batches?business_type={business_type}", token,
                     files={"file": (name, data, XLSX)})


def fresh_ids(count):
    region = f"35{uuid.uuid4().int % 10000:04d}"
    return [fx.id_number(i % 500, date(1960 + i // 500, 3, 4), region=region) for i in range(count)]


# -- hostile files, made here --------------------------------------------------

def _rewrite(data, member, change):
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            dst.writestr(item.filename, change(body) if item.filename == member else body)
    return out.getvalue()


def declares_a_million_rows():
    """A real template of one row whose sheet claims A1:L1000001."""
    data = fx.filled("enrolment", [fx.enrolment_row(fx.id_number(7))])
    return _rewrite(data, SHEET, lambda xml: re.sub(
        rb'<dimension ref="[^"]*"', b'<dimension ref="A1:L1000001"', xml, count=1))


def a_million_real_rows():
    """The template with 1,000,000 real rows below the header, each an ID
    number cell: ~70 MB of sheet XML that deflates to a few MB, under the
    upload size, the uncompressed-size and the ratio limits, so only the
    streamed row count can refuse it."""
    data = fx.filled("enrolment", [fx.enrolment_row(fx.id_number(7))])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename != SHEET:
                dst.writestr(item.filename, src.read(item.filename))
                continue
            xml = src.read(SHEET)
            head, tail = xml.split(b"</sheetData>", 1)
            head = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1"/>', head, count=1)
            with dst.open(SHEET, "w", force_zip64=True) as member:
                member.write(head)
                block = []
                for row in range(3, 1_000_003):
                    block.append(b'<row r="%d"><c r="B%d" t="inlineStr"><is><t>35050319850615%04d</t></is></c></row>'
                                 % (row, row, row % 10000))
                    if len(block) == 20000:
                        member.write(b"".join(block))
                        block = []
                member.write(b"".join(block) + b"</sheetData>" + tail)
    return out.getvalue()


def macro_part_renamed():
    """A VBA project stored under another part name than Excel's."""
    data = fx.filled("enrolment", [fx.enrolment_row(fx.id_number(3))])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("xl/media/VBAProject.bin", b"\xd0\xcf\x11\xe0" + bytes(100))
    return out.getvalue()


def far_cell_in_the_codes_sheet():
    """The hidden 代码表 sheet with one cell at XFD1048576 (the parser once
    asked for 512 GB for it and aborted the whole service)."""
    data = fx.filled("enrolment", [fx.enrolment_row(fx.id_number(4))])
    return _rewrite(data, "xl/worksheets/sheet2.xml", lambda xml: xml.replace(
        b"</sheetData>", b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'))


def old_xls():
    """An Excel 97-2003 file: an OLE2 compound file holding a Workbook stream."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    directory = b"".join(name.encode("utf-16-le").ljust(64, b"\0") + bytes(64)
                         for name in ("Root Entry", "Workbook", "\x05SummaryInformation"))
    return header + directory + bytes(4096)


HOSTILE = [
    # (name, file name, make, status, words in the message)
    ("zip bomb", "名单.xlsx", lambda: fx.zip_bomb(200), 415, "压缩"),
    ("dimension of 1,000,000 rows", "名单.xlsx", declares_a_million_rows, 413, "20000"),
    ("1,000,000 real rows", "名单.xlsx", a_million_real_rows, 413, "20000"),
    ("1,000,000 rows numbered by position", "名单.xlsx", lambda: unnumbered_rows(1_000_000), 413, "20000"),
    ("a far cell in the hidden codes sheet", "名单.xlsx", far_cell_in_the_codes_sheet, 413, "20000"),
    ("a row 16,000 cells wide, numbered by position", "名单.xlsx", lambda: wide_unnumbered_row(16_000), 400,
     "列数"),
    (".xls renamed .xlsx", "名单.xlsx", old_xls, 415, ".xls"),
    (".xls", "名单.xls", old_xls, 415, ".xls"),
    ("CSV renamed .xlsx", "名单.xlsx", fx.csv_bytes, 415, "CSV"),
    ("HTML renamed .xlsx", "名单.xlsx", fx.html_bytes, 415, "HTML"),
    ("encrypted", "名单.xlsx", fx.encrypted_bytes, 415, "密码"),
    ("macro-enabled as .xlsx", "名单.xlsx",
     lambda: fx.macro_enabled(fx.filled("enrolment", [fx.enrolment_row(fx.id_number(1))])), 415, "宏"),
    ("macro-enabled .xlsm", "名单.xlsm",
     lambda: fx.macro_enabled(fx.filled("enrolment", [fx.enrolment_row(fx.id_number(2))])), 415, "宏"),
    ("VBA project under another name", "名单.xlsx", macro_part_renamed, 415, "宏"),
]


# -- memory of the declarations process ---------------------------------------

def rss_mb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


class Sampler(threading.Thread):
    """The highest resident memory of `pid`, sampled every 20 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0.0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.join()


ERROR_OF = {400: "invalid_input", 413: "too_large", 415: "unsupported_file"}


def test_hostile_files_are_refused_with_memory_bounded_and_the_platform_up(suite, fresh_unit):
    # What needs no reading is refused on receipt by declarations; the rest
    # is read by a batch worker and ends as a failed batch: both processes'
    # memory is sampled, and both must still be the same processes after.
    token = fresh_unit["token"]
    pids = {name: suite.procs[name].pid for name in ("declarations", "batches")}
    files = [(label, name, make(), status, words) for label, name, make, status, words in HOSTILE]
    answers, queued = {}, 0
    with Sampler(pids["declarations"]) as receiving, Sampler(pids["batches"]) as working:
        for label, name, data, _status, _words in files:
            assert len(data) < 10 * 1024 * 1024, f"{label} is not under the upload limit"
            r = upload(suite, token, data, name)
            if r.status_code == 202:
                queued += 1
                body = suite.wait_batch(token, r.json()["batch_no"])
                assert body["status"] == "failed", (label, body)
                answers[label] = (next(k for k, v in ERROR_OF.items() if v == body["error"]), body)
            else:
                answers[label] = (r.status_code, r.json())
    print(f"\npeak RSS while refusing: declarations {receiving.peak:.0f} MB, batch worker "
          f"{working.peak:.0f} MB (VmHWM {rss_mb(pids['batches'], 'VmHWM'):.0f} MB)")
    for label, _name, _data, status, words in files:
        code, body = answers[label]
        assert code == status, f"{label}: {code} {body}"
        assert body["error"] in ("unsupported_file", "too_large", "invalid_input"), (label, body)
        assert words in body["message"], (label, body["message"])
        assert any("\u4e00" <= c <= "\u9fff" for c in body["message"]), (label, body)
    assert receiving.peak < MEMORY_LIMIT_MB, f"declarations reached {receiving.peak:.0f} MB"
    assert working.peak < MEMORY_LIMIT_MB, f"the batch worker reached {working.peak:.0f} MB"
    # nothing declared for refused files; those read by a worker are failed batches
    r = suite.api("GET", "/api/batches?size=100", token)
    assert r.status_code == 200 and r.json()["total"] == queued
    assert all(item["status"] == "failed" for item in r.json()["items"])
    assert suite.api("GET", "/api/declarations", token).json()["total"] == 0
    # the platform is still up, and the processes are the ones that refused them
    ready = suite.api("GET", "/readyz")
    assert ready.status_code == 200, ready.text
    for name, pid in pids.items():
        assert suite.procs[name].poll() is None and suite.procs[name].pid == pid, name


FORMULAS = ['=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0"]


def _with_formula_cells(rows, formula_cells):
    """The filled template with real formula elements (<f>) at `formula_cells`
    ({(row, column): formula}); openpyxl writes "=..." values as formulas."""
    wb = openpyxl.load_workbook(io.BytesIO(fx.filled("enrolment", rows)))
    ws = wb[template.DATA_SHEETS["enrolment"]]
    for row in ws.iter_rows(min_row=template.HEADER_ROW + 1):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text typed with a leading ', not a formula
    for (row, column), formula in formula_cells.items():
        ws.cell(row, column).value = formula
    data = fx.save(wb)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.read(SHEET).count(b"<f>") == len(formula_cells)
    return data


def test_formulas_are_text_never_evaluated_and_neutralised_in_every_excel_out(suite, fresh_unit):
    token = fresh_unit["token"]
    address_col = [c.field for c in template.COLUMNS["enrolment"]].index("address") + 1
    ids = fresh_ids(len(FORMULAS) + 2)
    # Text cells that look like formulas (typed with a leading ', or pasted as
    # text): free-text fields keep them as text.
    rows = [fx.enrolment_row(ids[i], address=text) for i, text in enumerate(FORMULAS)]
    # Real formula cells: the row is refused with its reason, the formula kept as text.
    formula_rows = {len(FORMULAS) + 2: '=HYPERLINK("http://x","y")', len(FORMULAS) + 3: "=1+1"}
    rows += [fx.enrolment_row(ids[len(FORMULAS)]), fx.enrolment_row(ids[len(FORMULAS) + 1])]
    data = _with_formula_cells(rows, {(r, address_col): f for r, f in formula_rows.items()})
    r = upload(suite, token, data)
    assert r.status_code == 202, r.text
    result = suite.wait_batch(token, r.json()["batch_no"])
    assert result["succeeded"] == len(FORMULAS), result
    failed = {f["row"]: f for f in result["failures"]}
    assert set(failed) == set(formula_rows)
    for row in formula_rows:
        assert "公式" in failed[row]["reason"]

    # stored as the text typed, never a computed value
    items = suite.api("GET", f"/api/declarations?batch_no={result['batch_no']}&size=50", token).json()["items"]
    stored = [suite.api("GET", f"/api/declarations/{item['record_id']}", token).json()["data"]["address"]
              for item in items]
    assert sorted(stored) == sorted(FORMULAS)
    deadline = time.time() + 60  # the roster follows the event log
    while suite.api("GET", "/api/residents?size=1", token).json()["total"] < len(FORMULAS):
        assert time.time() < deadline, "the roster did not catch up"
        time.sleep(0.2)

    # the roster export: string cells with the quote prefix, no formula element
    export = suite.api("GET", "/api/residents/export", token)
    assert export.status_code == 200
    _assert_neutral(export.content, None, FORMULAS)

    # the failures workbook: the formulas come back as quoted text
    failures = suite.api("GET", f"/api/batches/{result['batch_no']}/failures.xlsx", token)
    assert failures.status_code == 200
    _assert_neutral(failures.content, template.DATA_SHEETS["enrolment"], list(formula_rows.values()))


def _assert_neutral(data, sheet_name, texts):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(name) and b"<f " not in z.read(name), name
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb[sheet_name] if sheet_name else wb.active
    found = {}
    for row in ws.iter_rows():
        for cell in row:
            if cell.value in texts:
                found[cell.value] = cell
    assert set(found) == set(texts), f"missing: {set(texts) - set(found)}"
    for text, cell in found.items():
        assert cell.data_type == "s", (text, cell.data_type)
        assert cell.quotePrefix, f"{text!r} has no quote prefix"
