"""Personal data never reaches a log line in full."""
import logging

from common.logs import ContextFilter, mask, request_id_var


def test_id_number_is_masked():
    assert mask("enrol 35050319900101123X ok") == "enrol 350503********123X ok"


def test_mobile_number_is_masked():
    assert mask("phone 13912345678") == "phone 139****5678"


def test_legacy_15_digit_id_is_masked():
    assert mask("id 350503900101123") == "id 350503******123"


def test_ordinary_numbers_are_left_alone():
    assert mask("took 1234 ms, position 42") == "took 1234 ms, position 42"


def test_filter_masks_arguments_and_adds_request_id():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "person %s", ("35050319900101123X",), None)
    token = request_id_var.set("rid-9")
    try:
        ContextFilter().filter(record)
    finally:
        request_id_var.reset(token)
    assert record.getMessage() == "person 350503********123X"
    assert record.request_id == "rid-9"
