"""From the cells of a data sheet to rows ready to declare.

The whole file is refused (InvalidInput) when it is not the current template
of the business type; otherwise each row stands on its own: it carries its
row number as Excel shows it, the text the user typed (for the failures
file), the data to declare, and what is already wrong with it as a row of a
file (a formula, the same person twice). The fields are validated where a
single declaration's are, in `declaring.declare_many`.
"""
import unicodedata
from dataclasses import dataclass, field

from common import codes
from common.errors import InvalidInput
from common.identity import normalise_cert_no
from common.person import FIELD_LABELS, text_of
from services.declarations.batch import template
from services.declarations.batch.reader import DOWNLOAD_HINT

# Where to look for the header row (users sometimes add a title line).
HEADER_SEARCH_ROWS = 10
# Coded columns whose typed values repeat across rows: resolved once each.
CODED = {
    "cert_type": codes.CERT_TYPES, "nation": codes.NATIONS,
    "category": codes.CATEGORIES, "reason": codes.SUSPENSION_REASONS,
}


@dataclass
class Row:
    """One non-blank row. `data` is what the declaration is asked with (the
    cells, coded columns resolved to their codes); `errors` holds what this
    module already found wrong with the row (a formula, the same person
    twice); the validation of the fields and the decision happen in
    `declaring.declare_many`, like for a single declaration."""
    number: int  # the row number Excel shows
    data: dict
    key: tuple | None = None  # (cert_type, normalised cert_no) when readable
    errors: dict = field(default_factory=dict)  # field -> [reasons]; "row" for the whole row
    # The cells of coded columns whose code `data` holds instead: with
    # `data`, the row as typed (one dict per row, not two: less memory).
    typed: dict = field(default_factory=dict)

    @property
    def cells(self):
        """field -> the cell's value, as typed."""
        return {**self.data, **self.typed} if self.typed else self.data

    @property
    def values(self):
        """field -> text as typed, for the failures workbook (only failed
        rows need it, so it is not computed for every row)."""
        return {name: text_of(value) for name, value in self.cells.items()}

    @property
    def cert_no(self):
        return self.key[1] if self.key else text_of(self.cells.get("cert_no"))

    @property
    def name(self):
        return " ".join(text_of(self.cells.get("name")).split())

    def reject(self, reason, field_name="row"):
        self.errors.setdefault(field_name, []).append(reason)

    @property
    def reason(self):
        return reason_text(self.errors)


def reason_text(errors):
    """One line for a row: each field's reasons, the field named first
    unless the reason already names it."""
    parts = []
    for name, reasons in errors.items():
        label = FIELD_LABELS.get(name)
        for reason in reasons:
            if label and label not in reason:
                parts.append(f"{label}：{reason}")
            else:
                parts.append(reason)
    return "；".join(parts)


# -- the template ---------------------------------------------------------------

def _header_text(value):
    text = unicodedata.normalize("NFKC", text_of(value))
    return "".join(text.split()).replace(template.REQUIRED_MARK, "")


def _refuse(message, detail, reason):
    raise InvalidInput(message, {"file": [detail]}, {"reason": reason})


def check_version(sheet, business_type):
    """Refuse a foreign, outdated or other-business file as a whole."""
    expected = template.VERSIONS[business_type]
    version = sheet.version
    if version == expected:
        return
    title = codes.BUSINESS_TYPES[business_type]
    for other, other_version in template.VERSIONS.items():
        if version == other_version:
            _refuse(f"这是{codes.BUSINESS_TYPES[other]}的模板，不能用于{title}；"
                    f"请在对应的批量功能中导入，或下载{title}模板",
                    "模板与业务类型不符", "wrong_template")
    if version and version.split("-")[0] in template.VERSIONS:
        _refuse(f"模板版本已过期（{version}），当前版本为{expected}，{DOWNLOAD_HINT}",
                "模板版本已过期", "outdated_template")
    _refuse(f"文件不是本平台的{title}模板（缺少模板标记），{DOWNLOAD_HINT}",
            "不是本平台模板", "wrong_template")


