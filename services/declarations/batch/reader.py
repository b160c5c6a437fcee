"""Reading an uploaded batch file safely and fast.

Every check that can refuse a whole file runs before the cells are parsed:
the size, the container (an .xlsx is a ZIP; an .xls or an encrypted workbook
is an OLE2 compound file; CSV and HTML are text), the members an .xlsx must
have, macros, the uncompressed size and compression ratio (zip bombs), the
template's version mark, and the extent of the data sheet, whose XML is
scanned as a byte stream (declared dimension, highest row and column
referenced, formulas) so that no parser ever builds a huge grid. Then
python-calamine (Rust) reads the cells, about ten times faster than openpyxl.

Formulas are never evaluated: a cell holding one is reported with its
formula text (see `Sheet.formulas`), never with a computed value.
"""
import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from xml.etree import ElementTree

import python_calamine

from common.errors import InvalidInput, TooLarge, UnsupportedFile
from services.declarations.batch import template

MB = 1024 * 1024
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
NS_CUSTOM = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
NS_VT = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"

# Rows the hidden codes sheet may have whatever MAX_UPLOAD_ROWS is.
CODES_SHEET_ROWS = 1000

DOWNLOAD_HINT = "请在“批量提交”页面下载最新模板，填写后重新导入"


@dataclass(frozen=True)
class Limits:
    """What a file may be; every figure is configurable (see `from_config`)."""
    max_bytes: int = 10 * MB
    max_rows: int = 20000
    max_uncompressed: int = 100 * MB
    # A ratio no spreadsheet reaches: XML of real sheets compresses 10-30x.
    max_ratio: int = 200
    max_columns: int = 64
    max_members: int = 1000
    # Small XML parts (workbook, relationships, properties) are parsed whole.
    max_part_bytes: int = 2 * MB
    # Any part but a worksheet (shared strings, styles): 20,000 rows of
    # distinct text make about 5 MB of shared strings.
    max_other_part: int = 16 * MB

    @classmethod
    def from_config(cls, config):
        get = lambda key, default: int(config.get(key) or default)  # noqa: E731
        return cls(
            max_bytes=get("MAX_UPLOAD_BYTES", cls.max_bytes),
            max_rows=get("MAX_UPLOAD_ROWS", cls.max_rows),
            max_uncompressed=get("MAX_UNCOMPRESSED_BYTES", cls.max_uncompressed),
        )


@dataclass
class Sheet:
    """The data sheet of an accepted file. `rows[i]` is Excel row i+1."""
    name: str
    version: str | None
    rows: list
    formulas: dict = field(default_factory=dict)  # (row index, col index) -> "=..."


def read(content, limits=Limits()):
    """The data sheet of `content` (the bytes of an uploaded file), or raises
    UnsupportedFile (415), TooLarge (413) or InvalidInput (400) with a
    message saying what to do."""
    check_container(content, limits)
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise UnsupportedFile("文件已损坏，无法作为Excel工作簿打开，请用Excel另存为.xlsx后重新上传") from None
    with archive:
        check_members(archive, limits)
        sheets = workbook_sheets(archive, limits)
        version = custom_property(archive, template.MARK_NAME, limits)
        name, path = data_sheet(sheets)
        # The sheet's XML is streamed, never held whole: a cap on memory.
        extent = scan_sheet(member_chunks(archive, path, limits), template.HEADER_ROW + limits.max_rows)
        check_extent(extent, limits)
        # The parser reads the hidden codes sheet too (its version mark), as a
        # grid as large as its extent: one cell at XFD1048576 made it ask for
        # 512 GB and abort the process. It gets the same checks.
        # Its own row cap, not the data sheet's: it holds the code tables (~100
        # rows), which a small MAX_UPLOAD_ROWS must not refuse.
        codes_limits = replace(limits, max_rows=max(limits.max_rows, CODES_SHEET_ROWS))
        for other, _state, other_path in sheets:
            if other == template.CODES_SHEET and other_path and other_path != path:
                check_extent(scan_sheet(member_chunks(archive, other_path, codes_limits),
                                        template.HEADER_ROW + codes_limits.max_rows), codes_limits)
        formulas = formula_cells(member_chunks(archive, path, limits)) if extent.has_formulas else {}
    rows, hidden_mark = parse_cells(content, name, sheets)
    if len(rows) > template.HEADER_ROW + limits.max_rows:
        raise TooLarge(f"工作表超过每个文件{limits.max_rows}行的上限，请拆分为多个文件后分别导入",
                       {"file": [f"每个文件最多{limits.max_rows}行"]})
    return Sheet(name, version or hidden_mark, rows, formulas)


