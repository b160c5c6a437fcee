"""The shared validation vectors (tests/vectors/person_validation.json)
against the server's rules: common/person.py and common/identity.py. The
browser runs the same file against the portal's validate.js
(tests/browser/test_validation_vectors.py)."""
import json
import os
from datetime import date

import pytest

from common.identity import InvalidCertNo, check_cert_no
from common.person import clean_name, clean_phone

VECTORS_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "vectors", "person_validation.json")
with open(VECTORS_PATH, encoding="utf-8") as f:
    VECTORS = json.load(f)


def judged(check, *args):
    """(ok, clean value or None) of a server rule."""
    try:
        value = check(*args)
    except (ValueError, InvalidCertNo):
        return False, None
    return True, value


def cases(field):
    return pytest.mark.parametrize("case", VECTORS[field], ids=lambda c: f"{c.get('cert_type', '')}{c['input']!r}")


def expected(case):
    return case["ok"], case.get("value") if case["ok"] else None


@cases("phone")
def test_phone(case):
    assert judged(clean_phone, case["input"]) == expected(case)


@cases("name")
def test_name(case):
    assert judged(clean_name, case["input"]) == expected(case)


@cases("cert_no")
def test_cert_no(case):
    ok, info = judged(check_cert_no, case["cert_type"], case["input"], date.today())
    assert (ok, info.cert_no if ok else None) == expected(case)


def test_every_field_has_accepted_and_refused_cases():
    for field in ("phone", "name", "cert_no"):
        outcomes = {case["ok"] for case in VECTORS[field]}
        assert outcomes == {True, False}, field
        assert all(("value" in case) == case["ok"] for case in VECTORS[field]), field
