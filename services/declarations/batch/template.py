"""The batch templates (docs/domain.md, "Excel templates"), one .xlsx per business
type, built from the same field labels and code tables the validation uses.

A template has the data sheet (headers in row 1, required ones marked `*`,
dropdowns on coded columns, the ID column formatted as text), a 说明 sheet,
a hidden 代码表 sheet feeding the dropdowns, and a version mark kept twice
(a custom document property and a cell of the hidden sheet) so that a file
that Excel or LibreOffice re-saved still carries it. The failures workbook is
the same template with the failed rows filled in and a 失败原因 column.
"""
import io
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.packaging.custom import StringProperty
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from common import codes
from common.person import FIELD_LABELS

BUSINESS_TYPES = ("enrolment", "suspension")

# The mark a file must carry to be imported. Raise the number whenever the
# columns change: files of an older version are then refused as outdated.
MARK_NAME = "EDT_TEMPLATE"
VERSIONS = {"enrolment": "enrolment-v1", "suspension": "suspension-v1"}

DATA_SHEETS = {"enrolment": "城乡居民参保", "suspension": "城乡居民暂停参保"}
GUIDE_SHEET = "说明"
CODES_SHEET = "代码表"
FAILURE_HEADER = "失败原因"
REQUIRED_MARK = "*"
TEXT = "@"
HEADER_ROW = 1

DECLARABLE_GENDERS = {code: codes.GENDERS[code] for code in codes.DECLARABLE_GENDERS}


@dataclass(frozen=True)
class Column:
    field: str
    required: bool = False
    table: dict | None = None  # the code table of a dropdown
    width: int = 14
    text: bool = False  # cells formatted as text ("@")

    @property
    def label(self):
        return FIELD_LABELS[self.field]

    @property
    def header(self):
        return self.label + (REQUIRED_MARK if self.required else "")


_COMMON = (
    Column("cert_type", True, codes.CERT_TYPES, 26),
    Column("cert_no", True, None, 22, text=True),
    Column("name", True, None, 12),
)
COLUMNS = {
    "enrolment": _COMMON + (
        Column("gender", False, DECLARABLE_GENDERS, 8),
        Column("birth_date", False, None, 13),
        Column("nation", False, codes.NATIONS, 10),
        Column("category", True, codes.CATEGORIES, 18),
        Column("phone", True, None, 15, text=True),
        Column("hukou_address", False, None, 30),
        Column("address", False, None, 30),
        Column("remark", False, None, 20),
    ),
    "suspension": _COMMON + (
        Column("reason", True, codes.SUSPENSION_REASONS, 24),
        Column("remark", False, None, 30),
    ),
}

CODE_TABLE_TITLES = {
    "cert_type": "证件类型", "gender": "性别", "nation": "民族",
    "category": "人员类别", "reason": "暂停参保原因",
}

_BOLD = Font(bold=True)
_REQUIRED_FONT = Font(bold=True, color="C00000")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_FAILURE_FILL = PatternFill("solid", fgColor="FCE4D6")
# Text that a spreadsheet would read as a formula (or DDE) when typed.
_FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")


def version_mark(business_type):
    return f"{MARK_NAME}={VERSIONS[business_type]}"


def file_name(business_type):
    return f"{codes.BUSINESS_TYPES[business_type]}批量导入模板.xlsx"


def build(business_type, max_rows=20000, max_megabytes=10, rows=None, reasons=None):
    """The template of `business_type` as .xlsx bytes.

    With `rows` (dicts field -> text as the user typed it) and `reasons`
    (one Chinese text per row), it is the failures workbook: the same
    template with those rows and a 失败原因 column, importable again.
    """
    columns = COLUMNS[business_type]
    wb = Workbook()
    data = wb.active
    data.title = DATA_SHEETS[business_type]
    code_ranges = _codes_sheet(wb, columns, business_type)
    _guide_sheet(wb, business_type, columns, max_rows, max_megabytes)
    _data_sheet(data, columns, code_ranges, max_rows, failures=rows is not None)
    if rows is not None:
        _fill(data, columns, rows, reasons or [])
    wb.custom_doc_props.append(StringProperty(name=MARK_NAME, value=VERSIONS[business_type]))
    wb.active = 0
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _data_sheet(ws, columns, code_ranges, max_rows, failures):
    last_row = HEADER_ROW + max_rows
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        cell = ws.cell(HEADER_ROW, index, column.header)
        cell.font = _REQUIRED_FONT if column.required else _BOLD
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center")
        dimension = ws.column_dimensions[letter]
        dimension.width = column.width
        if column.text:
            # A column style: every cell typed later is text, so Excel keeps
            # all 18 characters of an ID number instead of a rounded float.
            dimension.number_format = TEXT
        if column.table is not None:
            rule = DataValidation(
                type="list", formula1=code_ranges[column.field], allow_blank=True,
                showErrorMessage=True, errorStyle="warning",
                errorTitle=column.label,
                error=f"请从下拉列表选择{column.label}，或填写其代码、名称",
                promptTitle=column.label, prompt="可从下拉列表选择", showInputMessage=True,
            )
            rule.add(f"{letter}{HEADER_ROW + 1}:{letter}{last_row}")
            ws.add_data_validation(rule)
    ws.cell(HEADER_ROW, 2).comment = Comment(
        "本列为文本格式。请勿改为数字格式：Excel会把18位号码变成科学计数法并丢失末尾数字。", "E点通")
    if failures:
        index = len(columns) + 1
        cell = ws.cell(HEADER_ROW, index, FAILURE_HEADER)
        cell.font, cell.fill = _REQUIRED_FONT, _FAILURE_FILL
        ws.column_dimensions[get_column_letter(index)].width = 50
    ws.freeze_panes = ws.cell(HEADER_ROW + 1, 1)


