"""The portal keeps no copy of the code tables: gateway/static/js/codes.js
fills its tables from GET /api/codes (common/codes.py), and no script
carries a table of its own. (tests/browser/test_validation_vectors.py shows
the portal drawing what the API serves.)"""
import glob
import os

from common import codes

STATIC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "gateway", "static", "js")
TABLES = {
    "CERT_TYPES": codes.CERT_TYPES, "GENDERS": codes.GENDERS, "NATIONS": codes.NATIONS,
    "CATEGORIES": codes.CATEGORIES, "SUSPENSION_REASONS": codes.SUSPENSION_REASONS,
    "STATUS": codes.STATUS, "BUSINESS_TYPES": codes.BUSINESS_TYPES, "ACTIONS": codes.ACTIONS,
}


def source(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_codes_js_holds_no_label_of_any_table():
    text = source(os.path.join(STATIC, "codes.js"))
    found = {name: [label for label in table.values() if label in text] for name, table in TABLES.items()}
    assert not any(found.values()), found
    assert "/api/codes" in text


def test_no_script_carries_a_copy_of_a_table():
    scripts = glob.glob(os.path.join(STATIC, "**", "*.js"), recursive=True)
    assert len(scripts) > 10
    for path in scripts:
        text = source(path)
        for name, table in TABLES.items():
            if len(table) < 5:
                continue  # a few words (男, 女) appear in any text
            found = [label for label in table.values() if len(label) >= 2 and label in text]
            assert len(found) < len(table) / 2, f"{os.path.relpath(path, STATIC)} copies {name}: {found}"
