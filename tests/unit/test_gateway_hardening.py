"""Security headers, and no production start on default settings
(common.production, used by the gateway and every service)."""
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


def test_production_starts_with_real_settings():
    env = {"EDT_ENV": "production", "AMQP_URI": "amqp://edt:s3cret@rabbit:5672/edt",
           **{f"{s}_DATABASE_URL": "postgresql://edt:s3cret@pg/edt" for s in ("AUTH", "DECLARATIONS", "RESIDENTS", "NOTICES")}}
    production.check(env)


def test_development_runs_on_defaults():
    production.check({})
