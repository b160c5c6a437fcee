"""Workbooks for the batch tests, made inside the tests: filled-in templates
(openpyxl, or openpyxl's write-only mode for big files), a copy re-saved by
LibreOffice, and the files a unit must not be able to import (.xls, CSV or
HTML renamed, encrypted, macro-enabled, zip bombs, foreign templates)."""
import io
import os
import shutil
import subprocess
import tempfile
import zipfile
from datetime import date

import openpyxl
from openpyxl.packaging.custom import StringProperty

from common.identity import check_character
from services.declarations.batch import template

ENROLMENT = template.COLUMNS["enrolment"]
SUSPENSION = template.COLUMNS["suspension"]


def id_number(serial, born=date(1985, 6, 15), region="350503", female=False):
    """A valid 18-digit ID number; `serial` (0..499) tells people apart."""
    sequence = (serial % 500) * 2 + (0 if female else 1)
    first = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first + check_character(first)


def many_ids(count, female=False):
    """`count` distinct valid ID numbers (adults, born 1950-1999)."""
    out = []
    for i in range(count):
        born = date(1950 + (i // 500) % 50, 1 + (i // 25000) % 12, 1 + (i // 300000) % 28)
        out.append(id_number(i % 500, born, region=f"3505{(i // 1250000) % 100:02d}", female=female))
    return out


def enrolment_row(cert_no, name="张三", **changes):
    row = {
        "cert_type": "01 居民身份证（户口簿）", "cert_no": cert_no, "name": name,
        "gender": None, "birth_date": None, "nation": "01 汉", "category": "11 成年居民",
        "phone": "13800138000", "hukou_address": "福建省泉州市丰泽区东海街道",
        "address": "东海社区1号", "remark": None,
    }
    row.update(changes)
    return row


def suspension_row(cert_no, name="张三", **changes):
    row = {"cert_type": "01", "cert_no": cert_no, "name": name,
           "reason": "02 参加职工基本医疗保险", "remark": None}
    row.update(changes)
    return row


def filled(business_type, rows, text_ids=True, start_row=2):
    """The current template with `rows` (dicts by field, or lists in column
    order) written from `start_row`; values keep their Python types (a float
    ID is a number cell). `text_ids=False` writes ID numbers as numbers,
    the way a user who typed them into a General column gets them."""
    wb = openpyxl.load_workbook(io.BytesIO(template.build(business_type)))
    ws = wb[template.DATA_SHEETS[business_type]]
    columns = template.COLUMNS[business_type]
    for offset, row in enumerate(rows):
        values = [row.get(c.field) for c in columns] if isinstance(row, dict) else list(row)
        for index, value in enumerate(values, start=1):
            if value is None:
                continue
            if not text_ids and index == 2 and isinstance(value, str) and value.isdigit():
                value = int(value)
            cell = ws.cell(start_row + offset, index, value)
            if isinstance(value, str) and value.startswith("="):
                pass  # left as openpyxl's formula
            elif isinstance(value, str):
                cell.data_type = "s"
    return save(wb)


def big(business_type, rows):
    """A large filled-in template written by openpyxl's write-only mode
    (fast, little memory): data sheet and version mark only."""
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(template.DATA_SHEETS[business_type])
    columns = template.COLUMNS[business_type]
    ws.append([c.header for c in columns])
    for row in rows:
        ws.append([row.get(c.field) for c in columns] if isinstance(row, dict) else row)
    wb.custom_doc_props.append(StringProperty(name=template.MARK_NAME, value=template.VERSIONS[business_type]))
    return save(wb)


def save(wb):
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def with_mark(data, version):
    """`data` (an .xlsx) with its template mark changed to `version` (None:
    no mark at all), as an outdated or foreign file would carry."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb.custom_doc_props = openpyxl.packaging.custom.CustomPropertyList()
    if version is not None:
        wb.custom_doc_props.append(StringProperty(name=template.MARK_NAME, value=version))
    if template.CODES_SHEET in wb.sheetnames:
        codes = wb[template.CODES_SHEET]
        if version is None:
            codes["A1"], codes["B1"] = None, None
        else:
            codes["B1"] = version
    return save(wb)


def plain_workbook(rows):
    """A workbook that is not a template: one sheet with `rows`."""
    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    return save(wb)


# -- LibreOffice --------------------------------------------------------------

def libreoffice():
    return shutil.which("libreoffice") or shutil.which("soffice")


def convert(data, target="xlsx", source="xlsx"):
    """`data` converted by LibreOffice (`--headless --convert-to target`)."""
    with tempfile.TemporaryDirectory(prefix="edt-lo-") as work:
        src = os.path.join(work, f"in.{source}")
        with open(src, "wb") as f:
            f.write(data)
        out = os.path.join(work, "out")
        subprocess.run(
            [libreoffice(), "--headless", "--norestore",
             f"-env:UserInstallation=file://{work}/profile",
             "--convert-to", target, "--outdir", out, src],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180)
        with open(os.path.join(out, "in." + target.split(":")[0]), "rb") as f:
            return f.read()


# -- files to refuse ----------------------------------------------------------

def csv_bytes():
    return "证件类型,证件号码,姓名\n01,350503198506150011,张三\n".encode("gb18030")


def html_bytes():
    return ("<html><head><meta charset='utf-8'></head><body><table><tr><td>证件号码</td></tr>"
            "</table></body></html>").encode()


def encrypted_bytes(password="secret"):
    """A real password-protected .xlsx, as Excel's 用密码进行加密 writes it:
    the template encrypted with ECMA-376 agile encryption by msoffcrypto-tool
    (an OLE2 compound file holding EncryptionInfo and EncryptedPackage)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(filled("enrolment", [enrolment_row(id_number(1))]))).encrypt(password, out)
    return out.getvalue()


def zip_bomb(megabytes=120):
    """An .xlsx-shaped ZIP whose sheet inflates to `megabytes` of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        chunk = b"\0" * (1024 * 1024)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            for _ in range(megabytes):
                member.write(chunk)
    return out.getvalue()


def macro_enabled(data):
    """`data` with a VBA project added, as an .xlsm saved under .xlsx."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0" + bytes(100))
    return out.getvalue()


def read_back(data, business_type=None):
    """The data sheet of an .xlsx as lists of values (openpyxl)."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb[template.DATA_SHEETS[business_type]] if business_type else wb.active
    return [list(r) for r in ws.iter_rows(values_only=True)], ws
