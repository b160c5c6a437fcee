"""The portal's checks and code tables, in Chromium.

- validate.js judges the shared vectors (tests/vectors/person_validation.json)
  exactly as the server does (tests/unit/test_validation_vectors.py runs the
  same file against common/person.py and common/identity.py): evaluated in
  the page, as the portal's own module.
- The code tables come from GET /api/codes only: what the API serves is what
  the forms offer, and the tables are fetched once per page."""
import json
import os
import re

from playwright.sync_api import expect

from tests.browser.conftest import field, login, open_menu
from tests.browser.test_declarations import look_up, person_no
from tests.factories import id_number
from tests.suite import ROOT

with open(os.path.join(ROOT, "tests", "vectors", "person_validation.json"), encoding="utf-8") as f:
    VECTORS = json.load(f)

JUDGE = """async (vectors) => {
  const v = await import("/static/js/validate.js");
  const out = (r) => ({ ok: r.ok, value: r.ok ? r.value : null });
  return {
    phone: vectors.phone.map((c) => out(v.checkPhone(c.input))),
    name: vectors.name.map((c) => out(v.checkName(c.input))),
    cert_no: vectors.cert_no.map((c) => out(v.checkCertNo(c.cert_type, c.input))),
  };
}"""


def test_the_portal_judges_the_shared_vectors_as_the_server_does(page):
    page.goto("/")
    expect(page.get_by_role("heading", name="单位账号登录")).to_be_visible()
    judged = page.evaluate(JUDGE, VECTORS)
    wrong = []
    for field_name in ("phone", "name", "cert_no"):
        assert len(judged[field_name]) == len(VECTORS[field_name])
        for case, got in zip(VECTORS[field_name], judged[field_name], strict=True):
            want = {"ok": case["ok"], "value": case.get("value") if case["ok"] else None}
            if got != want:
                wrong.append((field_name, case, got))
    assert not wrong, "validate.js disagrees with the vectors:\n" + "\n".join(map(repr, wrong))


def test_the_forms_offer_what_the_api_serves_fetched_once(page, unit):
    asked = []

    def relabel(route):
        # The platform's answer, with one label changed: the form must show it.
        response = route.fetch()
        tables = response.json()
        for item in tables["categories"]:
            if item["code"] == "14":
                item["label"] = "在校大中专学生（接口）"
        asked.append(route.request.url)
        route.fulfill(response=response, json=tables)

    page.route("**/api/codes", relabel)
    login(page, unit["account"], unit["password"])
    for screen in ("人员列表", "城乡居民暂停参保", "城乡居民参保记录", "城乡居民参保"):
        open_menu(page, screen)
    lookup = look_up(page, id_number(person_no()), "林晓东")
    expect(field(lookup, "证件类型").locator("option[value='17']")).to_have_text(re.compile("港澳台居民居住证"))
    details = page.get_by_role("form", name="参保信息")
    expect(field(details, "人员类别").locator("option[value='14']")).to_have_text(re.compile("在校大中专学生（接口）"))
    page.reload()  # a new page asks again, once
    expect(page.locator("#screen-title")).to_have_text("城乡居民参保")
    assert len(asked) == 2, asked
