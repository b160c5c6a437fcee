"""Readiness: named last (zz) because it stops and restarts a service.

/readyz gives each ping READY_TIMEOUT (1.5 s): on a loaded machine a live
service may miss it now and then, so the tests wait for the answer they
expect (polling, with a generous cap) instead of taking the first one."""
import time

WAIT_CAP = 60  # seconds


def readyz_until(suite, wanted, cap=WAIT_CAP):
    """Poll /readyz until `wanted(response)`; every answer seen is returned."""
    seen, deadline = [], time.monotonic() + cap
    while True:
        r = suite.api("GET", "/readyz")
        seen.append(r)
        if wanted(r):
            return seen
        assert time.monotonic() < deadline, \
            f"/readyz never gave the expected answer in {cap} s; last: {r.status_code} {r.text}"
        time.sleep(0.2)


def test_readyz_is_200_when_everything_answers(suite):
    seen = readyz_until(suite, lambda r: r.status_code == 200)
    assert seen[-1].json()["down"] == []


def test_readyz_is_503_naming_a_stopped_service(suite):
    suite.stop_process("notices")
    try:
        seen = readyz_until(suite, lambda r: r.status_code == 503 and r.json()["down"] == ["notices"])
        assert "notices" in seen[-1].json()["message"]
        assert all(r.status_code == 503 and "notices" in r.json()["down"] for r in seen)
    finally:
        suite.start_process("notices")
        suite.wait_ready()
    readyz_until(suite, lambda r: r.status_code == 200)
