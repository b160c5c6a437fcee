"""The roster as an .xlsx file, written row by row (openpyxl write-only
mode), so a unit of 50,000 residents never sits in memory as a workbook.

Headers are the Chinese column names of the portal; coded values are shown
as their labels; the certificate number is a text cell, so Excel neither
turns it into a float nor drops its last digits.

Free text typed by units (addresses, names) may begin like a formula
(`=HYPERLINK(...)`, `=cmd|' /C calc'!A0`, `+`, `-`, `@`): such a cell is
written as a string cell with Excel's quote prefix, so no spreadsheet
evaluates it, now or when the cell is edited (openpyxl would otherwise
write any text starting with "=" as a formula)."""
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from common import codes
from services.residents.roster import BUSINESS_TZ
from services.residents.store import aware

SHEET_TITLE = "参保人员名单"
TEXT = "@"

# (header, width, value of a Resident row)
COLUMNS = (
    ("证件类型", 22, lambda r: codes.label(codes.CERT_TYPES, r.cert_type) or r.cert_type),
    ("证件号码", 22, lambda r: r.cert_no),
    ("姓名", 12, lambda r: r.name),
    ("性别", 6, lambda r: codes.label(codes.GENDERS, r.gender) or r.gender),
    ("出生日期", 12, lambda r: r.birth_date.isoformat() if r.birth_date else None),
    ("民族", 8, lambda r: codes.label(codes.NATIONS, r.nation) or r.nation),
    ("人员类别", 14, lambda r: codes.label(codes.CATEGORIES, r.category) or r.category),
    ("联系电话", 15, lambda r: r.phone),
    ("户籍地址", 30, lambda r: r.hukou_address),
    ("居住地址", 30, lambda r: r.address),
    ("参保状态", 10, lambda r: codes.STATUS.get(r.status, r.status)),
    ("状态日期", 12, lambda r: aware(r.since).astimezone(BUSINESS_TZ).date().isoformat()),
)
HEADERS = tuple(c[0] for c in COLUMNS)
# Columns formatted as text: what is typed into them later stays text too.
TEXT_COLUMNS = {"证件号码", "联系电话", "出生日期", "状态日期"}
# Cells that carry the text format themselves as well (a styled cell costs
# more to write): the certificate number, which Excel must never read as a
# number. The other columns hold strings, which Excel keeps as they are.
TEXT_CELLS = {"证件号码"}
# What a spreadsheet reads as the start of a formula (or DDE) when typed.
FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")


def neutral_cell(ws, value):
    """A string cell that no spreadsheet evaluates: data type "s" and the
    quote prefix (the stored form of a typed leading apostrophe)."""
    cell = WriteOnlyCell(ws, value=value)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


def write_roster(rows, target):
    """Write the Resident `rows` (any iterable, consumed once) as a workbook
    to `target` (a path or a binary file object). Returns the row count."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET_TITLE)
    for index, (header, width, _value) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
        if header in TEXT_COLUMNS:
            ws.column_dimensions[get_column_letter(index)].number_format = TEXT
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    centre = Alignment(horizontal="center")
    header_cells = []
    for header in HEADERS:
        cell = WriteOnlyCell(ws, value=header)
        cell.font, cell.alignment = bold, centre
        header_cells.append(cell)
    ws.append(header_cells)
    count = 0
    for row in rows:
        cells = []
        for header, _width, value in COLUMNS:
            text = value(row)
            if header in TEXT_CELLS:
                cell = WriteOnlyCell(ws, value=text)
                cell.number_format = TEXT
                if isinstance(text, str) and text.startswith(FORMULA_LEAD):
                    cell.data_type, cell.quotePrefix = "s", True
                cells.append(cell)
            elif isinstance(text, str) and text.startswith(FORMULA_LEAD):
                cells.append(neutral_cell(ws, text))
            else:
                cells.append(text)
        ws.append(cells)
        count += 1
    wb.save(target)
    return count