def header_map(sheet, business_type):
    """(index of the header row, {column index: field}) or refuses the file."""
    columns = template.COLUMNS[business_type]
    wanted = {c.label: c.field for c in columns}
    for index, row in enumerate(sheet.rows[:HEADER_SEARCH_ROWS]):
        texts = [_header_text(v) for v in row]
        if FIELD_LABELS["cert_no"] not in texts:
            continue
        mapping, seen = {}, set()
        for col, text in enumerate(texts):
            name = wanted.get(text)
            if name and name not in seen:
                mapping[col] = name
                seen.add(name)
        missing = [c.label for c in columns if c.field not in seen]
        if missing:
            _refuse(f"模板的表头被修改，缺少列：{'、'.join(missing)}；{DOWNLOAD_HINT}",
                    "表头与模板不符", "wrong_template")
        return index, mapping
    _refuse(f"找不到表头（证件号码等列），{DOWNLOAD_HINT}", "表头与模板不符", "wrong_template")


# -- the rows -----------------------------------------------------------------

_SPACES = " \t\r\n\v\f\xa0\u3000\u200b\u200c\u200d\u2060\ufeff"


def _blank(value):
    if value is None or value == "":
        return True
    return isinstance(value, str) and not value.strip(_SPACES)


class _CodeCache:
    """Resolves each distinct typed value of a coded column once per file,
    handing the validation the bare code (which it reads at once)."""

    def __init__(self):
        self.known = {name: {} for name in CODED}

    def __call__(self, name, value):
        # Text is keyed by itself; other cells by type too (1 == 1.0 == True).
        key = value if type(value) is str else (type(value), value)
        cache = self.known[name]
        try:
            return cache[key]
        except KeyError:
            hit = cache[key] = codes.resolve(CODED[name], value) or value
            return hit
        except TypeError:  # an unhashable cell value: left to the validation
            return value


def _key(cert_type, cert_no):
    """The person key of a row, or None where the number cannot name one
    person: blank, unknown type, or a float whose digits Excel dropped
    (two such rows are not the same person; the validation says why)."""
    if cert_type not in codes.CERT_TYPES or _blank(cert_no):
        return None
    if isinstance(cert_no, float) and not (cert_no.is_integer() and abs(cert_no) < 1e15):
        return None
    return cert_type, normalise_cert_no(cert_type, cert_no)


def read_rows(sheet, business_type):
    """Every non-blank row below the header as a Row, or refuses the file.

    Duplicates of one person within the file: the first occurrence is
    declared, each later one is rejected naming the first row."""
    check_version(sheet, business_type)
    header_index, mapping = header_map(sheet, business_type)
    resolve = _CodeCache()
    formula_columns = {col for (_r, col) in sheet.formulas} & set(mapping)
    items = list(mapping.items())
    coded = {name for _col, name in items if name in CODED}
    rows, first_of = [], {}
    for index in range(header_index + 1, len(sheet.rows)):
        cells = sheet.rows[index]
        raw = {}
        blank = True
        for col, name in items:
            value = cells[col] if col < len(cells) else None
            raw[name] = value
            if blank and not _blank(value):
                blank = False
        formulas = ()
        if formula_columns:
            formulas = [name for col, name in items if (index, col) in sheet.formulas]
            for col, name in items:
                if (index, col) in sheet.formulas:
                    raw[name] = sheet.formulas[(index, col)]
                    blank = False
        if blank:
            continue
        typed = {}
        for name in coded:
            value = raw[name]
            code = resolve(name, value)
            if code is not value and code != value:
                typed[name] = value
                raw[name] = code
        row = Row(index + 1, raw, _key(raw.get("cert_type"), raw.get("cert_no")), typed=typed)
        for name in formulas:
            row.reject(f"{FIELD_LABELS[name]}含有公式，请直接填写内容（可复制后“选择性粘贴为数值”）", name)
        if row.key is not None:
            first = first_of.setdefault(row.key, row.number)
            if first != row.number:
                row.reject(f"与第{first}行是同一人，同一文件中每人只能填写一次")
        rows.append(row)
    if not rows:
        _refuse("文件中没有数据行，请在模板第2行起填写后再导入", "没有数据行", "no_rows")
    return rows
