"""Certificate numbers of persons: normalisation, format and check-character
rules (GB 11643-1999 for 居民身份证), and what a number tells about its holder.

`normalise_cert_no` only rewrites text, so that the same person always gets
the same key; `check_cert_no` also judges the number and says why it is wrong.
"""
import re
from dataclasses import dataclass
from datetime import date

from common.codes import CERT_TYPES

ID_CARD = "01"
RESIDENCE_PERMIT = "17"  # 港澳台居民居住证: numbered like an ID card
# Region codes of residence permits: 81 Hong Kong, 82 Macao, 83 Taiwan.
PERMIT_PREFIXES = ("81", "82", "83")

# Types whose number carries the holder's birth date and gender.
DERIVING_TYPES = (ID_CARD, RESIDENCE_PERMIT)

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"

MAX_LENGTH = 30
EARLIEST_BIRTH_DATE = date(1900, 1, 1)

EXCEL_NUMBER_ERROR = "证件号码被Excel转换为数字，末尾数字已丢失，请将该列设置为文本格式后重新填写"

# Characters that copy-paste from web pages and Word brings along unseen and
# that str.split() does not count as whitespace.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
# Full-width ASCII (U+FF01..U+FF5E) maps to ASCII by a fixed offset.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_SCIENTIFIC = re.compile(r"\d(\.\d+)?E\+?\d+")

# Shapes of the other certificate types: (pattern, reason when it fails).
# Kept permissive where the real numbers vary (officers' cards, "other").
_SHAPES = {
    "02": (r"[0-9A-Z\u4e00-\u9fff()\-]{1,30}", "军官证号码只能包含汉字、字母和数字，最多30位"),
    "03": (r"[0-9A-Z\u4e00-\u9fff()\-]{1,30}", "警官证号码只能包含汉字、字母和数字，最多30位"),
    "04": (r"[HM]\d{8}(\d{2})?", "港澳居民来往内地通行证号码应为H或M开头加8位或10位数字"),
    "05": (r"[HM]\d{8}(\d{2})?", "港澳居民来往内地通行证号码应为H或M开头加8位或10位数字"),
    "06": (r"\d{8}(\d{2})?", "台湾居民来往大陆通行证号码应为8位或10位数字"),
    "07": (r"[0-9A-Z]{8,18}", "外国人永久居留证号码应为8至18位字母或数字"),
    "08": (r"[0-9A-Z]{5,17}", "护照号码应为5至17位字母或数字"),
    "16": (r"[0-9A-Z]{5,17}", "护照号码应为5至17位字母或数字"),
    "99": (r"[^\s]{1,30}", "证件号码最多30位"),
}


class InvalidCertNo(ValueError):
    """A certificate number that cannot be accepted; `message` says why, in
    words a community worker can act on."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CertInfo:
    cert_type: str
    cert_no: str  # normalised; a 15-digit ID upgraded to 18
    gender: str | None  # "1" 男 / "2" 女 where the number carries it
    birth_date: date | None
    upgraded: bool = False  # given as a 15-digit legacy ID number

    @property
    def derived(self):
        """Whether gender and birth date come from the number."""
        return self.birth_date is not None


def check_character(first17):
    """The GB 11643-1999 check character of the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=False))
    return CHECK_CHARACTERS[total % 11]


def upgrade_legacy_id(number15):
    """The 18-digit form of a 15-digit ID number (issued before 1999, all
    holders born in the 1900s)."""
    first17 = number15[:6] + "19" + number15[6:]
    return first17 + check_character(first17)


def _text(raw):
    if raw is None or isinstance(raw, bool):
        return ""
    if isinstance(raw, float):
        # Integral floats are the digits Excel kept; repr of the rest keeps
        # the exponent visible, which _is_excel_number recognises.
        return str(int(raw)) if raw.is_integer() else repr(raw)
    return str(raw)


def _clean(raw):
    text = _text(raw).translate(_INVISIBLE).translate(_FULL_WIDTH)
    return "".join(text.split()).upper()


def _is_legacy_id(cert_type, text):
    return cert_type == ID_CARD and len(text) == 15 and text.isdigit()


def normalise_cert_no(cert_type, raw):
    """`raw` as stored: no whitespace or invisible characters, full-width
    characters as ASCII, letters upper case (so a final x is X); a 15-digit
    ID card number upgraded to 18 digits. Does not judge validity."""
    text = _clean(raw)
    return upgrade_legacy_id(text) if _is_legacy_id(cert_type, text) else text


