"""Token revocation across gateway processes: each process keeps its own
principal cache (gateway/auth_cache.py), so a second gateway process is
started beside the suite's, on the same broker and services. A token both
processes have cached must stop working in both at once on logout and on a
password change, wherever that request was handled."""
import os
import subprocess
import sys
import time

import pytest
import requests

from tests.suite import ROOT, free_port


@pytest.fixture(scope="module")
def second_gateway(suite):
    port = free_port()
    log = open(os.path.join(suite.workdir, "gateway-second.log"), "ab")
    proc = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "-c", "deploy/gunicorn.conf.py",
         "gateway.app:create_app()"],
        cwd=ROOT, env={**suite.env, "GATEWAY_PORT": str(port), "GATEWAY_WORKERS": "1"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(f"{url}/readyz", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.3)
    else:
        proc.terminate()
        raise RuntimeError("the second gateway did not start")
    yield url
    os.killpg(proc.pid, 15)
    proc.wait(20)
    log.close()


def unit_status(url, token):
    return requests.get(f"{url}/api/unit", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code


def refused_within(url, token, seconds):
    """The first moment `token` is refused by the gateway at `url`, in
    seconds after the call (None if it was still accepted at the end)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if unit_status(url, token) == 401:
            return time.monotonic() - started
        time.sleep(0.01)
    return None


def warm(urls, token):
    # A few calls each, so that every process has the principal cached.
    for url in urls:
        for _ in range(3):
            assert unit_status(url, token) == 200


def test_logout_at_one_gateway_process_stops_the_token_at_the_other(suite, second_gateway, fresh_unit):
    token = fresh_unit["token"]
    warm([suite.url, second_gateway], token)
    r = requests.post(f"{suite.url}/api/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 204
    assert unit_status(suite.url, token) == 401  # the handling process evicted it itself
    after = refused_within(second_gateway, token, 1.0)
    assert after is not None and after < 1.0


def test_password_change_at_one_process_stops_other_tokens_at_the_other(suite, second_gateway, fresh_unit):
    other = suite.login(fresh_unit["account"], fresh_unit["password"])
    warm([suite.url, second_gateway], other)
    warm([suite.url, second_gateway], fresh_unit["token"])
    r = requests.put(f"{second_gateway}/api/auth/password",
                     headers={"Authorization": f"Bearer {fresh_unit['token']}"},
                     json={"old_password": fresh_unit["password"], "new_password": "Changed#2026"}, timeout=30)
    assert r.status_code == 204
    assert unit_status(second_gateway, other) == 401
    after = refused_within(suite.url, other, 1.0)
    assert after is not None and after < 1.0
    for url in (suite.url, second_gateway):
        assert unit_status(url, fresh_unit["token"]) == 200
