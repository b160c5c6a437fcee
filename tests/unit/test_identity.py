"""Certificate numbers: normalisation, GB 11643-1999 rules, other shapes."""
from datetime import date

import pytest

from common.identity import (
    EXCEL_NUMBER_ERROR,
    InvalidCertNo,
    cert_no_error,
    check_cert_no,
    derives_person_data,
    normalise_cert_no,
    person_key,
)

TODAY = date(2026, 11, 27)


def with_check(first17):
    """An independent check character: GB 11643 weights are 2^(17-i) mod 11."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    return first17 + "10X98765432"[total % 11]


# The example printed in GB 11643-1999 itself, and its 15-digit legacy form.
STANDARD_EXAMPLE = "11010519491231002X"
LEGACY_15 = "110105491231002"
MAN = with_check("35050319900101123")  # Quanzhou 丰泽区, 17th digit 3: male
WOMAN = with_check("35050320000229002")  # leap day, 17th digit 2: female


def error_of(cert_type, raw, today=TODAY):
    with pytest.raises(InvalidCertNo) as caught:
        check_cert_no(cert_type, raw, today)
    return caught.value.message


def test_the_independent_check_agrees_with_the_standard_example():
    assert with_check(STANDARD_EXAMPLE[:17]) == STANDARD_EXAMPLE


def test_valid_id_with_check_character_x_is_accepted():
    info = check_cert_no("01", STANDARD_EXAMPLE, TODAY)
    assert info.cert_no == STANDARD_EXAMPLE


def test_lowercase_x_is_normalised_to_upper_case():
    assert check_cert_no("01", STANDARD_EXAMPLE.lower(), TODAY).cert_no == STANDARD_EXAMPLE


def test_full_width_digits_are_normalised_to_ascii():
    full_width = "１１０１０５１９４９１２３１００２ｘ"
    assert check_cert_no("01", full_width, TODAY).cert_no == STANDARD_EXAMPLE


def test_spaces_including_full_width_space_are_stripped():
    raw = " 110105\u30001949 1231002X\t"
    assert check_cert_no("01", raw, TODAY).cert_no == STANDARD_EXAMPLE


def test_legacy_15_digit_number_is_upgraded_to_18():
    info = check_cert_no("01", LEGACY_15, TODAY)
    assert info.cert_no == STANDARD_EXAMPLE
    assert info.upgraded


def test_legacy_and_upgraded_numbers_give_the_same_person_key():
    assert person_key("01", LEGACY_15) == person_key("01", STANDARD_EXAMPLE)


def test_birth_date_is_derived_from_characters_7_to_14():
    assert check_cert_no("01", STANDARD_EXAMPLE, TODAY).birth_date == date(1949, 12, 31)


def test_odd_17th_digit_means_male():
    assert check_cert_no("01", MAN, TODAY).gender == "1"


def test_even_17th_digit_means_female():
    assert check_cert_no("01", WOMAN, TODAY).gender == "2"


def test_legacy_number_derives_gender_and_birth_date():
    info = check_cert_no("01", LEGACY_15, TODAY)
    assert (info.gender, info.birth_date) == ("2", date(1949, 12, 31))


def test_wrong_check_character_is_refused():
    wrong = MAN[:17] + ("0" if MAN[17] != "0" else "1")
    assert error_of("01", wrong) == "身份证号码校验位不正确，请核对"


def test_impossible_birth_date_is_refused():
    assert error_of("01", with_check("35050319900230123")) == "身份证号码中的出生日期不存在"


def test_future_birth_date_is_refused():
    assert error_of("01", with_check("35050320261128123")) == "出生日期不能晚于今天"


def test_birth_today_is_accepted():
    assert check_cert_no("01", with_check("35050320261127123"), TODAY).birth_date == TODAY


@pytest.mark.parametrize("raw", ["3505031990010112", "3505031990010112345", "35050319900101"])
def test_wrong_length_is_refused(raw):
    assert error_of("01", raw) == "身份证号码应为18位"


def test_letter_inside_the_number_is_refused():
    assert error_of("01", "35050319900A011234") == "身份证号码只能包含数字，最后一位可以是X"


def test_empty_number_is_refused():
    assert error_of("01", " \u3000") == "证件号码不能为空"


def test_residence_permit_number_under_id_card_type_is_refused_with_a_hint():
    assert "港澳台居民居住证" in error_of("01", with_check("81000019900101123"))


def test_residence_permit_is_checked_like_an_id_card():
    info = check_cert_no("17", with_check("83000019900101124"), TODAY)
    assert (info.gender, info.birth_date) == ("2", date(1990, 1, 1))


def test_residence_permit_must_start_with_81_82_or_83():
    assert "81、82或83" in error_of("17", MAN)


def test_residence_permit_with_wrong_check_character_is_refused():
    good = with_check("82000019900101123")
    bad = good[:17] + ("1" if good[17] != "1" else "2")
    assert error_of("17", bad) == "居住证号码校验位不正确，请核对"


def test_id_number_as_excel_float_is_refused_with_the_excel_hint():
    assert error_of("01", 3.50503199001011e17) == EXCEL_NUMBER_ERROR


def test_id_number_as_scientific_text_is_refused_with_the_excel_hint():
    assert error_of("01", "3.50503199001011E+17") == EXCEL_NUMBER_ERROR


def test_18_digit_int_that_lost_digits_is_refused_with_the_excel_hint():
    # What Excel keeps of MAN: 15 significant digits, then zeros.
    assert error_of("01", 350503199001011000) == EXCEL_NUMBER_ERROR


def test_valid_18_digit_int_is_accepted():
    assert MAN[-1] != "X"  # a number cell cannot hold an X
    assert check_cert_no("01", int(MAN), TODAY).cert_no == MAN


def test_valid_15_digit_int_is_accepted():
    number = "350503900101123"
    assert check_cert_no("01", int(number), TODAY).cert_no == with_check("35050319900101123")


def test_short_number_cell_gets_the_ordinary_length_reason():
    assert error_of("01", 12345678) == "身份证号码应为18位"


def test_unknown_cert_type_is_refused():
    assert error_of("10", "E12345678") == "证件类型不正确，请选择证件类型"


@pytest.mark.parametrize(
    "cert_type, raw, expected",
    [
        ("04", "H12345678", "H12345678"),
        ("04", "h1234567890", "H1234567890"),
        ("05", "M12345678", "M12345678"),
        ("06", "12345678", "12345678"),
        ("06", "1234567890", "1234567890"),
        ("08", "e1234 5678", "E12345678"),
        ("16", "EA1234567", "EA1234567"),
        ("07", "USA123456789012", "USA123456789012"),
        ("02", "南字第123456号", "南字第123456号"),
        ("99", "ABC-123", "ABC-123"),
    ],
)
def test_other_certificate_shapes_are_accepted(cert_type, raw, expected):
    info = check_cert_no(cert_type, raw, TODAY)
    assert (info.cert_no, info.gender, info.birth_date) == (expected, None, None)


@pytest.mark.parametrize(
    "cert_type, raw",
    [
        ("04", "K12345678"),
        ("05", "M1234567"),
        ("06", "1234567"),
        ("06", "A1234567"),
        ("08", "E12"),
        ("16", "E12345678901234567"),
        ("08", "E1234-5678"),
        ("99", "X" * 31),
    ],
)
def test_other_certificate_shapes_are_refused(cert_type, raw):
    assert cert_no_error(cert_type, raw, TODAY) is not None


def test_cert_no_error_is_none_for_a_valid_number():
    assert cert_no_error("01", MAN, TODAY) is None


def test_id_card_and_residence_permit_derive_person_data():
    assert derives_person_data("01") and derives_person_data("17")
    assert not derives_person_data("08")


def test_person_key_joins_type_and_normalised_number():
    assert person_key("01", "110105 19491231002x") == "01:11010519491231002X"


def test_normalise_leaves_a_15_digit_passport_alone():
    assert normalise_cert_no("08", "123456789012345") == "123456789012345"
