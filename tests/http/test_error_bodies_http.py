"""Over the real server (gunicorn in front of the app), hostile requests get
a clean answer (issue 10, point 6): bodies over the limit are a Chinese 413
in the standard shape, malformed or mistyped bodies a Chinese 400, and no
answer shows a stack trace, a file path or an internal module name; a huge
header is refused by gunicorn itself before the app, with no internals
either."""
import http.client
import json
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.http

INTERNALS = ("Traceback", "File \"", ".py\"", "gateway.", "services.", "nameko", "werkzeug",
             "sqlalchemy", "kombu", "/work/", "site-packages")


def clean(text):
    leaked = [word for word in INTERNALS if word in text]
    assert not leaked, f"{leaked} in {text[:400]}"


def standard(r, status):
    assert r.status_code == status, r.text[:300]
    clean(r.text)
    body = r.json()
    assert set(body) >= {"error", "message", "details"}, body
    assert any("\u4e00" <= c <= "\u9fff" for c in body["message"]), body
    return body


def test_a_json_body_over_64_kb_is_413(suite, fresh_unit):
    big = {"cert_type": "01", "cert_no": "1", "name": "张三", "category": "11", "phone": "1",
           "remark": "x" * 70000}
    body = standard(suite.api("POST", "/api/declarations/enrolment", fresh_unit["token"], json=big), 413)
    assert body["error"] == "too_large" and "64KB" in body["message"]


def test_a_chunked_body_over_the_limit_is_413(suite):
    def chunks():
        for _ in range(20):
            yield b"x" * 8192

    r = suite.api("POST", "/api/auth/login", data=chunks(), headers={"Content-Type": "application/json"})
    standard(r, 413)


@pytest.mark.parametrize("data, content_type", [
    (b'{"account": "demo", "password": ', "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b"account=demo&password=x", "application/x-www-form-urlencoded"),
    (b"<login/>", "application/xml"),
])
def test_malformed_and_mistyped_bodies_are_a_clean_400(suite, data, content_type):
    r = suite.api("POST", "/api/auth/login", data=data, headers={"Content-Type": content_type})
    standard(r, 400)


def test_a_huge_header_is_refused_without_internals(suite):
    parts = urlsplit(suite.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("GET", "/api/unit")
        conn.putheader("X-Padding", "a" * 20000)
        conn.endheaders()
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
    finally:
        conn.close()
    assert 400 <= resp.status < 500, resp.status
    clean(text)


def test_an_unknown_path_and_method_are_clean(suite):
    standard(suite.api("GET", "/api/no/such/thing"), 404)
    standard(suite.api("DELETE", "/api/codes"), 405)
    r = suite.api("GET", "/api/declarations/enrolment")
    assert r.status_code in (401, 404, 405)
    clean(r.text)
    assert json.loads(r.text)["message"]
