"""Make sure RabbitMQ answers at AMQP_URI before the suite starts.

If it does not and this is a local broker with `rabbitmq-server` installed,
start it; otherwise say plainly how to start it, and exit non-zero."""
import os
import shutil
import subprocess
import sys
import time
from urllib.parse import urlparse

from kombu import Connection

URI = os.environ.get("AMQP_URI", "amqp://guest:guest@localhost:5672/")
HOW = (
    "RabbitMQ 未运行 / RabbitMQ is not reachable at {uri}.\n"
    "Start it with `rabbitmq-server -detached` (Debian: apt-get install rabbitmq-server),\n"
    "or point AMQP_URI at a running broker, then run this command again."
)


def reachable(timeout=3):
    try:
        with Connection(URI, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:
        return False


def main():
    if reachable():
        print(f"RabbitMQ OK at {urlparse(URI).hostname}:{urlparse(URI).port or 5672}")
        return 0
    local = urlparse(URI).hostname in ("localhost", "127.0.0.1", "::1")
    server = shutil.which("rabbitmq-server")
    if local and server:
        print("RabbitMQ is not running; starting it with `rabbitmq-server -detached` ...")
        subprocess.run([server, "-detached"], check=False)
        for _ in range(60):
            time.sleep(1)
            if reachable(1):
                print("RabbitMQ started.")
                return 0
    print(HOW.format(uri=URI), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