# -- the container ----------------------------------------------------------

def check_container(content, limits):
    if not content:
        raise InvalidInput("上传的文件是空的，请选择填写好的模板文件", {"file": ["文件为空"]})
    if len(content) > limits.max_bytes:
        raise TooLarge(f"文件超过{limits.max_bytes // MB}MB，请拆分为多个文件后分别导入",
                       {"file": [f"文件大小不能超过{limits.max_bytes // MB}MB"]})
    head = content[:8]
    if head == OLE2_MAGIC:
        if "EncryptedPackage".encode("utf-16-le") in content[:min(len(content), 4 * MB)]:
            raise UnsupportedFile("文件设置了打开密码（已加密），请在Excel中取消密码后另存为.xlsx再上传")
        raise UnsupportedFile("这是旧版Excel 97-2003（.xls）文件，请用Excel“另存为”Excel工作簿（.xlsx）后再上传")
    if head[:4] == ZIP_MAGIC:
        return
    text = content[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<table", b"<meta", b"<head", b"<body")):
        raise UnsupportedFile(
            "这是网页（HTML）文件，只是扩展名改成了.xls/.xlsx，请用Excel打开后另存为Excel工作簿（.xlsx）")
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        raise UnsupportedFile("这是XML文本文件而不是Excel工作簿，请用Excel打开后另存为.xlsx")
    if _looks_like_text(content[:4096]):
        raise UnsupportedFile("这是CSV或文本文件，请使用平台模板（.xlsx）填写后上传")
    raise UnsupportedFile("不支持的文件格式，请上传用平台模板填写的Excel工作簿（.xlsx）")


def _looks_like_text(head):
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True  # a UTF-16 text file (Excel's "Unicode text")
    for encoding in ("utf-8", "gb18030"):
        # The sample may end inside a multi-byte character.
        for sample in (head, head[:-1], head[:-2], head[:-3]):
            try:
                decoded = sample.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            continue
        printable = sum(c.isprintable() or c in "\r\n\t" for c in decoded)
        if decoded and printable / len(decoded) > 0.95:
            return True
    return False


def check_members(archive, limits):
    infos = archive.infolist()
    names = {i.filename for i in infos}
    if len(infos) > limits.max_members:
        raise UnsupportedFile("文件结构异常（压缩包内文件过多），不是有效的Excel工作簿")
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        if "mimetype" in names or "content.xml" in names:
            raise UnsupportedFile("这是OpenDocument（.ods）表格，请另存为Excel工作簿（.xlsx）后再上传")
        if "word/document.xml" in names or "ppt/presentation.xml" in names:
            raise UnsupportedFile("这是Word或PowerPoint文件，请上传用平台模板填写的Excel工作簿（.xlsx）")
        raise UnsupportedFile("文件不是Excel工作簿（.xlsx），请使用平台模板填写后上传")
    # Any VBA project part (Excel names it xl/vbaProject.bin; a renamed one is still one).
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        raise UnsupportedFile("文件包含宏（.xlsm），出于安全考虑不予导入，请另存为不含宏的Excel工作簿（.xlsx）")
    total = 0
    for info in infos:
        total += info.file_size
        # Parts other than sheets are small in any real workbook; the parser
        # holds all shared strings in memory (72 MB of them: 190 MB).
        if info.file_size > limits.max_other_part and not info.filename.startswith("xl/worksheets/"):
            raise UnsupportedFile("文件结构异常（部件过大），不予导入")
        if info.flag_bits & 0x1:
            raise UnsupportedFile("文件设置了密码（已加密），请取消密码后另存为.xlsx再上传")
        if info.file_size > MB and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise UnsupportedFile("文件结构异常（压缩比异常，疑似压缩炸弹），不予导入")
    if total > limits.max_uncompressed:
        raise UnsupportedFile(
            f"文件解压后超过{limits.max_uncompressed // MB}MB（疑似压缩炸弹或含有大量无关内容），不予导入")


def member_bytes(archive, name, cap):
    """A small member's bytes (workbook, relationships, properties), reading
    no more than its declared size (zipfile stops there and checks the CRC)
    nor than `cap`."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise UnsupportedFile("文件不完整（缺少工作表），请用Excel另存为.xlsx后重新上传") from None
    if info.file_size > cap:
        raise UnsupportedFile("文件结构异常（部件过大），不予导入")
    try:
        with archive.open(info) as stream:
            data = stream.read(cap + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        raise UnsupportedFile("文件已损坏，无法读取，请用Excel另存为.xlsx后重新上传") from None
    if len(data) > cap:
        raise UnsupportedFile("文件结构异常（部件过大），不予导入")
    return data


CHUNK = 1024 * 1024
# The namespace prefix of the worksheet element, when it has one (<x:worksheet>).
_ROOT_PREFIX = re.compile(rb"<(\w+:)?worksheet\b")


def member_chunks(archive, name, limits):
    """A sheet's bytes in chunks, refusing a DTD in its head, more than the
    uncompressed limit (zipfile also stops at the declared size) and more
    row elements than the row limit: rows without an `r` attribute are
    numbered by position, so a million of them would otherwise reach the
    parser, which builds every row, before any refusal."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise UnsupportedFile("文件不完整（缺少工作表），请用Excel另存为.xlsx后重新上传") from None
    if info.file_size > limits.max_uncompressed:
        raise UnsupportedFile("文件结构异常（工作表过大），不予导入")
    total = rows = 0
    row_tag, tail = b"<row", b""
    cells = _Unnumbered(b"", limits.max_columns)
    last_row = template.HEADER_ROW + limits.max_rows
    try:
        with archive.open(info) as stream:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    return
                if total == 0:
                    if b"<!DOCTYPE" in chunk[:4096] or b"<!ENTITY" in chunk[:4096]:
                        raise UnsupportedFile("文件结构异常（含有不允许的XML声明），不予导入")
                    prefix = _ROOT_PREFIX.search(chunk, 0, 4096)
                    ns = (prefix.group(1) if prefix else None) or b""
                    row_tag, cells = b"<" + ns + b"row", _Unnumbered(ns, limits.max_columns)
                total += len(chunk)
                if total > limits.max_uncompressed:
                    raise UnsupportedFile("文件结构异常（工作表过大），不予导入")
                # bytes.count is ~10 ms per 5 MB; the tail (shorter than the
                # tag, so never counted twice) catches a tag cut in two.
                rows += (tail + chunk).count(row_tag)
                cells.check(chunk, row_tag)
                tail = chunk[1 - len(row_tag):]
                # One spare: <rowBreaks> (page breaks, once per sheet) counts too.
                if rows > last_row + 1:
                    raise TooLarge(f"工作表超过每个文件{limits.max_rows}行的上限（含空行），"
                                   "请删除多余的空行或拆分为多个文件后分别导入",
                                   {"file": [f"每个文件最多{limits.max_rows}行"]})
                yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        raise UnsupportedFile("文件已损坏，无法读取，请用Excel另存为.xlsx后重新上传") from None


class _Unnumbered:
    """Cells without an `r` attribute take the next column, and the parser
    builds every row as wide as the widest: one row of 16,000 such cells
    in a 30 KB file makes a grid of hundreds of MB. Every writer puts `r`
    first, so cells are counted against `<c r="`; only when some lack it
    are the cells of each row counted, refusing a row wider than the
    template could ever be."""

    def __init__(self, ns, max_columns):
        self.open_tags = (b"<" + ns + b"c ", b"<" + ns + b"c>", b"<" + ns + b"c/>")
        self.numbered = b"<" + ns + b'c r="'
        # a cell whose first attribute is not r (a search: ~8 ms per 10 MB)
        self.first_unnumbered = re.compile(b"<" + re.escape(ns) + rb'c(?! r=")[\s>/]')
        self.max_columns = max_columns
        self.seen = False
        self.carry = 0  # unnumbered cells of the row still open at the chunk's end
        self.pending = b""  # the last chunk from its last "<": a tag cut in two

    def count(self, data):
        return sum(data.count(tag) for tag in self.open_tags) - data.count(self.numbered)

    def check(self, chunk, row_tag):
        window = self.pending + chunk
        cut = window.rfind(b"<")  # every tag is then whole on one side
        cut = len(window) if cut < 0 else cut
        data, self.pending = window[:cut], window[cut:]
        if not self.seen and not self.first_unnumbered.search(data):
            return
        self.seen = True
        first, *rest = data.split(row_tag)
        widths = [self.carry + self.count(first)] + [self.count(row) for row in rest]
        self.carry = widths[-1]
        if max(widths) > self.max_columns * 2:
            raise InvalidInput(f"工作表的列数远超模板，{DOWNLOAD_HINT}",
                               {"file": ["列数过多"]}, {"reason": "wrong_template"})


def _xml(archive, name, limits):
    data = member_bytes(archive, name, limits.max_part_bytes)
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnsupportedFile("文件结构异常（含有不允许的XML声明），不予导入")
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError:
        raise UnsupportedFile("文件已损坏，无法读取，请用Excel另存为.xlsx后重新上传") from None


# -- the workbook -----------------------------------------------------------

def workbook_sheets(archive, limits):
    """[(name, state, member path)] of the workbook's sheets, in order."""
    workbook = _xml(archive, "xl/workbook.xml", limits)
    targets = {}
    if "xl/_rels/workbook.xml.rels" in archive.NameToInfo:
        rels = _xml(archive, "xl/_rels/workbook.xml.rels", limits)
        for rel in rels.iter(f"{{{NS_PKG_REL}}}Relationship"):
            target = rel.get("Target", "")
            target = target.lstrip("/") if target.startswith("/") else "xl/" + target
            targets[rel.get("Id")] = _normpath(target)
    out = []
    for sheet in workbook.iter(f"{{{NS_MAIN}}}sheet"):
        path = targets.get(sheet.get(f"{{{NS_REL}}}id"))
        out.append((sheet.get("name", ""), sheet.get("state", "visible"), path))
    return out


def _normpath(path):
    parts = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/".join(parts)


def custom_property(archive, name, limits):
    if "docProps/custom.xml" not in archive.NameToInfo:
        return None
    root = _xml(archive, "docProps/custom.xml", limits)
    for prop in root.iter(f"{{{NS_CUSTOM}}}property"):
        if prop.get("name") == name:
            value = prop.find(f"{{{NS_VT}}}lpwstr")
            return (value.text or "").strip() if value is not None else None
    return None


def data_sheet(sheets):
    """(name, member path) of the sheet holding the rows: the template's data
    sheet of either business type, else the first visible other sheet."""
    names = set(template.DATA_SHEETS.values())
    for name, _state, path in sheets:
        if name in names and path:
            return name, path
    ignored = {template.GUIDE_SHEET, template.CODES_SHEET}
    for name, state, path in sheets:
        if state == "visible" and name not in ignored and path and path.startswith("xl/worksheets/"):
            return name, path
    raise InvalidInput(f"文件中没有可导入的工作表，{DOWNLOAD_HINT}", {"file": ["没有数据工作表"]},
                       {"reason": "wrong_template"})


# -- the extent of the data sheet, from its XML bytes ---------------------------

@dataclass
class Extent:
    dimension_rows: int = 0
    dimension_columns: int = 0
    max_row: int = 0
    max_column: int = 0
    has_formulas: bool = False


_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\b[^>]*?\bref="(?:[A-Z]+\d+:)?([A-Z]+)(\d+)"')
# Row and cell references: ` r="B12"` or ` r="12"`.
_WIDE_REF = re.compile(rb' r="([A-Z]{2,3})\d')
_FORMULA = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?f[\s>/]')


def column_number(letters):
    number = 0
    for char in letters:
        number = number * 26 + (ord(char) - 64)
    return number


def scan_sheet(chunks, last_row):
    """What the data sheet's XML says about its size, without parsing it.
    `chunks`: the XML as bytes or as an iterable of byte chunks. Row numbers
    are only looked at where they could exceed `last_row`."""
    if isinstance(chunks, bytes):
        chunks = [chunks]
    extent = Extent()
    # Only references with many digits can exceed a row limit; finding those
    # is cheap, and it catches a file whose dimension lies.
    long_ref = re.compile(rb' r="[A-Z]{0,3}(\d{%d,})"' % len(str(last_row)))
    tail, head = b"", b""
    for chunk in chunks:
        # Chunks overlap by a few bytes so that no reference is cut in two;
        # seeing one twice changes no maximum.
        data = tail + chunk
        if head is not None:
            head += chunk
            if len(head) >= _HEAD:
                _dimension(extent, head)
                head = None
        extent.max_row = max([extent.max_row, *(int(m) for m in long_ref.findall(data))])
        if _WIDE_REF.search(data):
            wide = (column_number(m.decode()) for m in _WIDE_REF.findall(data))
            extent.max_column = max(extent.max_column, *wide)
        # Text nodes escape "<", so "<f" only begins an element name.
        if not extent.has_formulas and (b"<f" in data or b":f" in data):
            extent.has_formulas = _FORMULA.search(data) is not None
        tail = data[-_OVERLAP:]
    if head is not None:
        _dimension(extent, head)
    return extent


_OVERLAP = 64
_HEAD = 4096  # <dimension> comes first in a worksheet


def _dimension(extent, head):
    match = _DIMENSION.search(head, 0, _HEAD)
    if match:
        extent.dimension_columns = column_number(match.group(1).decode())
        extent.dimension_rows = int(match.group(2))


def check_extent(extent, limits):
    last_row = template.HEADER_ROW + limits.max_rows
    rows = max(extent.dimension_rows, extent.max_row)
    if rows > last_row:
        raise TooLarge(
            f"工作表有{rows - template.HEADER_ROW}行（含空行），超过每个文件{limits.max_rows}行的上限，"
            "请删除多余的空行或拆分为多个文件后分别导入",
            {"file": [f"每个文件最多{limits.max_rows}行"]})
    columns = max(extent.dimension_columns, extent.max_column)
    if columns > limits.max_columns:
        raise InvalidInput(f"工作表的列数（{columns}列）远超模板，{DOWNLOAD_HINT}",
                           {"file": ["列数过多"]}, {"reason": "wrong_template"})


# -- the cells ----------------------------------------------------------------

def parse_cells(content, name, sheets):
    """(rows of the data sheet from A1, the version mark of the hidden codes
    sheet or None). Cells are str, float, int, bool, date or datetime."""
    try:
        with python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content)) as workbook:
            rows = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
            mark = None
            if any(sheet[0] == template.CODES_SHEET for sheet in sheets):
                head = workbook.get_sheet_by_name(template.CODES_SHEET).to_python(
                    skip_empty_area=False, nrows=1)
                if head and len(head[0]) >= 2 and head[0][0] == template.MARK_NAME:
                    mark = str(head[0][1]).strip() or None
    except python_calamine.PasswordError:
        raise UnsupportedFile("文件设置了密码（已加密），请取消密码后另存为.xlsx再上传") from None
    except python_calamine.CalamineError:
        raise UnsupportedFile("文件已损坏或格式不正确，无法读取，请用Excel另存为.xlsx后重新上传") from None
    return rows, mark


