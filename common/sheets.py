"""Small operator workbooks (units, targets, dashboard tables): a template
of named columns, reading an upload of it safely, and writing rows back with
a 失败原因 column for the rows refused — the same habits as the residents'
batches (services/declarations/batch/), for files of a few thousand rows.

Reading refuses, before any cell is parsed, what is not an .xlsx (ZIP), a
file whose members would inflate beyond `max_uncompressed` or compress more
than any spreadsheet does (zip bombs), and more than `max_rows` data rows.
Cells are read by python-calamine, never evaluated. Values that a
spreadsheet would take for a formula are written as text (see `_safe`).
"""
import io
import zipfile

import python_calamine
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from common.errors import InvalidInput, TooLarge, UnsupportedFile

REASON = "失败原因"
MB = 1024 * 1024
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def build(columns, rows=(), title="Sheet1", reasons=None, notes=None, number_formats=None):
    """An .xlsx of `columns` (header labels) and `rows` (lists of values);
    with `reasons` ({row index: text}) a 失败原因 column. Text columns are
    stored as text so that codes keep their leading zeros."""
    wb = Workbook()
    ws = wb.active
    ws.title = title
    header = list(columns) + ([REASON] if reasons is not None else [])
    ws.append(header)
    bold = Font(bold=True)
    for i, _ in enumerate(header, start=1):
        cell = ws.cell(row=1, column=i)
        cell.font = bold
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        ws.column_dimensions[get_column_letter(i)].width = 22
    for i, row in enumerate(rows):
        values = [_safe(v) for v in row]
        if reasons is not None:
            values.append(reasons.get(i, ""))
        ws.append(values)
    for r in ws.iter_rows(min_row=2):
        for cell in r:
            if isinstance(cell.value, str):
                cell.number_format = "@"
    ws.freeze_panes = "A2"
    if notes:
        guide = wb.create_sheet("说明")
        for line in notes:
            guide.append([line])
        guide.column_dimensions["A"].width = 100
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read(content, columns, max_rows=5000, max_bytes=10 * MB, max_uncompressed=100 * MB, max_ratio=200):
    """[(row number, {column: text})] of the first sheet of an upload whose
    first row names `columns` (in any order; extra columns such as 失败原因
    are ignored). Blank rows are skipped. Raises UnsupportedFile, TooLarge
    or InvalidInput for a file refused as a whole."""
    if len(content) > max_bytes:
        raise TooLarge("文件过大", {"file": ["文件过大"]})
    if not content.startswith(b"PK\x03\x04"):
        raise UnsupportedFile("请上传 .xlsx 格式的 Excel 文件", {"file": ["文件格式不正确"]})
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as z:
            total = 0
            for info in z.infolist():
                total += info.file_size
                if info.compress_size and info.file_size / info.compress_size > max_ratio:
                    raise UnsupportedFile("文件内容异常，无法读取", {"file": ["文件内容异常"]})
            if total > max_uncompressed:
                raise TooLarge("文件内容过大", {"file": ["文件内容过大"]})
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content))
        sheet = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except (UnsupportedFile, TooLarge):
        raise
    except Exception:  # noqa: BLE001 - any parser failure is a file we cannot read
        raise UnsupportedFile("文件无法读取，请使用下载的模板", {"file": ["文件无法读取"]}) from None
    if not sheet:
        raise InvalidInput("文件中没有数据", {"file": ["文件中没有数据"]})
    header = [_cell(v).lstrip("*") for v in sheet[0]]
    missing = [c for c in columns if c not in header]
    if missing:
        raise InvalidInput(f"文件缺少列：{'、'.join(missing)}，请使用下载的模板",
                           {"file": [f"缺少列：{'、'.join(missing)}"]})
    where = {c: header.index(c) for c in columns}
    out = []
    for number, raw in enumerate(sheet[1:], start=2):
        values = {c: _cell(raw[i]) if i < len(raw) else "" for c, i in where.items()}
        if not any(values.values()):
            continue
        out.append((number, values))
        if len(out) > max_rows:
            raise TooLarge(f"文件超过{max_rows}行，请拆分后分别导入", {"file": [f"不能超过{max_rows}行"]})
    if not out:
        raise InvalidInput("文件中没有数据", {"file": ["文件中没有数据"]})
    return out