def _codes_sheet(wb, columns, business_type):
    """The hidden sheet whose columns feed the dropdowns; returns the list
    formula of each coded field. Its first row holds the version mark."""
    ws = wb.create_sheet(CODES_SHEET)
    ws.cell(1, 1, MARK_NAME)
    ws.cell(1, 2, VERSIONS[business_type])
    ranges = {}
    coded = [c for c in columns if c.table is not None]
    for index, column in enumerate(coded, start=1):
        letter = get_column_letter(index)
        ws.cell(2, index, CODE_TABLE_TITLES[column.field]).font = _BOLD
        items = codes.dropdown_items(column.table)
        for offset, item in enumerate(items):
            ws.cell(3 + offset, index, item)
        ws.column_dimensions[letter].width = 28
        ranges[column.field] = (
            f"{quote_sheetname(CODES_SHEET)}!${letter}$3:${letter}${2 + len(items)}")
    ws.sheet_state = "hidden"
    return ranges


def _guide_sheet(wb, business_type, columns, max_rows, max_megabytes):
    ws = wb.create_sheet(GUIDE_SHEET)
    ws.column_dimensions["A"].width = 12
    ws.column_dimensions["B"].width = 90
    title = codes.BUSINESS_TYPES[business_type]
    ws.cell(1, 1, f"{title}批量导入模板说明（模板版本 {VERSIONS[business_type]}）").font = Font(bold=True, size=14)
    required = "、".join(c.label for c in columns if c.required)
    lines = [
        f"在“{DATA_SHEETS[business_type]}”工作表第2行起每行填写一人；不要修改表头，不要删除、重命名工作表。",
        f"带*的列为必填：{required}。",
        "证件号码列已设为文本格式，请勿改为数字格式或“常规”：Excel会把18位号码变成科学计数法并丢失末尾数字。",
        "带下拉列表的列可从列表选择，也可直接填写代码或名称（如 01、汉、01 汉）。",
        "每行单独审核：通过的行即时申报成功，未通过的行列在导入结果中；可下载“失败明细”，按“失败原因”修改后再次导入。",
        f"每个文件最多{max_rows}行数据、大小不超过{max_megabytes}MB，只接受本平台下载的最新模板（.xlsx）。",
        "同一文件重复上传不会重复申报，系统返回第一次导入的结果。",
        "单元格请直接填写内容，不要使用公式。",
    ]
    if business_type == "enrolment":
        lines[2:2] = [
            "证件类型为居民身份证或港澳台居民居住证时，性别、出生日期由证件号码确定，可不填；其他证件必须填写。",
            "出生日期可填写 1990-01-01、1990/1/1 或 19900101。",
            "人员类别须与年龄相符：老年居民年满60周岁，未成年居民未满18周岁，成年居民年满18周岁。",
        ]
    else:
        lines.insert(2, "暂停原因选择“99 其他”时，备注必填。")
    row = 3
    for number, line in enumerate(lines, start=1):
        ws.cell(row, 1, f"{number}.")
        ws.cell(row, 2, line).alignment = Alignment(wrap_text=True)
        row += 1
    row += 1
    ws.cell(row, 1, "代码表").font = Font(bold=True, size=12)
    row += 1
    for column in columns:
        if column.table is None:
            continue
        ws.cell(row, 1, CODE_TABLE_TITLES[column.field]).font = _BOLD
        row += 1
        for code, text in column.table.items():
            ws.cell(row, 1, code).number_format = TEXT
            ws.cell(row, 2, text)
            row += 1
        row += 1


def _fill(ws, columns, rows, reasons):
    for offset, values in enumerate(rows):
        row = HEADER_ROW + 1 + offset
        for index, column in enumerate(columns, start=1):
            _put(ws.cell(row, index), values.get(column.field))
        reason = reasons[offset] if offset < len(reasons) else ""
        _put(ws.cell(row, len(columns) + 1), reason)


def _put(cell, value):
    """Write `value` as a text cell. Text that a spreadsheet would run as a
    formula (=HYPERLINK(...), =cmd|...) is kept as text and marked with
    Excel's quote prefix (the stored form of a typed leading ')."""
    if value is None or value == "":
        return
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    cell.value = text
    cell.data_type = "s"
    cell.number_format = TEXT
    if text.startswith(_FORMULA_LEAD):
        cell.quotePrefix = True
