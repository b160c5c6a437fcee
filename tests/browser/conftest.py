"""Browser tests: Playwright (sync API) driving Debian's headless Chromium
against one running platform per session (tests/suite.py).

Run in their own pytest process, without eventlet:
    EDT_NO_EVENTLET=1 .venv/bin/pytest tests/browser -q -p no:cacheprovider
Screenshots of every screen go to test-artifacts/screenshots/ (git-ignored)."""
import os
import re
import shutil

import pytest

from tests.suite import ADMIN_PASSWORD, DEMO_PASSWORD, ROOT, start_suite

if os.environ.get("EDT_NO_EVENTLET") != "1":  # pragma: no cover - a wrong invocation
    pytest.skip("browser tests run with EDT_NO_EVENTLET=1 (Playwright does not run under eventlet)",
                allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402

SCREENSHOTS = os.path.join(ROOT, "test-artifacts", "screenshots")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1366, "height": 768}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def suite():
    with start_suite() as s:
        s.admin_token = s.login("admin", ADMIN_PASSWORD)
        s.demo_password = DEMO_PASSWORD
        s.admin_password = ADMIN_PASSWORD
        yield s


@pytest.fixture(scope="session")
def browser():
    executable = shutil.which("chromium")
    if not executable:
        pytest.fail("Debian's chromium is needed for the browser tests: apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, suite):
    """A fresh browser context at 1366×768; a JavaScript error fails the test."""
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", accept_downloads=True,
                                  base_url=suite.url)
    page = context.new_page()
    # Caps, not expectations: every wait ends as soon as its condition holds,
    # and a loaded machine (the roster following the log, a busy gateway)
    # must not turn a slow answer into a red run.
    page.set_default_timeout(60_000)
    expect.set_options(timeout=60_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
            and "Failed to load resource" not in msg.text else None)
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def unit(suite):
    """A freshly registered unit: {account, password, token, unit}."""
    return suite.new_unit(suite.admin_token)


def shot(page, name):
    """Save a screenshot of the current screen as a test artifact."""
    os.makedirs(SCREENSHOTS, exist_ok=True)
    expect(page.locator(".loading")).to_have_count(0)
    page.evaluate("window.scrollTo(0, 0)")  # sticky bars are drawn where they belong
    page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)


def login(page, account, password, landing=r"#/home$"):
    page.goto("/")
    field(page, "账号").fill(account)
    field(page, "密码").fill(password)
    page.get_by_role("button", name=re.compile("登\\s*录")).click()
    page.wait_for_url(re.compile(landing))
    return page


def open_menu(page, text):
    page.locator("nav.sidebar").get_by_role("link", name=text, exact=True).click()
    expect(page.locator("#screen-title")).to_have_text(text)


def field(scope, text):
    """The form control labelled `text` (its label may carry a * mark)."""
    return scope.get_by_label(re.compile(rf"^\s*\*?\s*{re.escape(text)}\s*$"))
