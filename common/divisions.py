"""Quanzhou's county-level divisions (GB/T 2260), the `division` of every
unit, and the helpers that read one out of a 统一社会信用代码.

Codes are stored in auth (units) and in declarations (the campaign
projections): never reuse or renumber one. `UNASSIGNED` is the division of
a unit whose credit code names none of the twelve, until an operator sets it.
"""

DIVISIONS = {
    "350502": "鲤城区",
    "350503": "丰泽区",
    "350504": "洛江区",
    "350505": "泉港区",
    "350521": "惠安县",
    "350524": "安溪县",
    "350525": "永春县",
    "350526": "德化县",
    "350527": "金门县",
    "350581": "石狮市",
    "350582": "晋江市",
    "350583": "南安市",
}

UNASSIGNED = "000000"
UNASSIGNED_NAME = "未分区"

# Every division a stored unit may have, in display order.
ALL_DIVISIONS = {**DIVISIONS, UNASSIGNED: UNASSIGNED_NAME}

STREET_MAX = 50


def division_name(code):
    return ALL_DIVISIONS.get(code or UNASSIGNED, UNASSIGNED_NAME)


def division_of_credit_code(credit_code):
    """The division named by characters 3–8 of a credit code (its
    administrative division code) when it is one of the twelve, else
    UNASSIGNED."""
    region = (credit_code or "")[2:8]
    return region if region in DIVISIONS else UNASSIGNED


def division_code(value):
    """A division given as its code or its name (an Excel cell), or None."""
    value = (value or "").strip() if isinstance(value, str) else str(value or "").strip()
    if value in DIVISIONS:
        return value
    for code, name in DIVISIONS.items():
        if value == name or value == f"{code} {name}" or value == f"{name}（{code}）":
            return code
    return None


def division_errors(division, street, required=True):
    """{field: [reason]} for a unit's division and 乡镇/街道."""
    errors = {}
    if division is None or division == "":
        if required:
            errors["division"] = ["请选择所属区县"]
    elif division not in DIVISIONS:
        errors["division"] = ["所属区县不正确，应为泉州市的12个县级行政区之一"]
    street = (street or "").strip() if isinstance(street, str) else street
    if not street:
        if required:
            errors["street"] = ["请填写乡镇/街道"]
    elif len(street) > STREET_MAX:
        errors["street"] = [f"乡镇/街道不能超过{STREET_MAX}个字"]
    return errors
