"""Drive Debian's stock `firefox-esr` headless from Python, with no geckodriver.

Firefox has a WebDriver-style remote agent built in (Marionette, started by
`firefox --marionette`); Mozilla's own Python client for it is the
`marionette_driver` package on PyPI, which starts Firefox with a throw-away
profile (mozrunner) and talks to it over a local socket. Playwright cannot
drive a stock Firefox (it needs its own patched build) and Selenium needs a
geckodriver binary that no registry reachable here ships for Linux, so this
is the way to test the portal in real Gecko.

`Firefox` wraps a Marionette session with the few things the tests need,
in Playwright's spirit: find by label / accessible text, real keyboard
input, waiting instead of sleeping, full-page screenshots, and the page's
JavaScript errors (read from Firefox's own log) fail the test."""
import gc
import os
import re
import shutil
import socket

from marionette_driver import By, Wait, errors
from marionette_driver.keys import Keys
from marionette_driver.marionette import Marionette

TIMEOUT = 60  # seconds: a cap on every wait (each ends once its condition holds)
VIEWPORT = (1366, 768)

# Preferences of the test profile: Chinese first (as the community workers'
# machines), the pages' console messages on Firefox's stdout (so the log
# shows them) but not the browser's own, and nothing that phones home.
PREFS = {
    "intl.accept_languages": "zh-CN, zh",
    "devtools.console.stdout.content": True,
    "devtools.console.stdout.chrome": False,
    "browser.dom.window.dump.enabled": False,
    "browser.download.folderList": 2,
    "browser.download.useDownloadDir": True,
    "browser.download.always_ask_before_handling_new_types": False,
    "browser.download.manager.showWhenStarting": False,
    "browser.download.alwaysOpenPanel": False,
    "browser.shell.checkDefaultBrowser": False,
    "app.update.enabled": False,
    "app.normandy.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "app.shield.optoutstudies.enabled": False,
}

IGNORED = [errors.NoSuchElementException, errors.StaleElementException,
           errors.ElementNotInteractableException]


