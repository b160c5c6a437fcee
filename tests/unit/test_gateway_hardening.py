"""Security headers, and no production start on default settings
(common.production, used by the gateway and every service)."""
import base64

import pytest

from common import production
from gateway.app import create_app


@pytest.fixture
def client():
    return create_app({"TESTING": True}).test_client()


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/unit", "/no-such-page"])
def test_every_answer_carries_the_security_headers(client, path):
    r = client.get(path)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]


def test_production_refuses_default_settings():
    env = {"EDT_ENV": "production", "AMQP_URI": "amqp://guest:guest@rabbit:5672/"}
    with pytest.raises(SystemExit) as exc:
        production.check(env)
    assert "AMQP_URI" in str(exc.value) and "AUTH_DATABASE_URL" in str(exc.value)
    assert "AUDIT_DATABASE_URL" in str(exc.value) and "EDT_PI_KEYS" in str(exc.value)


def test_production_refuses_to_start_without_personal_information_keys():
    env = {**REAL, "EDT_PI_KEYS": "", "EDT_PI_INDEX_KEY": ""}
    with pytest.raises(SystemExit) as exc:
        production.check(env)
    assert str(exc.value) == ("refusing to start in production with default settings: "
                              "EDT_PI_KEYS / EDT_PI_INDEX_KEY / EDT_PI_KEYS_FILE")


REAL = {"EDT_ENV": "production", "AMQP_URI": "amqp://edt:s3cret@rabbit:5672/edt",
        **{f"{s}_DATABASE_URL": "postgresql://edt:s3cret@pg/edt"
           for s in ("AUTH", "DECLARATIONS", "RESIDENTS", "NOTICES", "AUDIT")},
        "EDT_PI_KEYS": "k1:" + base64.b64encode(b"k" * 16).decode(),
        "EDT_PI_INDEX_KEY": "i1:" + base64.b64encode(b"i" * 32).decode()}


def test_production_starts_with_real_settings():
    production.check(REAL)
    # the gateway is given the index key alone
    production.check({k: v for k, v in REAL.items() if k != "EDT_PI_KEYS"})


def test_development_runs_on_defaults():
    production.check({})
