"""Request body limits on every endpoint (issue 10, point 6): JSON bodies are
capped at 64 KB (a notice's, up to 20,000 characters, at 256 KB), uploads at the configured upload limit plus the multipart
envelope; an oversize body is a Chinese 413 in the standard error shape,
refused before the body is read or any service is asked. Errors never show
a stack trace or internal names."""
import json

import pytest

from gateway.app import create_app
from gateway.hardening import JSON_BODY_LIMIT
from gateway.routes.notices import NOTICE_BODY_BYTES

UPLOAD_LIMIT = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def app():
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


def operations_with_a_body(app):
    with app.test_request_context():
        doc = app.test_client().get("/api/openapi.json").get_json()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("post", "put", "patch", "delete"):
                yield method, path, op


def concrete(path):
    return path.replace("{", "").replace("}", "").replace("notice_id", "1").replace("unit_id", "1")


def assert_standard_413(r):
    assert r.status_code == 413, r.data[:300]
    body = r.get_json()
    assert set(body) >= {"error", "message", "details"}
    assert body["error"] == "too_large"
    assert any("\u4e00" <= c <= "\u9fff" for c in body["message"]), body


def oversize_json(size=JSON_BODY_LIMIT + 1):
    return json.dumps({"title": "x" * size}).encode()


NOTICE_WRITES = {("post", "/api/admin/notices"), ("put", "/api/admin/notices/{notice_id}")}


def test_every_json_endpoint_refuses_a_body_over_its_limit(app, client):
    checked = 0
    for method, path, op in operations_with_a_body(app):
        content = (op.get("requestBody") or {}).get("content", {})
        if "multipart/form-data" in content:
            continue
        notice = (method, path) in NOTICE_WRITES
        limit, shown = (NOTICE_BODY_BYTES, "256KB") if notice else (JSON_BODY_LIMIT, "64KB")
        r = client.open(concrete(path), method=method.upper(), data=oversize_json(limit + 1),
                        content_type="application/json")
        assert_standard_413(r)
        assert shown in r.get_json()["message"]
        checked += 1
    assert checked >= 8  # login, logout, password, units, notices..., declarations


def test_the_longest_notice_fits_even_with_every_character_escaped(app):
    body = json.dumps({"title": "\U0001F600" * 100, "body": "\U0001F600" * 20_000}).encode()  # ensure_ascii
    assert JSON_BODY_LIMIT < len(body) <= NOTICE_BODY_BYTES


def test_a_body_at_the_limit_is_not_refused_for_its_size(client):
    body = json.dumps({"account": "x" * (JSON_BODY_LIMIT - 40), "password": "y"}).encode()
    assert len(body) <= JSON_BODY_LIMIT
    r = client.post("/api/auth/login", data=body, content_type="application/json")
    assert r.status_code == 400  # too long an account, said by validation, not by size
    assert r.get_json()["error"] == "invalid_input"


def test_a_get_with_a_body_is_refused_as_well(client):
    r = client.open("/api/codes", method="GET", data=oversize_json(), content_type="application/json")
    assert_standard_413(r)


def test_a_chunked_body_without_length_is_cut_at_the_limit(client):
    """gunicorn marks a chunked body as terminated; werkzeug then stops
    reading at the per-request limit."""
    r = client.post("/api/auth/login", input_stream=__import__("io").BytesIO(oversize_json()),
                    headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                    environ_overrides={"wsgi.input_terminated": True})
    assert_standard_413(r)


def test_a_small_chunked_body_is_still_read_whole(client):
    body = json.dumps({"account": "demo", "password": 12345}).encode()
    r = client.post("/api/auth/login", input_stream=__import__("io").BytesIO(body),
                    headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                    environ_overrides={"wsgi.input_terminated": True})
    assert r.status_code == 400
    assert "password" in r.get_json()["details"]  # the body arrived: validation saw the number


def test_the_upload_endpoint_allows_the_upload_limit_but_no_more(app):
    from gateway.hardening import body_limit
    with app.test_request_context("/api/batches?business_type=enrolment", method="POST"):
        app.preprocess_request()
        from flask import request
        assert body_limit() == app.config["MAX_CONTENT_LENGTH"]
        assert UPLOAD_LIMIT < request.max_content_length <= UPLOAD_LIMIT + 64 * 1024
    with app.test_request_context("/api/declarations/enrolment", method="POST"):
        app.preprocess_request()
        assert body_limit() == JSON_BODY_LIMIT


SECRETS = ("Traceback", "File \"", ".py", "gateway.", "services.", "nameko", "werkzeug", "sqlalchemy")


def assert_clean(r):
    text = r.get_data(as_text=True)
    for word in SECRETS:
        assert word not in text, (word, text[:300])
    body = r.get_json()
    assert body and set(body) >= {"error", "message", "details"}, text[:300]
    assert any("\u4e00" <= c <= "\u9fff" for c in body["message"]), body


@pytest.mark.parametrize("data, content_type", [
    (b'{"account": "demo", "password": ', "application/json"),   # malformed JSON
    (b"\xff\xfe\x00garbage", "application/json"),                 # not even UTF-8
    (b"account=demo&password=x", "application/x-www-form-urlencoded"),  # wrong content type
    (b"<xml/>", "text/xml"),
    (b"[1, 2, 3]", "application/json"),                          # JSON, but not an object
])
def test_bad_bodies_are_a_clean_400(client, data, content_type):
    r = client.post("/api/auth/login", data=data, content_type=content_type)
    assert r.status_code == 400, r.data[:300]
    assert_clean(r)


def test_an_unknown_method_and_path_are_clean(client):
    assert_clean(client.open("/api/codes", method="DELETE"))
    assert_clean(client.get("/api/no/such/thing"))


@pytest.mark.parametrize("path", ["/api/notices/2147483648", "/api/admin/notices/36893488147419103232",
                                  "/api/admin/units/99999999999999999999/logins"])
def test_an_id_no_database_integer_can_hold_is_404_before_any_service(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert r.get_json()["error"] == "not_found"
