"""Readiness: named last (zz) because it stops and restarts a service."""


def test_readyz_is_200_when_everything_answers(suite):
    r = suite.api("GET", "/readyz")
    assert r.status_code == 200 and r.json()["down"] == []


def test_readyz_is_503_naming_a_stopped_service(suite):
    suite.stop_process("notices")
    try:
        r = suite.api("GET", "/readyz")
        assert r.status_code == 503
        assert r.json()["down"] == ["notices"]
        assert "notices" in r.json()["message"]
    finally:
        suite.start_process("notices")
        suite.wait_ready()
    assert suite.api("GET", "/readyz").status_code == 200
