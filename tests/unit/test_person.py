"""Validation of the person fields of 参保, 暂停参保 and 变更 declarations."""
from datetime import date, datetime

import pytest

from common.identity import EXCEL_NUMBER_ERROR
from common.person import (
    ENROLMENT_FIELDS,
    FIELD_LABELS,
    SUSPENSION_FIELDS,
    category_age_error,
    clean_name,
    clean_phone,
    parse_date,
    validate_change,
    validate_enrolment,
    validate_suspension,
)

TODAY = date(2026, 11, 27)


def with_check(first17):
    """An independent GB 11643 check character: weights are 2^(17-i) mod 11."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    return first17 + "10X98765432"[total % 11]


MAN_1990 = with_check("35050319900101123")  # male, born 1990-01-01
WOMAN_1950 = with_check("35050319500615124")  # female, born 1950-06-15
CHILD_2015 = with_check("35050320150301125")  # male, born 2015-03-01


def enrolment(**overrides):
    data = {
        "cert_type": "01 居民身份证（户口簿）",
        "cert_no": MAN_1990,
        "name": "张三",
        "category": "11 成年居民",
        "phone": "13805951234",
    }
    data.update(overrides)
    return data


def passport_enrolment(**overrides):
    data = enrolment(cert_type="08", cert_no="E12345678", name="John Smith",
                     gender="男", birth_date="1990-01-01")
    data.update(overrides)
    return data


# -- enrolment ----------------------------------------------------------------

def test_minimal_id_card_enrolment_is_valid():
    clean, errors = validate_enrolment(enrolment(), TODAY)
    assert errors == {}
    assert clean["cert_type"] == "01"
    assert clean["category"] == "11"


def test_clean_enrolment_holds_every_field_in_order():
    clean, _ = validate_enrolment(enrolment(), TODAY)
    assert tuple(clean) == ENROLMENT_FIELDS


def test_id_card_derives_gender_and_birth_date():
    clean, _ = validate_enrolment(enrolment(), TODAY)
    assert (clean["gender"], clean["birth_date"]) == ("1", date(1990, 1, 1))


def test_cert_no_is_normalised():
    spaced = f" {MAN_1990[:6]}\u3000{MAN_1990[6:]} "
    clean, errors = validate_enrolment(enrolment(cert_no=spaced), TODAY)
    assert errors == {}
    assert clean["cert_no"] == MAN_1990


def test_gender_agreeing_with_the_id_is_accepted():
    assert validate_enrolment(enrolment(gender="1 男"), TODAY)[1] == {}


def test_gender_disagreeing_with_the_id_is_refused():
    _, errors = validate_enrolment(enrolment(gender="女"), TODAY)
    assert errors == {"gender": ["性别与身份证号码不一致"]}


def test_birth_date_disagreeing_with_the_id_is_refused():
    _, errors = validate_enrolment(enrolment(birth_date="1990-01-02"), TODAY)
    assert errors == {"birth_date": ["出生日期与身份证号码不一致"]}


def test_birth_date_agreeing_with_the_id_is_accepted_as_a_date_cell():
    assert validate_enrolment(enrolment(birth_date=datetime(1990, 1, 1)), TODAY)[1] == {}


@pytest.mark.parametrize("field", ["cert_type", "cert_no", "name", "category", "phone"])
def test_required_field_missing_is_refused(field):
    _, errors = validate_enrolment(enrolment(**{field: "  "}), TODAY)
    assert list(errors) == [field]


def test_passport_needs_gender_and_birth_date():
    _, errors = validate_enrolment(passport_enrolment(gender=None, birth_date=""), TODAY)
    assert errors == {"gender": ["请填写性别"], "birth_date": ["请填写出生日期"]}


def test_gender_is_not_demanded_while_the_id_number_is_bad():
    _, errors = validate_enrolment(enrolment(cert_no="3505031990"), TODAY)
    assert list(errors) == ["cert_no"]


def test_residence_permit_derives_gender_and_birth_date():
    permit = with_check("81000019900101124")
    clean, errors = validate_enrolment(enrolment(cert_type="17", cert_no=permit), TODAY)
    assert errors == {}
    assert (clean["gender"], clean["birth_date"]) == ("2", date(1990, 1, 1))


def test_passport_enrolment_with_gender_and_birth_date_is_valid():
    clean, errors = validate_enrolment(passport_enrolment(), TODAY)
    assert errors == {}
    assert (clean["gender"], clean["birth_date"]) == ("1", date(1990, 1, 1))


def test_gender_unknown_is_not_declarable():
    _, errors = validate_enrolment(passport_enrolment(gender="9"), TODAY)
    assert errors == {"gender": ["性别只能填写男或女"]}


def test_gender_written_with_xing_is_read():
    clean, _ = validate_enrolment(passport_enrolment(gender="女性"), TODAY)
    assert clean["gender"] == "2"


def test_future_birth_date_is_refused():
    _, errors = validate_enrolment(passport_enrolment(birth_date="2026-11-28"), TODAY)
    assert errors["birth_date"] == ["出生日期不能晚于今天"]


def test_unknown_cert_type_is_refused_and_number_not_judged():
    _, errors = validate_enrolment(enrolment(cert_type="驾驶证"), TODAY)
    assert list(errors) == ["cert_type"]


def test_cert_type_typed_without_leading_zero_is_read():
    clean, errors = validate_enrolment(enrolment(cert_type=1), TODAY)
    assert (clean["cert_type"], errors) == ("01", {})


def test_bad_id_number_is_reported_on_cert_no():
    bad = MAN_1990[:17] + ("0" if MAN_1990[17] != "0" else "1")
    _, errors = validate_enrolment(enrolment(cert_no=bad), TODAY)
    assert errors == {"cert_no": ["身份证号码校验位不正确，请核对"]}


def test_id_number_turned_into_a_float_by_excel_is_refused_with_the_hint():
    _, errors = validate_enrolment(enrolment(cert_no=3.50503199001011e17), TODAY)
    assert errors == {"cert_no": [EXCEL_NUMBER_ERROR]}


def test_id_number_as_a_whole_int_is_accepted():
    assert MAN_1990[-1] != "X"
    clean, errors = validate_enrolment(enrolment(cert_no=int(MAN_1990)), TODAY)
    assert (clean["cert_no"], errors) == (MAN_1990, {})


def test_old_person_may_be_elderly_resident():
    _, errors = validate_enrolment(enrolment(cert_no=WOMAN_1950, category="12"), TODAY)
    assert errors == {}


def test_elderly_resident_under_60_is_refused():
    _, errors = validate_enrolment(enrolment(category="老年居民"), TODAY)
    assert errors == {"category": ["人员类别为老年居民时，年龄应满60周岁（按出生日期现为36周岁）"]}


def test_minor_resident_of_18_is_refused():
    _, errors = validate_enrolment(enrolment(category="13"), TODAY)
    assert "年龄应未满18周岁" in errors["category"][0]


def test_child_may_be_minor_resident():
    assert validate_enrolment(enrolment(cert_no=CHILD_2015, category="13"), TODAY)[1] == {}


def test_child_may_not_be_adult_resident():
    _, errors = validate_enrolment(enrolment(cert_no=CHILD_2015, category="11"), TODAY)
    assert "年龄应满18周岁" in errors["category"][0]


def test_category_without_age_rule_accepts_any_age():
    assert validate_enrolment(enrolment(cert_no=CHILD_2015, category="21 低保对象"), TODAY)[1] == {}


def test_unknown_category_is_refused():
    _, errors = validate_enrolment(enrolment(category="15"), TODAY)
    assert errors == {"category": ["人员类别不正确：15，请从下拉列表中选择"]}


def test_nation_is_read_from_code_label_or_name_with_zu():
    for typed in ("01", "汉", "汉族", "01 汉", 1):
        assert validate_enrolment(enrolment(nation=typed), TODAY)[0]["nation"] == "01"


def test_unknown_nation_is_refused():
    assert list(validate_enrolment(enrolment(nation="火星"), TODAY)[1]) == ["nation"]


def test_blank_optional_fields_are_none():
    clean, _ = validate_enrolment(enrolment(nation="", address=" ", remark=None), TODAY)
    assert (clean["nation"], clean["address"], clean["remark"]) == (None, None, None)


def test_address_over_200_characters_is_refused():
    _, errors = validate_enrolment(enrolment(hukou_address="泉" * 201), TODAY)
    assert errors == {"hukou_address": ["户籍地址不能超过200个字"]}


def test_remark_over_500_characters_is_refused():
    _, errors = validate_enrolment(enrolment(remark="备" * 501), TODAY)
    assert errors == {"remark": ["备注不能超过500个字"]}


def test_address_whitespace_is_collapsed():
    clean, _ = validate_enrolment(enrolment(address=" 丰泽区\u3000东海街道\n 1号 "), TODAY)
    assert clean["address"] == "丰泽区 东海街道 1号"


def test_several_bad_fields_are_all_reported():
    _, errors = validate_enrolment(enrolment(name="", phone="123", category="99 火星"), TODAY)
    assert set(errors) == {"name", "phone", "category"}


def test_unknown_input_fields_are_ignored():
    clean, errors = validate_enrolment(enrolment(row=7), TODAY)
    assert errors == {} and "row" not in clean


# -- names ------------------------------------------------------------------

def test_name_is_trimmed():
    assert clean_name("\u3000张三 ") == "张三"


@pytest.mark.parametrize("dot", ["•", "・", "･", "·"])
def test_name_dots_are_normalised_to_the_middle_dot(dot):
    assert clean_name(f"阿依{dot}买买提") == "阿依·买买提"


def test_spaces_around_the_middle_dot_are_removed():
    assert clean_name("阿依 · 买买提") == "阿依·买买提"


def test_foreign_name_with_spaces_is_accepted():
    assert clean_name("John  Smith") == "John Smith"


def test_full_width_letters_in_a_name_become_ascii():
    assert clean_name("Ｊｏｈｎ") == "John"


def test_rare_character_outside_the_basic_block_is_accepted():
    assert clean_name("王\U00020000") == "王\U00020000"


@pytest.mark.parametrize("name", ["张3", "张三（小）", "张_三", "张三!"])
def test_name_with_digits_or_symbols_is_refused(name):
    with pytest.raises(ValueError, match="姓名只能包含汉字、字母、·和空格"):
        clean_name(name)


def test_name_over_50_characters_is_refused():
    with pytest.raises(ValueError, match="姓名不能超过50个字"):
        clean_name("张" * 51)


def test_name_of_50_characters_is_accepted():
    assert clean_name("张" * 50) == "张" * 50


def test_name_starting_with_a_dot_is_refused():
    with pytest.raises(ValueError):
        clean_name("·买买提")


# -- phones -----------------------------------------------------------------

@pytest.mark.parametrize(
    "typed, stored",
    [
        ("13805951234", "13805951234"),
        (" 138 0595 1234 ", "13805951234"),
        ("１３８０５９５１２３４", "13805951234"),
        ("138-0595-1234", "13805951234"),
        ("+86 13805951234", "13805951234"),
        (13805951234, "13805951234"),
        (13805951234.0, "13805951234"),
        ("0595-22345678", "0595-22345678"),
        ("059522345678", "0595-22345678"),
        ("(0595)2234567", "0595-2234567"),
        ("（0595）22345678", "0595-22345678"),
        ("010-62345678", "010-62345678"),
        ("0595-22345678转801", "0595-22345678-801"),
    ],
)
def test_phone_is_accepted_and_normalised(typed, stored):
    assert clean_phone(typed) == stored


@pytest.mark.parametrize(
    "typed", ["12345678901", "1380595123", "22345678", "0595-123", "595-22345678", "abc"]
)
def test_bad_phone_is_refused(typed):
    with pytest.raises(ValueError, match="联系电话应为11位手机号码或带区号的固定电话"):
        clean_phone(typed)


# -- dates ------------------------------------------------------------------

@pytest.mark.parametrize(
    "typed",
    ["1990-01-01", "1990/1/1", "1990.1.1", "19900101", "1990年1月1日", " 1990-1-1 ",
     "１９９０－０１－０１", "1990-01-01 00:00:00", 19900101, date(1990, 1, 1),
     datetime(1990, 1, 1, 8, 30), 32874],
)
def test_date_forms_are_read(typed):
    assert parse_date(typed) == date(1990, 1, 1)


def test_blank_date_is_none():
    assert parse_date("  ") is None


def test_impossible_date_is_refused():
    with pytest.raises(ValueError, match="出生日期不存在"):
        parse_date("1990-02-30", "出生日期")


@pytest.mark.parametrize("typed", ["1990", "90-1-1", "1990-01", "一九九〇年"])
def test_unreadable_date_is_refused(typed):
    with pytest.raises(ValueError, match="格式不正确"):
        parse_date(typed)


# -- category age rules -------------------------------------------------------

def test_sixtieth_birthday_makes_an_elderly_resident():
    assert category_age_error("12", date(1966, 11, 27), TODAY) is None


def test_day_before_sixtieth_birthday_is_not_elderly():
    assert category_age_error("12", date(1966, 11, 28), TODAY) is not None


def test_eighteenth_birthday_ends_minority():
    assert category_age_error("13", date(2008, 11, 27), TODAY) is not None
    assert category_age_error("13", date(2008, 11, 28), TODAY) is None


def test_no_birth_date_gives_no_age_error():
    assert category_age_error("12", None, TODAY) is None


# -- suspension -------------------------------------------------------------

def suspension(**overrides):
    data = {"cert_type": "01", "cert_no": MAN_1990, "name": "张三", "reason": "01 死亡"}
    data.update(overrides)
    return data


def test_suspension_is_valid():
    clean, errors = validate_suspension(suspension(), TODAY)
    assert errors == {}
    assert tuple(clean) == SUSPENSION_FIELDS
    assert clean["reason"] == "01"


def test_suspension_reason_is_read_from_its_label():
    assert validate_suspension(suspension(reason="参加职工基本医疗保险"), TODAY)[0]["reason"] == "02"


def test_suspension_without_reason_is_refused():
    assert validate_suspension(suspension(reason=""), TODAY)[1] == {"reason": ["请选择暂停原因"]}


def test_suspension_reason_other_needs_a_remark():
    _, errors = validate_suspension(suspension(reason="99 其他", remark=" "), TODAY)
    assert errors == {"remark": ["暂停原因为其他时，备注必填"]}


def test_suspension_reason_other_with_remark_is_valid():
    assert validate_suspension(suspension(reason="其他", remark="户籍注销"), TODAY)[1] == {}


def test_suspension_needs_the_name():
    assert list(validate_suspension(suspension(name=None), TODAY)[1]) == ["name"]


# -- change -------------------------------------------------------------------

def change(changes, **overrides):
    data = {"cert_type": "01", "cert_no": MAN_1990, "name": "张三", "changes": changes}
    data.update(overrides)
    return data


def test_change_of_phone_and_address_is_valid():
    clean, errors = validate_change(change({"phone": "0595 22345678", "address": "丰泽区"}), TODAY)
    assert errors == {}
    assert clean["changes"] == {"phone": "0595-22345678", "address": "丰泽区"}
    assert clean["cert_no"] == MAN_1990


def test_change_without_changes_is_refused():
    assert validate_change(change({}), TODAY)[1] == {"changes": ["请填写需要变更的内容"]}


def test_change_of_cert_no_is_refused():
    _, errors = validate_change(change({"cert_no": CHILD_2015}), TODAY)
    assert errors == {"changes.cert_no": ["证件号码不可变更"]}


def test_change_of_cert_type_is_refused():
    _, errors = validate_change(change({"cert_type": "08", "phone": "13805951234"}), TODAY)
    assert errors == {"changes.cert_type": ["证件号码不可变更"]}


def test_change_of_gender_derived_from_an_id_is_refused():
    _, errors = validate_change(change({"gender": "2"}), TODAY)
    assert errors == {"changes.gender": ["身份证号码已包含性别和出生日期，不可单独变更"]}


def test_change_of_birth_date_derived_from_an_id_is_refused():
    _, errors = validate_change(change({"birth_date": "1991-01-01"}), TODAY)
    assert errors == {"changes.birth_date": ["身份证号码已包含性别和出生日期，不可单独变更"]}


def test_derived_value_repeated_unchanged_is_dropped():
    clean, errors = validate_change(change({"gender": "男", "phone": "13805951234"}), TODAY)
    assert errors == {}
    assert clean["changes"] == {"phone": "13805951234"}


def test_change_of_gender_for_a_passport_is_valid():
    data = change({"gender": "女"}, cert_type="08", cert_no="E12345678")
    clean, errors = validate_change(data, TODAY)
    assert (clean["changes"], errors) == ({"gender": "2"}, {})


def test_change_of_name_is_validated():
    _, errors = validate_change(change({"name": "张3"}), TODAY)
    assert list(errors) == ["changes.name"]


def test_change_cannot_blank_a_required_field():
    _, errors = validate_change(change({"phone": ""}), TODAY)
    assert errors == {"changes.phone": ["请填写联系电话"]}


def test_change_can_clear_an_optional_field():
    clean, errors = validate_change(change({"hukou_address": ""}), TODAY)
    assert (clean["changes"], errors) == ({"hukou_address": None}, {})


def test_change_of_unknown_field_is_refused():
    _, errors = validate_change(change({"unit": "x"}), TODAY)
    assert list(errors) == ["changes.unit"]


def test_change_of_category_is_checked_against_the_id_birth_date():
    _, errors = validate_change(change({"category": "老年居民"}), TODAY)
    assert "年龄应满60周岁" in errors["changes.category"][0]


def test_change_of_category_and_birth_date_together_is_checked():
    data = change({"category": "13", "birth_date": "2000-01-01"},
                  cert_type="08", cert_no="E12345678")
    assert "年龄应未满18周岁" in validate_change(data, TODAY)[1]["changes.category"][0]


def test_change_needs_a_valid_certificate():
    _, errors = validate_change(change({"phone": "13805951234"}, cert_no="123"), TODAY)
    assert list(errors) == ["cert_no"]


# -- labels -------------------------------------------------------------------

def test_every_field_has_a_chinese_label():
    assert set(ENROLMENT_FIELDS) | set(SUSPENSION_FIELDS) <= set(FIELD_LABELS)
    assert FIELD_LABELS["hukou_address"] == "户籍地址"
