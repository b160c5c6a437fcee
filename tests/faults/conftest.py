"""Fault tests: the platform under a broker outage, a consumer's downtime,
redelivered and reordered messages, on real RabbitMQ.

A broker outage is made on a private RabbitMQ node started for the test
(its own node name, ports and data directory), never on the machine's shared
broker, which other suites and developers use."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
from kombu import Connection

from common.events import ENROLLED, INFO_CHANGED, SUSPENDED, TRANSFERRED
from common.protect import process_index


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateBroker:
    """A RabbitMQ node of its own: `stop_app()` makes the broker unreachable
    (connections drop, durable queues and persistent messages are kept),
    `start_app()` brings it back."""

    def __init__(self):
        self.node = f"edt-fault-{uuid.uuid4().hex[:6]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.dir = tempfile.mkdtemp(prefix="edt-rabbit-")
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self):
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": f"{self.dir}/mnesia",
            "RABBITMQ_LOG_BASE": f"{self.dir}/log",
            "RABBITMQ_CONFIG_FILE": f"{self.dir}/rabbitmq",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{self.dir}/enabled_plugins",
            "RABBITMQ_PID_FILE": f"{self.dir}/node.pid",
        }

    def start(self):
        with open(f"{self.dir}/rabbitmq.conf", "w") as f:
            f.write(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        with open(f"{self.dir}/enabled_plugins", "w") as f:
            f.write("[].\n")  # no management plugin: its port belongs to the shared node
        if os.geteuid() == 0:  # the server scripts run the node as the rabbitmq user
            subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", self.dir], check=True)
        subprocess.run(["rabbitmq-server", "-detached"], env=self._env(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_reachable(90)
        return self

    def ctl(self, *args):
        subprocess.run(["rabbitmqctl", "-n", self.node, *args], env=self._env(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def stop_app(self):
        self.ctl("stop_app")

    def start_app(self):
        self.ctl("start_app")
        self.wait_reachable(60)

    def reachable(self):
        try:
            with Connection(self.uri, connect_timeout=1) as conn:
                conn.ensure_connection(max_retries=1, timeout=1)
            return True
        except Exception:
            return False

    def wait_reachable(self, timeout):
        deadline = time.time() + timeout
        while not self.reachable():
            if time.time() > deadline:
                raise RuntimeError(f"private RabbitMQ node {self.node} did not come up")
            time.sleep(0.5)

    def destroy(self):
        try:
            self.ctl("stop")
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_broker():
    if not (shutil.which("rabbitmq-server") and shutil.which("rabbitmqctl")):
        pytest.skip("rabbitmq-server is not installed: no private node for the outage test")
    broker = PrivateBroker()
    try:
        yield broker.start()
    finally:
        broker.destroy()


# -- what the log says ------------------------------------------------------------

def fold(events):
    """{(cert_type, cert_no): (unit_id, status, name)} after `events`, folded
    independently of the residents service's code."""
    state = {}
    for event in sorted(events, key=lambda e: e["position"]):
        key = (event["person"]["cert_type"], event["person"]["cert_no"])
        if event["type"] in (ENROLLED, TRANSFERRED):
            state[key] = (event["unit"]["id"], "active", event["person"]["name"])
        elif event["type"] == SUSPENDED:
            state[key] = (event["unit"]["id"], "suspended", state[key][2])
        elif event["type"] == INFO_CHANGED:
            unit, status, _ = state[key]
            state[key] = (unit, status, event["person"]["name"])
    return state


def listed(state):
    """A fold keyed as a roster list names its persons: (cert_type, person_id),
    since a list shows the 证件号码 masked (docs/protection.md). The ids are the
    suite's: every process of a test run reads the same development key file."""
    index = process_index()
    return {(cert_type, index.person_id(cert_type, cert_no)): value
            for (cert_type, cert_no), value in state.items()}


def listed_key(item):
    """A roster line's key, as `listed` makes them."""
    return item["cert_type"], item["person_id"]


def read_log(suite, token):
    """Every event, through GET /api/events (retried while the gateway
    reconnects after an outage)."""
    items, after = [], 0
    deadline = time.time() + 120
    while True:
        r = suite.api("GET", "/api/events", token, params={"after": after, "limit": 1000})
        if r.status_code == 503 and time.time() < deadline:
            time.sleep(0.5)
            continue
        assert r.status_code == 200, r.text
        page = r.json()
        if not page["items"]:
            return items
        items += page["items"]
        after = page["next_after"]


def downstream_token(suite, password="Insurer#2026"):
    import sys

    from tests.suite import ROOT

    account = "insurer_" + uuid.uuid4().hex[:8]
    subprocess.run(
        [sys.executable, "-m", "services.auth.cli", "create-account", account, "--role", "downstream"],
        input=f"{password}\n{password}\n", text=True, env=suite.env, cwd=ROOT, check=True,
        capture_output=True,
    )
    return account, password, suite.login(account, password)
