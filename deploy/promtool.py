"""Make sure `promtool` (Debian's `prometheus` package) is on this machine:
the tests check the alert rules of deploy/observability/ with
`promtool check rules`. Installs the package with apt-get when allowed and
missing; does nothing when promtool is there."""
import os
import shutil
import subprocess
import sys


def main():
    if shutil.which("promtool"):
        return 0
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing prometheus (promtool) for the alert rule checks ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # --no-install-recommends: the checker, not a Prometheus server with its exporters
        r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"],
                           env=env, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode:
            print(r.stdout[-3000:], file=sys.stderr)
        # The package starts a Prometheus server through its service scripts
        # where it can; the tests need only the checker.
        subprocess.run(["service", "prometheus", "stop"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if shutil.which("promtool"):
        return 0
    print("promtool missing: install it with `sudo apt-get install prometheus`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
