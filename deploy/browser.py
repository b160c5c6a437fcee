"""Make sure the browsers of the browser tests, and LibreOffice for the
batch tests' third-party .xlsx files, are on this machine.

Playwright's own browser download does not work on closed networks; Debian's
packages do: `chromium` (driven by Playwright) and `firefox-esr` (driven over
its built-in Marionette agent, see tests/browser/gecko.py). Installs whatever
is missing with apt-get when allowed; does nothing when all is there."""
import os
import shutil
import subprocess
import sys

# A CJK font makes the screenshots legible; the tests do not depend on it.
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"

# Debian package -> how to tell it is there.
PACKAGES = {
    "chromium": lambda: shutil.which("chromium"),
    "firefox-esr": lambda: shutil.which("firefox-esr"),
    "fonts-wqy-microhei": lambda: os.path.exists(FONT),
    # Converts the batch tests' files so a workbook not written by openpyxl is imported.
    "libreoffice-calc-nogui": lambda: shutil.which("libreoffice") or shutil.which("soffice"),
    # The accessibility tests install axe-core with npm (tests/browser/node).
    "npm": lambda: shutil.which("npm"),
}
REQUIRED = ("chromium", "firefox-esr", "libreoffice-calc-nogui", "npm")


def missing():
    return [name for name, present in PACKAGES.items() if not present()]


def main():
    wanted = missing()
    if not wanted:
        return 0
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {', '.join(wanted)} for the browser tests ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r = subprocess.run(["apt-get", "install", "-y", "-qq", *wanted], env=env,
                           check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode:
            print(r.stdout[-3000:], file=sys.stderr)
    absent = [name for name in missing() if name in REQUIRED]
    if not absent:
        return 0
    print(f"{', '.join(absent)} missing: install with `sudo apt-get install {' '.join(absent)}`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
