"""统一社会信用代码 (GB 32100-2015)."""
import pytest

from common.credit_code import check_character, credit_code_error, normalise


@pytest.mark.parametrize("code", ["91110000600037341L", "57350503MA2Y8K3Q01"])
def test_valid_credit_code_is_accepted(code):
    assert credit_code_error(code) is None


def test_check_character_of_a_known_code():
    assert check_character("91110000600037341") == "L"


def test_check_value_31_maps_to_0():
    # The weighted sum of this prefix is a multiple of 31.
    assert check_character("9135050357MA2Y8KB") == "0"
    assert credit_code_error("9135050357MA2Y8KB0") is None


def test_wrong_check_character_is_refused():
    assert credit_code_error("91110000600037341X") == "统一社会信用代码校验位不正确，请核对"


@pytest.mark.parametrize("code", ["91110000600037341", "91110000600037341LL", ""])
def test_wrong_length_is_refused(code):
    assert credit_code_error(code) == "统一社会信用代码应为18位"


@pytest.mark.parametrize("letter", ["I", "O", "Z", "S", "V"])
def test_letters_outside_the_alphabet_are_refused(letter):
    code = "9111000060003734" + letter + "L"
    assert credit_code_error(code) == f"统一社会信用代码含有不允许的字符：{letter}"


def test_normalise_strips_spaces_and_upper_cases():
    assert normalise(" 91110000 600037341l ") == "91110000600037341L"


def test_normalise_of_none_is_empty():
    assert normalise(None) == ""
