"""Code tables of the domain (docs/domain.md "Code tables"), the one source of truth.

Each table is an ordered mapping code -> Chinese label; the order is the order
of dropdowns. `resolve` reads what a person typed or an Excel cell holds.
"""
import re
import unicodedata

CERT_TYPES = {
    "01": "居民身份证（户口簿）",
    "02": "中国人民解放军军官证",
    "03": "中国人民武装警察警官证",
    "04": "香港特区护照/港澳居民来往内地通行证",
    "05": "澳门特区护照/港澳居民来往内地通行证",
    "06": "台湾居民来往大陆通行证",
    "07": "外国人永久居留证",
    "08": "外国人护照",
    "16": "中国护照",
    "17": "港澳台居民居住证",
    "99": "其他身份证件",
}

# GB/T 2261.1. 0 and 9 exist in the standard (and in data received from
# elsewhere) but a declaration must say 男 or 女: see DECLARABLE_GENDERS.
GENDERS = {"0": "未知的性别", "1": "男", "2": "女", "9": "未说明的性别"}
DECLARABLE_GENDERS = ("1", "2")

NATIONS = {
    "01": "汉", "02": "蒙古", "03": "回", "04": "藏", "05": "维吾尔", "06": "苗",
    "07": "彝", "08": "壮", "09": "布依", "10": "朝鲜", "11": "满", "12": "侗",
    "13": "瑶", "14": "白", "15": "土家", "16": "哈尼", "17": "哈萨克", "18": "傣",
    "19": "黎", "20": "傈僳", "21": "佤", "22": "畲", "23": "高山", "24": "拉祜",
    "25": "水", "26": "东乡", "27": "纳西", "28": "景颇", "29": "柯尔克孜",
    "30": "土", "31": "达斡尔", "32": "仫佬", "33": "羌", "34": "布朗", "35": "撒拉",
    "36": "毛南", "37": "仡佬", "38": "锡伯", "39": "阿昌", "40": "普米",
    "41": "塔吉克", "42": "怒", "43": "乌孜别克", "44": "俄罗斯", "45": "鄂温克",
    "46": "德昂", "47": "保安", "48": "裕固", "49": "京", "50": "塔塔尔",
    "51": "独龙", "52": "鄂伦春", "53": "赫哲", "54": "门巴", "55": "珞巴",
    "56": "基诺", "97": "其他", "98": "外国血统中国籍人士",
}

CATEGORIES = {
    "11": "成年居民",
    "12": "老年居民",
    "13": "未成年居民",
    "14": "在校大中专学生",
    "21": "低保对象",
    "22": "特困人员",
    "23": "重度残疾人",
    "24": "低收入人口",
    "25": "防返贫监测对象",
    "99": "其他",
}

# Age limits per category, in whole years on the day of declaration:
# (minimum age, inclusive; maximum age, exclusive), None = no limit.
# Kept next to CATEGORIES so that a region changes both in one place.
CATEGORY_AGE_RULES = {
    "11": (18, None),
    "12": (60, None),
    "13": (None, 18),
}

SUSPENSION_REASONS = {
    "01": "死亡",
    "02": "参加职工基本医疗保险",
    "03": "迁出本统筹区",
    "04": "重复参保",
    "05": "参军入伍",
    "06": "出国（境）定居",
    "99": "其他",
}
# The reason whose declaration needs a remark saying what happened.
SUSPENSION_REASON_OTHER = "99"

STATUS = {"active": "正常参保", "suspended": "暂停参保"}

BUSINESS_TYPES = {
    "enrolment": "城乡居民参保",
    "suspension": "城乡居民暂停参保",
    "change": "城乡居民变更",
}

ACTIONS = {"new_enrolment": "新参保", "transfer_in": "调入", "resume": "恢复参保"}

# Separators people put between a code and its label ("01-汉", "01：汉").
_SEPARATORS = "-_:：.、|"


def _fold(text):
    # NFKC turns full-width digits, letters and brackets into ASCII, so that
    # "０１" and "01", "（" and "(" compare equal; all whitespace (U+3000 too)
    # and case are irrelevant to a code.
    text = unicodedata.normalize("NFKC", text)
    return "".join(text.split()).casefold()


def _as_text(value):
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        # An Excel number cell: 1.0 means the code typed as 1.
        return str(int(value)) if value.is_integer() else None
    return str(value)


def _by_number(table, digits):
    # A numeric code typed without its leading zero (Excel turns "01" into
    # 1): accepted only where exactly one code has that value.
    number = int(digits)
    found = [code for code in table if code.isdigit() and int(code) == number]
    return found[0] if len(found) == 1 else None


# Answers of `resolve` for the tables above (constants, so their ids are
# stable), per distinct value: a batch file repeats a few values thousands
# of times. Bounded, since the values come from users.
_MEMO_TABLES = None
_MEMO_LIMIT = 5000


def resolve(table, value):
    """The code of `table` that `value` names, or None.

    `value` may be the code, its label, or "code label" as a dropdown shows
    it; spaces, full-width characters and a lost leading zero are tolerated.
    """
    global _MEMO_TABLES
    if _MEMO_TABLES is None:
        _MEMO_TABLES = {id(t): {} for t in (CERT_TYPES, GENDERS, NATIONS, CATEGORIES,
                                              SUSPENSION_REASONS, STATUS, BUSINESS_TYPES, ACTIONS)}
    memo = _MEMO_TABLES.get(id(table))
    if memo is None:
        return _resolve(table, value)
    key = (type(value), value)
    try:
        return memo[key]
    except KeyError:
        code = _resolve(table, value)
        if len(memo) < _MEMO_LIMIT:
            memo[key] = code
        return code
    except TypeError:  # unhashable
        return _resolve(table, value)


def _resolve(table, value):
    text = _as_text(value)
    if text is None:
        return None
    folded = _fold(text)
    if not folded:
        return None
    for code, label in table.items():
        if folded in (_fold(code), _fold(label), _fold(code + label)):
            return code
    match = re.fullmatch(r"(\d+)(.*)", folded)
    if not match:
        return None
    code = _by_number(table, match.group(1))
    rest = match.group(2).lstrip(_SEPARATORS)
    if code is None or (rest and rest != _fold(table[code])):
        return None
    return code


def label(table, code):
    """The label of `code`, or None for an unknown code."""
    return table.get(code)


def dropdown_items(table):
    """["01 居民身份证（户口簿）", ...]: the entries of an Excel or web dropdown,
    each of which `resolve` reads back."""
    return [f"{code} {text}" for code, text in table.items()]