def person_key(cert_type, cert_no):
    """The id of a person's event stream, e.g. "01:350503199001011234"."""
    return f"{cert_type}:{normalise_cert_no(cert_type, cert_no)}"


def derives_person_data(cert_type):
    """Whether a number of this type carries gender and birth date, which
    then need not (and through 变更 cannot) be given separately."""
    return cert_type in DERIVING_TYPES


def _is_excel_number(raw):
    # Excel keeps 15 significant digits: a number cell of 16 digits or more
    # has lost its tail, and one shown as 3.50503E+17 has lost it for sure.
    if isinstance(raw, bool):
        return False
    if isinstance(raw, float):
        return not raw.is_integer() or abs(raw) >= 1e15
    if isinstance(raw, int):
        return abs(raw) >= 10**15
    return bool(_SCIENTIFIC.fullmatch(_text(raw).strip().upper()))


def _birth_date(digits8):
    try:
        return date(int(digits8[:4]), int(digits8[4:6]), int(digits8[6:8]))
    except ValueError:
        return None


def _check_id_like(number, noun, today):
    """Rules shared by 居民身份证 and 港澳台居民居住证 (same structure)."""
    if len(number) != 18:
        raise InvalidCertNo(f"{noun}应为18位")
    if not (number[:17].isdigit() and (number[17].isdigit() or number[17] == "X")):
        raise InvalidCertNo(f"{noun}只能包含数字，最后一位可以是X")
    born = _birth_date(number[6:14])
    if born is None or born < EARLIEST_BIRTH_DATE:
        raise InvalidCertNo(f"{noun}中的出生日期不存在")
    if born > today:
        raise InvalidCertNo("出生日期不能晚于今天")
    if check_character(number[:17]) != number[17]:
        raise InvalidCertNo(f"{noun}校验位不正确，请核对")
    gender = "1" if int(number[16]) % 2 else "2"
    return gender, born


def check_cert_no(cert_type, raw, today):
    """The CertInfo of a valid number, else raises InvalidCertNo.

    `cert_type` is a code of CERT_TYPES; `today` is the business date (a
    birth date after it is refused), passed in because only the caller knows
    the business time zone.
    """
    if cert_type not in CERT_TYPES:
        raise InvalidCertNo("证件类型不正确，请选择证件类型")
    text = _clean(raw)
    if not text:
        raise InvalidCertNo("证件号码不能为空")
    if isinstance(raw, float) and _is_excel_number(raw):
        # Even when the check character happens to fit, these are not the
        # digits that were typed.
        raise InvalidCertNo(EXCEL_NUMBER_ERROR)
    upgraded = _is_legacy_id(cert_type, text)
    number = upgrade_legacy_id(text) if upgraded else text
    try:
        return _check(cert_type, number, upgraded, today)
    except InvalidCertNo:
        if _is_excel_number(raw):
            raise InvalidCertNo(EXCEL_NUMBER_ERROR) from None
        raise


def _check(cert_type, number, upgraded, today):
    if cert_type == ID_CARD:
        if len(number) == 18 and number[:2] in PERMIT_PREFIXES:
            raise InvalidCertNo("该号码为港澳台居民居住证号码，请将证件类型选为港澳台居民居住证")
        gender, born = _check_id_like(number, "身份证号码", today)
        return CertInfo(cert_type, number, gender, born, upgraded)
    if cert_type == RESIDENCE_PERMIT:
        if number[:2] not in PERMIT_PREFIXES:
            raise InvalidCertNo("港澳台居民居住证号码应为18位，以81、82或83开头")
        gender, born = _check_id_like(number, "居住证号码", today)
        return CertInfo(cert_type, number, gender, born)
    if len(number) > MAX_LENGTH:
        raise InvalidCertNo(f"证件号码不能超过{MAX_LENGTH}位")
    pattern, reason = _SHAPES[cert_type]
    if not re.fullmatch(pattern, number):
        raise InvalidCertNo(reason)
    return CertInfo(cert_type, number, None, None)


def cert_no_error(cert_type, raw, today):
    """None when the number is valid, else the Chinese reason."""
    try:
        check_cert_no(cert_type, raw, today)
    except InvalidCertNo as error:
        return error.message
    return None
