"""Make sure RabbitMQ answers at AMQP_URI before the suite starts.

    python deploy/broker.py                 the broker (make run, make bench)
    python deploy/broker.py --management    the broker and its management API (make test)

If the broker does not answer and this is a local broker with
`rabbitmq-server` installed, start it. With --management, also make sure the
management API answers at RABBIT_MANAGEMENT_URL (the tests create their
private virtual hosts through it): enable the `rabbitmq_management` plugin
on a local broker when it does not. Whatever cannot be done here is said
plainly, with how to do it, and the exit status is non-zero."""
import argparse
import base64
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlparse

from kombu import Connection

URI = os.environ.get("AMQP_URI", "amqp://guest:guest@localhost:5672/")
MANAGEMENT = os.environ.get("RABBIT_MANAGEMENT_URL", "http://guest:guest@localhost:15672")
LOCAL = ("localhost", "127.0.0.1", "::1")
HOW = (
    "RabbitMQ 未运行 / RabbitMQ is not reachable at {uri}.\n"
    "Start it with `rabbitmq-server -detached` (Debian: apt-get install rabbitmq-server),\n"
    "or point AMQP_URI at a running broker, then run this command again."
)
HOW_MANAGEMENT = (
    "RabbitMQ's management API does not answer at {url} (the tests create virtual hosts through it).\n"
    "Enable it with `rabbitmq-plugins enable rabbitmq_management` (as the broker's user or root),\n"
    "or point RABBIT_MANAGEMENT_URL at it, then run this command again."
)


def reachable(timeout=3):
    try:
        with Connection(URI, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:
        return False


def management_answers(timeout=3):
    """Whether GET /api/overview answers 200 with the URL's credentials."""
    url = urlparse(MANAGEMENT)
    port = f":{url.port}" if url.port else ""
    request = urllib.request.Request(f"{url.scheme}://{url.hostname}{port}/api/overview")
    credentials = f"{url.username or 'guest'}:{url.password or 'guest'}".encode()
    request.add_header("Authorization", "Basic " + base64.b64encode(credentials).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except Exception:
        return False


def wait(check, seconds):
    for _ in range(seconds):
        if check():
            return True
        time.sleep(1)
    return check()


def ensure_broker():
    if reachable():
        print(f"RabbitMQ OK at {urlparse(URI).hostname}:{urlparse(URI).port or 5672}")
        return True
    server = shutil.which("rabbitmq-server")
    if urlparse(URI).hostname in LOCAL and server:
        print("RabbitMQ is not running; starting it with `rabbitmq-server -detached` ...")
        subprocess.run([server, "-detached"], check=False)
        time.sleep(1)
        if wait(lambda: reachable(1), 60):
            print("RabbitMQ started.")
            return True
    print(HOW.format(uri=URI), file=sys.stderr)
    return False


def ensure_management():
    if management_answers():
        print("RabbitMQ management API OK")
        return True
    plugins = shutil.which("rabbitmq-plugins")
    if urlparse(MANAGEMENT).hostname in LOCAL and plugins:
        print("enabling RabbitMQ's management plugin (`rabbitmq-plugins enable rabbitmq_management`) ...")
        subprocess.run([plugins, "enable", "--quiet", "rabbitmq_management"], check=False,
                       stdout=subprocess.DEVNULL)
        if wait(management_answers, 60):
            print("RabbitMQ management API OK")
            return True
    url = urlparse(MANAGEMENT)
    print(HOW_MANAGEMENT.format(url=f"{url.scheme}://{url.hostname}:{url.port or 15672}"), file=sys.stderr)
    return False


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python deploy/broker.py")
    parser.add_argument("--management", action="store_true",
                        help="also make sure the management API answers (the tests need it)")
    args = parser.parse_args(argv)
    if not ensure_broker():
        return 1
    if args.management and not ensure_management():
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