class _ChunkReader(io.RawIOBase):
    """A file object over an iterable of byte chunks, for iterparse."""

    def __init__(self, chunks):
        self.chunks = iter([chunks] if isinstance(chunks, bytes) else chunks)
        self.pending = memoryview(b"")

    def readable(self):
        return True

    def readinto(self, buffer):
        while not len(self.pending):
            chunk = next(self.chunks, None)
            if chunk is None:
                return 0
            self.pending = memoryview(chunk)
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


def formula_cells(chunks):
    """{(row index, column index): "=formula"} of cells that hold a formula,
    from the sheet's XML (bytes or chunks). Cells of a shared formula other
    than its first carry no text; they are reported as "=" + the cached
    value, so they are still never trusted."""
    out = {}
    row = col = -1
    try:
        for event, element in ElementTree.iterparse(_ChunkReader(chunks), events=("start", "end")):
            tag = element.tag.rsplit("}", 1)[-1]
            if event == "start":
                if tag == "row":
                    ref = element.get("r")
                    row = int(ref) - 1 if ref and ref.isdigit() else row + 1
                    col = -1
                elif tag == "c":
                    match = _CELL_REF.fullmatch(element.get("r") or "")
                    col = column_number(match.group(1)) - 1 if match else col + 1
                continue
            if tag == "c":
                formula = value = None
                for child in element:
                    name = child.tag.rsplit("}", 1)[-1]
                    if name == "f":
                        formula = child.text or ""
                    elif name in ("v", "is"):
                        value = "".join(child.itertext())
                if formula is not None:
                    out[(row, col)] = "=" + (formula or value or "")
                element.clear()
            elif tag == "row":
                element.clear()
    except ElementTree.ParseError:
        raise UnsupportedFile("文件已损坏，无法读取，请用Excel另存为.xlsx后重新上传") from None
    return out


_CELL_REF = re.compile(r"([A-Z]{1,3})\d+")
