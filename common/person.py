"""Validation of the person fields of declarations (参保, 暂停参保, 变更).

Plain functions over plain dicts, shared by the declarations service, the
batch Excel import and the gateway, so a row of a file and a web form are
judged by the same rules. Input values are as typed or as an Excel cell holds
them (str, int, float, date/datetime or None). Each validate_* returns
`(clean, errors)`: `errors` maps a field to a list of Chinese reasons and is
empty when the input is valid; `clean` then holds codes (not labels), dates as
`date`, and the normalised certificate number.
"""
import re
import unicodedata
from datetime import date, datetime, timedelta

from common import codes
from common.identity import InvalidCertNo, check_cert_no, derives_person_data

ENROLMENT_FIELDS = (
    "cert_type", "cert_no", "name", "gender", "birth_date", "nation",
    "category", "phone", "hukou_address", "address", "remark",
)
SUSPENSION_FIELDS = ("cert_type", "cert_no", "name", "reason", "remark")
CHANGEABLE_FIELDS = (
    "name", "gender", "birth_date", "nation", "phone",
    "hukou_address", "address", "category",
)

FIELD_LABELS = {
    "cert_type": "证件类型",
    "cert_no": "证件号码",
    "name": "姓名",
    "gender": "性别",
    "birth_date": "出生日期",
    "nation": "民族",
    "category": "人员类别",
    "phone": "联系电话",
    "hukou_address": "户籍地址",
    "address": "居住地址",
    "remark": "备注",
    "reason": "暂停原因",
}

NAME_MAX = 50
ADDRESS_MAX = 200
REMARK_MAX = 500
EARLIEST_DATE = date(1900, 1, 1)

# Dots people type inside minority and foreign names (• bullet, ・ and ･
# Japanese-style middle dots, ‧ hyphenation point, ∙ ⋅ operators); the
# register keeps the one middle dot U+00B7.
_NAME_DOTS = dict.fromkeys(map(ord, "•・･‧∙⋅"), "·")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_DASHES = dict.fromkeys(map(ord, "—–‐‑−"), "-")

_MOBILE = re.compile(r"1[3-9]\d{9}")
# Area codes: 010 and 02x have three digits, all others four; the local
# number has 7 or 8 digits and does not begin with 0 or 1.
_LANDLINE = re.compile(r"\(?(0(?:10|2\d|[3-9]\d{2}))\)?-?([2-9]\d{6,7})(?:-(\d{1,6}))?")

_DATE_SEPARATED = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
# A time part that str(datetime) or pandas adds to a date cell.
_TIME_SUFFIX = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")
# Excel's day 0 of the 1900 date system (its 1900-02-29 bug included).
_EXCEL_EPOCH = date(1899, 12, 30)
# Serial numbers arrive when dates are pasted as values into a General
# column. Below 10000 (1927) a number is more likely a year or a typo.
_EXCEL_SERIAL_MIN, _EXCEL_SERIAL_MAX = 10000, 100000


# -- text -------------------------------------------------------------------

def text_of(value):
    """A cell or form value as trimmed text ("" for blank): integral floats
    lose their ".0" (Excel stores 13800138000 as a float), dates become ISO."""
    if type(value) is str:  # the common case, first
        return value.translate(_INVISIBLE).strip()
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() else str(value)
    elif isinstance(value, datetime):
        text = value.date().isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    return text.translate(_INVISIBLE).strip()


def _blank(value):
    return text_of(value) == ""


def _ascii_digits(text):
    # NFKC folds full-width digits, letters, brackets and spaces to ASCII.
    return unicodedata.normalize("NFKC", text)


# -- dates ------------------------------------------------------------------

