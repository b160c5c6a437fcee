"""Token revocation across gateway processes: each process keeps its own
principal cache (gateway/auth_cache.py), so two more gateway processes are
started beside the suite's, on the same broker and services. A token both
processes have cached must stop working in both on logout and on a password
change, wherever that request was handled.

No deadline measured across processes (a loaded machine may delay the
revocation event by seconds): the test waits for the refusal itself, with a
generous cap. What keeps the wait honest is the cache's lifetime: the two
gateway processes keep a principal for an hour (GATEWAY_AUTH_CACHE_SECONDS),
far beyond the cap, so only the revocation can explain a refusal."""
import os
import subprocess
import sys
import time

import pytest
import requests

from tests.suite import ROOT, free_port

CACHE_SECONDS = 3600  # the cached principal outlives any wait of this test
WAIT_CAP = 60  # seconds: how long a revocation may take to arrive here


def start_gateway(suite, name):
    port = free_port()
    log = open(os.path.join(suite.workdir, f"gateway-{name}.log"), "ab")
    proc = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "-c", "deploy/gunicorn.conf.py",
         "gateway.app:create_app()"],
        cwd=ROOT, env={**suite.env, "GATEWAY_PORT": str(port), "GATEWAY_WORKERS": "1",
                       "GATEWAY_AUTH_CACHE_SECONDS": str(CACHE_SECONDS)},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(f"{url}/readyz", timeout=10).status_code == 200:
                return proc, log, url
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_gateway(proc, log)
            raise RuntimeError(f"the {name} gateway did not start (see gateway-{name}.log)")
        time.sleep(0.3)


def stop_gateway(proc, log):
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
    log.close()


@pytest.fixture(scope="module")
def gateways(suite):
    """The URLs of two gateway processes with long-lived caches."""
    started = []
    try:
        for name in ("second", "third"):
            started.append(start_gateway(suite, name))
        yield [url for _, _, url in started]
    finally:
        for proc, log, _ in started:
            stop_gateway(proc, log)


def unit_status(url, token):
    return requests.get(f"{url}/api/unit", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code


def wait_refused(url, token, cap=WAIT_CAP):
    """Poll until the gateway at `url` refuses `token` (the revocation event
    reached it); fails after `cap` seconds."""
    deadline = time.monotonic() + cap
    while True:
        status = unit_status(url, token)
        if status == 401:
            return
        assert status == 200, status
        assert time.monotonic() < deadline, f"{url} still accepts the revoked token after {cap} s"
        time.sleep(0.05)


def warm(urls, token):
    # A few calls each, so that every process has the principal cached.
    for url in urls:
        for _ in range(3):
            assert unit_status(url, token) == 200


def test_logout_at_one_gateway_process_stops_the_token_at_the_other(gateways, fresh_unit):
    here, there = gateways
    token = fresh_unit["token"]
    warm([here, there], token)
    r = requests.post(f"{here}/api/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 204
    assert unit_status(here, token) == 401  # the handling process evicted it itself
    wait_refused(there, token)


def test_password_change_at_one_process_stops_other_tokens_at_the_other(suite, gateways, fresh_unit):
    there, here = gateways  # handled by the other process this time
    other = suite.login(fresh_unit["account"], fresh_unit["password"])
    warm([here, there], other)
    warm([here, there], fresh_unit["token"])
    r = requests.put(f"{here}/api/auth/password",
                     headers={"Authorization": f"Bearer {fresh_unit['token']}"},
                     json={"old_password": fresh_unit["password"], "new_password": "Changed#2026"}, timeout=30)
    assert r.status_code == 204
    assert unit_status(here, other) == 401
    wait_refused(there, other)
    for url in gateways:  # the token that changed the password keeps working
        assert unit_status(url, fresh_unit["token"]) == 200

