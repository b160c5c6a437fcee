"""axe-core (npm, tests/browser/node) on every screen of both roles, at the
desktop's 1366×768 and a phone's 390×844 (with the menu drawer open too),
and in 大字模式: any serious or critical violation fails the test."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN_SCREENS, UNIT_SCREENS, axe_violations, field, login

SIZES = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}


def go(page, path, title):
    page.evaluate("(path) => { location.hash = '#' + path; }", path)
    expect(page.locator("#screen-title")).to_have_text(title)
    expect(page.locator(".loading")).to_have_count(0)


def audit(page, axe_source, screens, size):
    """Every screen, a notice's page and (on a phone) the open drawer: the
    serious and critical violations found, by where."""
    found = {}

    def check(where):
        v = axe_violations(page, axe_source)
        if v:
            found[where] = v

    for path, title in screens:
        go(page, path, title)
        check(title)
    go(page, "/notices", "通知公告")
    page.locator(".notice-list li a").first.click()
    expect(page.locator(".notice-title")).to_be_visible()
    check("通知公告详情")
    if size == "phone":
        page.get_by_role("button", name="菜单").click()
        expect(page.locator("nav.sidebar .menu-link").first).to_be_visible()
        check("菜单（抽屉）")
        page.keyboard.press("Escape")
    return found


def new_page(browser, suite, size, large):
    # bypass_csp: the portal's CSP (script-src 'self') would refuse axe's script tag
    ctx = browser.new_context(locale="zh-CN", base_url=suite.url, viewport=SIZES[size], bypass_csp=True,
                              is_mobile=size == "phone", has_touch=size == "phone")
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    if large:
        page.add_init_script("localStorage.setItem('edt.largeText', '1')")
    return ctx, page


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_axe_on_every_unit_screen(browser, suite, unit, axe_source, size):
    ctx, page = new_page(browser, suite, size, large=False)
    try:
        page.goto("/")
        login_found = axe_violations(page, axe_source)
        login(page, unit["account"], unit["password"])
        found = audit(page, axe_source, UNIT_SCREENS, size)
        if login_found:
            found["登录"] = login_found
        assert not found, found
    finally:
        ctx.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_axe_on_every_admin_screen(browser, suite, axe_source, size):
    ctx, page = new_page(browser, suite, size, large=False)
    try:
        login(page, "admin", suite.admin_password, landing=r"#/admin/dashboard$")
        found = audit(page, axe_source, ADMIN_SCREENS, size)
        # a form dialog of the admin's
        go(page, "/admin/units", "单位管理")
        page.get_by_role("button", name="新增单位").click()
        expect(field(page.get_by_role("dialog", name="新增单位"), "单位名称")).to_be_focused()
        v = axe_violations(page, axe_source)
        if v:
            found["新增单位"] = v
        assert not found, found
    finally:
        ctx.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_axe_in_large_text_mode(browser, suite, unit, axe_source, size):
    ctx, page = new_page(browser, suite, size, large=True)
    try:
        login(page, unit["account"], unit["password"])
        expect(page.locator("html")).to_have_class(re.compile(r"\blarge-text\b"))
        found = audit(page, axe_source, UNIT_SCREENS, size)
        assert not found, found
    finally:
        ctx.close()


def test_the_notices_link_is_named_by_its_visible_text(page, unit):
    """WCAG 2.5.3: the name says what the link shows, and the unread count."""
    login(page, unit["account"], unit["password"])
    link = page.locator(".topbar-notices")
    expect(link.locator(".badge")).to_be_visible()
    n = link.locator(".badge").inner_text()
    expect(page.get_by_role("link", name=re.compile(rf"^通知\s*{n}\s*条未读$"))).to_be_visible()
    assert "aria-label" not in (link.evaluate("(el) => el.getAttributeNames()"))


def test_axe_as_configured_finds_the_old_notices_link(browser, suite, axe_source):
    """A positive control: the link as it was (aria-label 「通知公告，5条未读」,
    visible 「✉ 通知5」) is a serious violation for these checks."""
    ctx, page = new_page(browser, suite, "desktop", large=False)
    try:
        page.goto("/")
        expect(field(page, "账号")).to_be_visible()
        page.evaluate("""() => {
            const a = document.createElement('a');
            a.href = '#/notices'; a.setAttribute('aria-label', '通知公告，5条未读');
            a.innerHTML = '✉ 通知<span class="badge">5</span>';
            document.querySelector('.login-card').append(a);
        }""")
        ids = {v["id"] for v in axe_violations(page, axe_source)}
        assert "label-content-name-mismatch" in ids, ids
    finally:
        ctx.close()
