"""Make sure a Chromium for the browser tests is on this machine.

Playwright's own browser download does not work on closed networks; Debian's
`chromium` package does. Installs it with apt-get when missing and allowed."""
import os
import shutil
import subprocess
import sys


# A CJK font makes the screenshots legible; the tests do not depend on it.
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def main():
    if shutil.which("chromium") and os.path.exists(FONT):
        return 0
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing Debian's chromium (and a Chinese font) for the browser tests ...")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "fonts-wqy-microhei"], env=env, check=False)
    if shutil.which("chromium"):
        return 0
    print("chromium is missing: install it with `sudo apt-get install chromium`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
