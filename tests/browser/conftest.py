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


# Every screen of each role, as (route, title): the tours of the phone and
# accessibility tests.
UNIT_SCREENS = [
    ("/home", "首页"), ("/notices", "通知公告"), ("/roster", "人员列表"),
    ("/declare/enrolment", "城乡居民参保"), ("/declare/batch-enrolment", "批量城乡居民参保"),
    ("/declare/suspension", "城乡居民暂停参保"), ("/declare/batch-suspension", "批量城乡居民暂停参保"),
    ("/declare/change", "城乡居民变更"), ("/batches", "批量提交记录"), ("/records", "城乡居民参保记录"),
    ("/password", "修改密码"),
]
ADMIN_SCREENS = [("/admin/dashboard", "参保进度"), ("/admin/units", "单位管理"), ("/admin/targets", "参保任务"),
                 ("/admin/notices", "通知公告管理"),
                 ("/notices", "通知公告"), ("/password", "修改密码")]

def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


# The running suite, for the sign-in helpers' second factor (Suite.totp_code).
SESSION = {}


@pytest.fixture(scope="session")
def suite():
    with start_suite() as s:
        s.admin_token = s.login("admin", ADMIN_PASSWORD)
        s.demo_password = DEMO_PASSWORD
        s.admin_password = ADMIN_PASSWORD
        SESSION["suite"] = s
        yield s
        SESSION.clear()


def needs_second_factor(account):
    """Whether `account` signs in with a code (the seeded administrators and
    any account the tests enrolled): its code then comes from `totp_code`."""
    suite = SESSION.get("suite")
    return suite is not None and account in suite.totp_secrets


def totp_code(account):
    return SESSION["suite"].totp_code(account)


def second_factor(page, account):
    """The second step of the sign-in, when `account` has one."""
    if needs_second_factor(account):
        code = field(page, "动态口令")
        code.wait_for()
        code.fill(totp_code(account))
        page.get_by_role("button", name=re.compile("验\\s*证")).click()


@pytest.fixture(scope="session")
def browser():
    executable = shutil.which("chromium")
    if not executable:
        pytest.fail("Debian's chromium is needed for the browser tests: apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _page(browser, suite, **context):
    """A fresh browser context and page; a JavaScript error fails the test."""
    context = browser.new_context(locale="zh-CN", accept_downloads=True, base_url=suite.url, **context)
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
def page(browser, suite):
    """A fresh browser context at 1366×768; a JavaScript error fails the test."""
    yield from _page(browser, suite, viewport=VIEWPORT)


PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser, suite):
    """A phone: 390×844, touch, a mobile viewport; a JavaScript error fails the test."""
    yield from _page(browser, suite, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)


# ---- axe-core (npm), for the accessibility checks ---------------------------

NODE_DIR = os.path.join(os.path.dirname(__file__), "node")
AXE_JS = os.path.join(NODE_DIR, "node_modules", "axe-core", "axe.min.js")
# WCAG 2.0/2.1 A and AA, and axe's best practices; label-content-name-mismatch
# (WCAG 2.5.3) is one of axe's "experimental" rules, so it is asked for by name.
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
    "rules": {"label-content-name-mismatch": {"enabled": True}},
    "resultTypes": ["violations"],
}


@pytest.fixture(scope="session")
def axe_source():
    """axe.min.js from tests/browser/node (package-lock.json), installed with
    `npm ci` when missing, so a fresh machine needs nothing by hand."""
    if not os.path.exists(AXE_JS):
        npm = shutil.which("npm")
        if not npm:
            pytest.fail("npm is needed once to install axe-core for the accessibility tests: apt-get install npm")
        import subprocess
        r = subprocess.run([npm, "ci", "--prefix", NODE_DIR, "--no-audit", "--no-fund"],
                           capture_output=True, text=True, timeout=600)
        if r.returncode or not os.path.exists(AXE_JS):
            pytest.fail(f"npm ci --prefix {NODE_DIR} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    with open(AXE_JS, encoding="utf-8") as f:
        return f.read()


def axe_violations(page, source, impacts=("serious", "critical")):
    """Run axe-core on the page as it is; the violations of these impacts."""
    expect(page.locator(".loading")).to_have_count(0)
    # Two frames: the page's ResizeObservers (a table box that overflows
    # becomes a focusable region, dom.js scrollBox) have run on what was
    # just rendered, as they have before anyone could Tab to it.
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(content=source)
    result = page.evaluate("(options) => axe.run(document, options)", AXE_OPTIONS)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in impacts]


def assert_no_page_scroll(page, where=""):
    """The page itself never scrolls sideways: wide content scrolls in its own box."""
    expect(page.locator(".loading")).to_have_count(0)
    width = page.evaluate("""() => {
        const vw = window.innerWidth;
        const wide = [...document.querySelectorAll('body *')].filter((el) => {
            const r = el.getBoundingClientRect();
            return r.width && r.right > vw + 1 && getComputedStyle(el).visibility !== 'hidden'
                && !el.closest('.scroll-box, .sr-only');
        }).slice(0, 5).map((el) => `${el.tagName.toLowerCase()}.${el.className} (${Math.round(el.getBoundingClientRect().right)})`);
        return { scroll: document.documentElement.scrollWidth, inner: vw, wide };
    }""")
    assert width["scroll"] <= width["inner"], f"{where}: the page is {width['scroll']} px wide in a {width['inner']} px window: {width['wide']}"
    assert not width["wide"], f"{where}: sticking out of the {width['inner']} px window: {width['wide']}"


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
    second_factor(page, account)
    page.wait_for_url(re.compile(landing))
    return page


def open_menu(page, text):
    page.locator("nav.sidebar").get_by_role("link", name=text, exact=True).click()
    expect(page.locator("#screen-title")).to_have_text(text)


def field(scope, text):
    """The form control labelled `text` (its label may carry a * mark)."""
    return scope.get_by_label(re.compile(rf"^\s*\*?\s*{re.escape(text)}\s*$"))