def executable():
    return shutil.which("firefox-esr") or shutil.which("firefox")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Firefox:
    """One headless Firefox with one Marionette session."""

    def __init__(self, base_url, log_path, download_dir):
        self.base_url = base_url.rstrip("/")
        self.log_path = log_path
        prefs = {**PREFS, "browser.download.dir": download_dir}
        self.m = Marionette(bin=executable(), headless=True, host="127.0.0.1", port=_free_port(),
                            gecko_log=log_path, prefs=prefs, startup_timeout=120)
        self.m.start_session()
        self.m.timeout.implicit = 0
        self.m.timeout.page_load = 60
        self.m.timeout.script = 30
        self.version = self.m.session_capabilities.get("browserVersion")
        self._size_viewport(*VIEWPORT)
        self._log_mark = 0
        self._time_mark = 0

    def quit(self):
        try:
            self.m.delete_session()
        finally:
            self.m.cleanup()
            # let the profile objects go now, not at interpreter exit (where
            # their __del__ fails noisily)
            self.m.instance = None
            self.m = None
            gc.collect()

    def _size_viewport(self, width, height):
        """Make the page's viewport (not the window) width×height."""
        self.m.set_window_rect(width=width, height=height)
        inner = self.m.execute_script("return [window.innerWidth, window.innerHeight]")
        self.m.set_window_rect(width=2 * width - inner[0], height=2 * height - inner[1])

    # --- the page's errors -------------------------------------------------
    def mark_log(self):
        """Errors before this point are someone else's."""
        self._log_mark = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        with self.m.using_context(self.m.CONTEXT_CHROME):
            self._time_mark = self.m.execute_script("return Date.now()")

    def page_errors(self):
        """Uncaught errors of the portal's scripts (from Firefox's console
        service) and console.error calls of its pages (which Firefox prints on
        stdout, into the log) since mark_log()."""
        with self.m.using_context(self.m.CONTEXT_CHROME):
            found = self.m.execute_script("""
                const [base, since] = arguments;
                return Services.console.getMessageArray()
                  .filter((m) => m instanceof Ci.nsIScriptError && !(m.flags & Ci.nsIScriptError.warningFlag)
                    && m.timeStamp >= since && (m.sourceName || "").startsWith(base))
                  .map((m) => `${m.sourceName}:${m.lineNumber}: ${m.errorMessage}`);
            """, script_args=[self.base_url, self._time_mark])
        if os.path.exists(self.log_path):
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                f.seek(self._log_mark)
                found += [line for line in f.read().splitlines() if line.startswith("console.error: ")]
        return found

    # --- navigation and waiting --------------------------------------------
    def goto(self, path="/"):
        self.m.navigate(self.base_url + path)

    @property
    def url(self):
        return self.m.get_url()

    def js(self, script, *args):
        return self.m.execute_script(script, script_args=list(args))

    def wait(self, condition, message, timeout=TIMEOUT):
        """Wait until condition() is truthy (elements may still be rendering)."""
        return Wait(self.m, timeout=timeout, interval=0.1, ignored_exceptions=IGNORED).until(
            lambda _: condition(), message=message)

    def wait_idle(self):
        """No loading indicator left on the screen."""
        self.wait(lambda: not self.m.find_elements(By.CSS_SELECTOR, ".loading"), "the screen is still loading")

    # --- finding things -----------------------------------------------------
    def css(self, selector, scope=None):
        """The first element matching `selector`, once it exists."""
        return self.wait(lambda: (scope or self.m).find_element(By.CSS_SELECTOR, selector),
                         f"no element {selector!r}")

    def all(self, selector, scope=None):
        return (scope or self.m).find_elements(By.CSS_SELECTOR, selector)

    def form(self, name):
        """A form by its accessible name (aria-label), once it is shown."""
        return self.css(f'form[aria-label="{name}"]')

    def region(self, heading):
        """A card (section) by the text of its heading."""
        return self.wait(lambda: self.m.find_element(
            By.XPATH, f"//section[.//h2[normalize-space()={_xq(heading)}]]"), f"no region {heading!r}")

    def dialog(self, title):
        """A shown dialog (role=dialog) by its title, once it is shown."""
        script = """
            const [title] = arguments;
            return [...document.querySelectorAll('[role="dialog"]')].filter((d) => {
              const t = document.getElementById(d.getAttribute("aria-labelledby") || "");
              return t && t.textContent.trim() === title;
            });
        """
        return self.wait(lambda: next((d for d in self.js(script, title) if d.is_displayed()), None),
                         f"no dialog {title!r}")

    def no_dialog(self):
        self.wait(lambda: not [d for d in self.all('[role="dialog"]') if d.is_displayed()], "a dialog is still open")

    def field(self, label, scope=None):
        """The form control labelled `label` (its label may carry a * mark)."""
        script = """
            const [scope, text] = arguments;
            const root = scope || document;
            const norm = (s) => s.replace(/\\s+/g, "").replace(/^\\*/, "");
            for (const l of root.querySelectorAll("label")) {
              if (norm(l.textContent) === text && l.control) return l.control;
            }
            return root.querySelector(`[aria-label="${text}"]`);
        """
        return self.wait(lambda: self.js(script, scope, label), f"no field labelled {label!r}")

    def _named(self, selector, name, scope):
        """Visible elements matching selector whose text (without aria-hidden
        parts, spaces ignored) or aria-label is `name`."""
        script = """
            const [scope, selector, name] = arguments;
            const norm = (s) => (s || "").replace(/\\s+/g, "");
            const text = (el) => [...el.childNodes].map((n) => n.nodeType === 3 ? n.textContent
              : n.nodeType === 1 && n.getAttribute("aria-hidden") !== "true" ? text(n) : "").join("");
            return [...(scope || document).querySelectorAll(selector)]
              .filter((el) => norm(text(el)) === norm(name) || norm(el.getAttribute("aria-label")) === norm(name));
        """
        return [el for el in self.js(script, scope, selector, name) if el.is_displayed()]

    def button(self, name, scope=None):
        """A visible button named `name`."""
        return self.wait(lambda: next(iter(self._named("button", name, scope)), None), f"no button {name!r}")

    def link(self, name, scope=None):
        """A visible link named `name`."""
        return self.wait(lambda: next(iter(self._named("a", name, scope)), None), f"no link {name!r}")

    def text(self, el):
        return el.text.strip()

    def wait_text(self, selector, expected, scope=None, exact=False):
        """Wait until the element at selector shows `expected` (or contains it)."""
        def ok():
            t = self.text((scope or self.m).find_element(By.CSS_SELECTOR, selector))
            return t == expected if exact else expected in t
        self.wait(ok, f"{selector!r} never showed {expected!r}")

    def wait_url(self, pattern):
        self.wait(lambda: re.search(pattern, self.url), f"URL never matched {pattern!r} (at {self.url})")

    def focused(self):
        return self.js("return document.activeElement")

    # --- acting -------------------------------------------------------------
    def fill(self, el, text):
        """Clear the control and type `text` as keystrokes."""
        el.clear()
        el.send_keys(text)

    def press_enter(self, el):
        el.send_keys(Keys.ENTER)

    def type(self, text):
        """Type `text` into whatever has the focus, as the keyboard does."""
        self.m.actions.sequence("key", "keyboard").send_keys(text).perform()

    def press(self, key):
        """Press and release one key (e.g. Keys.TAB) where the focus is."""
        self.m.actions.sequence("key", "keyboard").key_down(key).key_up(key).perform()

    def choose(self, select, value):
        """Pick the option with `value` in a <select>, as a click on it does."""
        option = select.find_element(By.CSS_SELECTOR, f'option[value="{value}"]')
        option.click()
        self.wait(lambda: select.get_property("value") == value, f"option {value!r} was not chosen")

    def open_menu(self, text):
        """A screen from the left menu; its title says it is there."""
        self.link(text, self.css("nav.sidebar")).click()
        self.wait_text("#screen-title", text, exact=True)

    def upload(self, file_input, path):
        """Choose a file in an <input type=file>, as the file picker does."""
        file_input.send_keys(str(path))

    def download(self, directory, click, timeout=TIMEOUT):
        """Run click() and return the path of the file Firefox saves for it
        (the portal hands files over as blob links with a download name)."""
        directory = str(directory)
        os.makedirs(directory, exist_ok=True)
        self.m.set_pref("browser.download.dir", directory)
        before = set(os.listdir(directory))

        def arrived():
            names = os.listdir(directory)
            new = [n for n in names if n not in before and not n.endswith(".part")]
            if new and not any(n.endswith(".part") for n in names):
                path = os.path.join(directory, new[0])
                return path if os.path.getsize(path) > 0 else None
            return None
        click()
        return self.wait(arrived, f"no download arrived in {directory}", timeout=timeout)

    def screenshot(self, path):
        self.wait_idle()
        self.js("window.scrollTo(0, 0)")
        png = self.m.screenshot(format="binary", full=True)
        with open(path, "wb") as f:
            f.write(png)
        return path


def _xq(s):
    """An XPath string literal for s."""
    if "'" not in s:
        return f"'{s}'"
    if '"' not in s:
        return f'"{s}"'
    return "concat(" + ", \"'\", ".join(f"'{p}'" for p in s.split("'")) + ")"