def parse_date(value, label="日期"):
    """A date from a date cell, an Excel serial number or a string such as
    1990-01-01, 1990/1/1, 1990.1.1, 19900101 or 1990年1月1日.

    None for a blank value; raises ValueError with a Chinese reason (naming
    `label`) for anything else that is not a real date.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if _EXCEL_SERIAL_MIN <= value < _EXCEL_SERIAL_MAX and float(value).is_integer():
            return _EXCEL_EPOCH + timedelta(days=int(value))
    text = _TIME_SUFFIX.sub("", _ascii_digits(text_of(value)))
    text = "".join(text.split())
    if not text:
        return None
    match = _DATE_SEPARATED.fullmatch(text) or _DATE_COMPACT.fullmatch(text)
    if not match:
        raise ValueError(f"{label}格式不正确，请按1990-01-01的格式填写")
    year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{label}不存在：{text}") from None


def age_on(birth_date, today):
    """Whole years of age on `today` (the birthday itself counts)."""
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - before_birthday


def category_age_error(category, birth_date, today):
    """None when a person born on `birth_date` may be of `category` (a code)
    on `today`, else the Chinese reason. Rules: codes.CATEGORY_AGE_RULES."""
    rule = codes.CATEGORY_AGE_RULES.get(category)
    if rule is None or birth_date is None:
        return None
    minimum, maximum = rule
    age = age_on(birth_date, today)
    name = codes.CATEGORIES[category]
    if minimum is not None and age < minimum:
        return f"人员类别为{name}时，年龄应满{minimum}周岁（按出生日期现为{age}周岁）"
    if maximum is not None and age >= maximum:
        return f"人员类别为{name}时，年龄应未满{maximum}周岁（按出生日期现为{age}周岁）"
    return None


# -- single fields: each returns the clean value or raises ValueError ---------

def clean_name(value):
    name = " ".join(_ascii_letters(text_of(value)).split()).translate(_NAME_DOTS)
    name = re.sub(r" ?· ?", "·", name)
    if not name:
        raise ValueError("请填写姓名")
    if len(name) > NAME_MAX:
        raise ValueError(f"姓名不能超过{NAME_MAX}个字")
    for char in name:
        if not (char.isalpha() or char in "·〇 "):
            raise ValueError(f"姓名只能包含汉字、字母、·和空格，不能含有“{char}”")
    if name[0] == "·" or name[-1] == "·":
        raise ValueError("姓名中的·不能在开头或结尾")
    return name


def _ascii_letters(text):
    # Full-width Latin letters to ASCII; leaves Chinese characters alone
    # (NFKC would also rewrite some rare characters used in names).
    return "".join(
        chr(ord(c) - 0xFEE0) if "\uff21" <= c <= "\uff3a" or "\uff41" <= c <= "\uff5a" else c
        for c in text
    )


def clean_phone(value):
    """A mobile number as 11 digits, a landline as 0595-22345678."""
    text = _ascii_digits(text_of(value)).translate(_DASHES)
    text = "".join(text.split())
    if not text:
        raise ValueError("请填写联系电话")
    mobile = re.sub(r"^(\+?86)(?=1\d{10}$)", "", text.replace("-", ""))
    if _MOBILE.fullmatch(mobile):
        return mobile
    match = _LANDLINE.fullmatch(text.replace("转", "-"))
    if match:
        area, local, extension = match.groups()
        return f"{area}-{local}" + (f"-{extension}" if extension else "")
    raise ValueError("联系电话应为11位手机号码或带区号的固定电话（如0595-22345678）")


def clean_gender(value):
    text = text_of(value)
    if not text:
        raise ValueError("请填写性别")
    code = codes.resolve(codes.GENDERS, text.removesuffix("性"))
    if code is None:
        raise ValueError(f"性别不正确：{text}，请填写男或女")
    if code not in codes.DECLARABLE_GENDERS:
        raise ValueError("性别只能填写男或女")
    return code


def clean_birth_date(value, today):
    born = parse_date(value, "出生日期")
    if born is None:
        raise ValueError("请填写出生日期")
    if born > today:
        raise ValueError("出生日期不能晚于今天")
    if born < EARLIEST_DATE:
        raise ValueError("出生日期不能早于1900年1月1日")
    return born


def clean_nation(value):
    text = text_of(value)
    # "汉族" is how most people write 汉; the table holds the bare name.
    code = codes.resolve(codes.NATIONS, text) or codes.resolve(
        codes.NATIONS, text.removesuffix("族")
    )
    if code is None:
        raise ValueError(f"民族不正确：{text}，请从下拉列表中选择")
    return code


def clean_coded(table, value, label):
    text = text_of(value)
    if not text:
        raise ValueError(f"请选择{label}")
    code = codes.resolve(table, value)
    if code is None:
        raise ValueError(f"{label}不正确：{text}，请从下拉列表中选择")
    return code


def clean_text(value, label, maximum):
    """Free text with whitespace runs (newlines, full-width spaces) collapsed;
    None when blank."""
    text = " ".join(text_of(value).split())
    if len(text) > maximum:
        raise ValueError(f"{label}不能超过{maximum}个字")
    return text or None


def clean_field(field, value, today):
    """The clean value of one field, None for a blank optional one; raises
    ValueError with a Chinese reason. For forms that check field by field."""
    if field == "name":
        return clean_name(value)
    if field == "gender":
        return clean_gender(value)
    if field == "birth_date":
        return clean_birth_date(value, today)
    if field == "phone":
        return clean_phone(value)
    if field == "category":
        return clean_coded(codes.CATEGORIES, value, FIELD_LABELS[field])
    if field == "reason":
        return clean_coded(codes.SUSPENSION_REASONS, value, FIELD_LABELS[field])
    if field == "nation":
        return None if _blank(value) else clean_nation(value)
    if field in ("hukou_address", "address"):
        return clean_text(value, FIELD_LABELS[field], ADDRESS_MAX)
    if field == "remark":
        return clean_text(value, FIELD_LABELS[field], REMARK_MAX)
    raise KeyError(field)


# -- whole commands ---------------------------------------------------------

class _Collector:
    """Gathers clean values and per-field reasons while validating."""

    def __init__(self, today):
        self.today = today
        self.clean = {}
        self.errors = {}

    def add_error(self, field, reason):
        self.errors.setdefault(field, []).append(reason)

    def field(self, field, value, key=None):
        """Cleans `value` as `field`; reasons are filed under `key`."""
        try:
            self.clean[key or field] = clean_field(field, value, self.today)
        except ValueError as error:
            self.clean[key or field] = None
            self.add_error(key or field, str(error))
        return self.clean[key or field]


def _certificate(out, data):
    """Validates cert_type and cert_no; the CertInfo, or None."""
    try:
        cert_type = clean_coded(codes.CERT_TYPES, data.get("cert_type"), "证件类型")
    except ValueError as error:
        cert_type = None
        out.add_error("cert_type", str(error))
    out.clean["cert_type"] = cert_type
    raw = data.get("cert_no")
    out.clean["cert_no"] = text_of(raw) or None
    if _blank(raw):
        out.add_error("cert_no", "请填写证件号码")
        return None
    if cert_type is None:
        return None  # the number's rules depend on the type
    try:
        info = check_cert_no(cert_type, raw, out.today)
    except InvalidCertNo as error:
        out.add_error("cert_no", error.message)
        return None
    out.clean["cert_no"] = info.cert_no
    return info


def _noun(cert_type):
    return "身份证号码" if cert_type == "01" else "证件号码"


def _differs(field, value, derived, today):
    # Only a readable value that differs counts: a derived value the form
    # repeats in an odd format is not worth an error.
    try:
        return clean_field(field, value, today) != derived
    except ValueError:
        return False


def _person_data(out, data, info):
    """gender and birth_date: derived from the number where it carries them
    (and then only checked for agreement), else required input."""
    cert_type = out.clean["cert_type"]
    for field in ("gender", "birth_date"):
        value = data.get(field)
        if info is not None and info.derived:
            out.clean[field] = getattr(info, field)
            if not _blank(value) and _differs(field, value, out.clean[field], out.today):
                out.add_error(field, f"{FIELD_LABELS[field]}与{_noun(cert_type)}不一致")
        elif _blank(value) and (cert_type is None or derives_person_data(cert_type)):
            # Not demanded while a bad type or ID number hides whether the
            # number would have carried them.
            out.clean[field] = None
        else:
            out.field(field, value)


def validate_enrolment(data, today):
    """(clean, errors) for the person fields of a 城乡居民参保 declaration."""
    out = _Collector(today)
    info = _certificate(out, data)
    out.field("name", data.get("name"))
    _person_data(out, data, info)
    for field in ("nation", "category", "phone", "hukou_address", "address", "remark"):
        out.field(field, data.get(field))
    category, born = out.clean["category"], out.clean["birth_date"]
    if category and born:
        reason = category_age_error(category, born, today)
        if reason:
            out.add_error("category", reason)
    return {field: out.clean[field] for field in ENROLMENT_FIELDS}, out.errors


def validate_suspension(data, today):
    """(clean, errors) for a 城乡居民暂停参保 declaration."""
    out = _Collector(today)
    _certificate(out, data)
    for field in ("name", "reason", "remark"):
        out.field(field, data.get(field))
    if out.clean["reason"] == codes.SUSPENSION_REASON_OTHER and not out.clean["remark"]:
        out.add_error("remark", "暂停原因为其他时，备注必填")
    return {field: out.clean[field] for field in SUSPENSION_FIELDS}, out.errors


def validate_change(data, today):
    """(clean, errors) for a 城乡居民变更 declaration.

    `data["changes"]` holds new values of CHANGEABLE_FIELDS; reasons about
    them are keyed "changes.<field>". A blank value clears an optional field
    (nation, addresses). The age rule of a category is checked here where the
    birth date is known from the number or the changes; otherwise the service
    applies `category_age_error` with the stored birth date.
    """
    out = _Collector(today)
    info = _certificate(out, data)
    out.field("name", data.get("name"))
    changes = data.get("changes")
    if not isinstance(changes, dict) or not changes:
        out.add_error("changes", "请填写需要变更的内容")
        changes = {}
    derived = info is not None and info.derived
    new = {}
    for field, value in changes.items():
        key = f"changes.{field}"
        if field in ("cert_no", "cert_type"):
            out.add_error(key, "证件号码不可变更")
        elif field not in CHANGEABLE_FIELDS:
            out.add_error(key, f"不支持变更该项：{field}")
        elif field in ("gender", "birth_date") and derived:
            # A blank or unchanged value (a form sending every field) asks
            # for no change; anything else would contradict the number.
            if not _blank(value) and _differs(field, value, getattr(info, field), today):
                out.add_error(key, f"{_noun(info.cert_type)}已包含性别和出生日期，不可单独变更")
        else:
            value = out.field(field, value, key)
            if key not in out.errors:
                new[field] = value
    if changes and not new and not out.errors:
        out.add_error("changes", "请填写需要变更的内容")
    born = new.get("birth_date") or (info.birth_date if info else None)
    if new.get("category") and born:
        reason = category_age_error(new["category"], born, today)
        if reason:
            out.add_error("changes.category", reason)
    clean = {field: out.clean[field] for field in ("cert_type", "cert_no", "name")}
    clean["changes"] = new
    return clean, out.errors
