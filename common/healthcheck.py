"""Exec probe for a Nameko service instance:
`python -m common.healthcheck /tmp/heartbeat [max_age_seconds]` exits 0 when the
instance's heartbeat file (see common.service.Heartbeat) is fresh."""
import os
import sys
import time


def main(argv):
    path = argv[1] if len(argv) > 1 else os.environ.get("HEARTBEAT_FILE", "/tmp/heartbeat")
    max_age = float(argv[2]) if len(argv) > 2 else 30.0
    try:
        age = time.time() - os.path.getmtime(path)
    except OSError:
        print(f"no heartbeat at {path}")
        return 1
    if age > max_age:
        print(f"heartbeat is {age:.0f}s old")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
