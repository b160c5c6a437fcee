"""Code tables and reading what people type into coded fields."""
import pytest

from common import codes
from common.codes import resolve


def test_cert_type_labels_are_the_national_ones():
    assert codes.CERT_TYPES["01"] == "居民身份证（户口簿）"
    assert codes.CERT_TYPES["17"] == "港澳台居民居住证"
    assert list(codes.CERT_TYPES) == [
        "01", "02", "03", "04", "05", "06", "07", "08", "16", "17", "99"
    ]


def test_nations_run_from_01_to_56_plus_97_and_98():
    expected = [f"{n:02d}" for n in range(1, 57)] + ["97", "98"]
    assert list(codes.NATIONS) == expected
    assert codes.NATIONS["22"] == "畲"


def test_categories_are_in_dropdown_order():
    assert list(codes.CATEGORIES) == [
        "11", "12", "13", "14", "21", "22", "23", "24", "25", "99"
    ]


def test_age_rules_name_only_known_categories():
    assert set(codes.CATEGORY_AGE_RULES) <= set(codes.CATEGORIES)
    assert codes.CATEGORY_AGE_RULES["12"] == (60, None)
    assert codes.CATEGORY_AGE_RULES["13"] == (None, 18)


def test_only_male_and_female_are_declarable():
    assert set(codes.GENDERS) == {"0", "1", "2", "9"}
    assert codes.DECLARABLE_GENDERS == ("1", "2")


def test_suspension_reason_other_is_99():
    assert codes.SUSPENSION_REASONS[codes.SUSPENSION_REASON_OTHER] == "其他"


def test_status_business_type_and_action_labels():
    assert codes.STATUS == {"active": "正常参保", "suspended": "暂停参保"}
    assert codes.BUSINESS_TYPES["suspension"] == "城乡居民暂停参保"
    assert codes.ACTIONS["transfer_in"] == "调入"


def test_resolve_reads_a_code():
    assert resolve(codes.CERT_TYPES, "01") == "01"


def test_resolve_reads_a_label():
    assert resolve(codes.CERT_TYPES, "居民身份证（户口簿）") == "01"


def test_resolve_reads_a_dropdown_item():
    assert resolve(codes.CERT_TYPES, "01 居民身份证（户口簿）") == "01"


def test_resolve_reads_a_label_with_half_width_brackets():
    assert resolve(codes.SUSPENSION_REASONS, "出国(境)定居") == "06"


def test_resolve_tolerates_surrounding_and_full_width_spaces():
    assert resolve(codes.CATEGORIES, "\u3000 12 老年居民 ") == "12"


def test_resolve_reads_full_width_digits():
    assert resolve(codes.NATIONS, "０１") == "01"


def test_resolve_reads_a_code_that_lost_its_leading_zero():
    assert resolve(codes.CERT_TYPES, "1") == "01"


@pytest.mark.parametrize("cell", [8, 8.0])
def test_resolve_reads_an_excel_number_cell(cell):
    assert resolve(codes.CERT_TYPES, cell) == "08"


def test_resolve_reads_a_dropdown_item_without_leading_zero():
    assert resolve(codes.NATIONS, "1 汉") == "01"


def test_resolve_reads_code_and_label_joined_by_a_dash():
    assert resolve(codes.NATIONS, "22-畲") == "22"


def test_resolve_refuses_a_code_with_another_codes_label():
    assert resolve(codes.CERT_TYPES, "01 中国护照") is None


@pytest.mark.parametrize("value", [None, "", "  ", "00", "100", "居民身份证", 1.5, True])
def test_resolve_refuses_what_names_no_code(value):
    assert resolve(codes.CERT_TYPES, value) is None


def test_resolve_reads_word_codes_by_label():
    assert resolve(codes.STATUS, "暂停参保") == "suspended"
    assert resolve(codes.BUSINESS_TYPES, "enrolment") == "enrolment"


def test_dropdown_items_show_code_and_label():
    items = codes.dropdown_items(codes.CERT_TYPES)
    assert items[0] == "01 居民身份证（户口簿）"
    assert len(items) == len(codes.CERT_TYPES)


@pytest.mark.parametrize(
    "table",
    [codes.CERT_TYPES, codes.GENDERS, codes.NATIONS, codes.CATEGORIES,
     codes.SUSPENSION_REASONS, codes.STATUS, codes.BUSINESS_TYPES, codes.ACTIONS],
)
def test_every_dropdown_item_resolves_to_its_code(table):
    assert [resolve(table, item) for item in codes.dropdown_items(table)] == list(table)
