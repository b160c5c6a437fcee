"""The one table from failures to HTTP answers."""
import pytest
from flask import Flask
from kombu.exceptions import OperationalError
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService

from common import errors as domain
from gateway import errors


class FakePool:
    def __init__(self):
        self.discarded = 0

    def discard(self):
        self.discarded += 1


@pytest.fixture
def app():
    app = Flask(__name__)
    app.extensions["rpc"] = FakePool()
    errors.register(app)
    return app


def answer(app, exc):
    @app.route("/boom")
    def boom():
        raise exc

    return app.test_client().get("/boom")


@pytest.mark.parametrize("exc, status, code", [
    (domain.InvalidInput("填写有误", {"name": ["此项为必填项"]}), 400, "invalid_input"),
    (domain.Unauthorized("请先登录"), 401, "unauthorized"),
    (domain.Forbidden("无权访问"), 403, "forbidden"),
    (domain.NotFound("不存在"), 404, "not_found"),
    (domain.Conflict("该人员已在本单位正常参保"), 409, "conflict"),
    (domain.TooLarge("文件过大"), 413, "too_large"),
    (domain.UnsupportedFile("不是xlsx"), 415, "unsupported_file"),
    (domain.Locked("已锁定"), 423, "account_locked"),
    (domain.TooManyRequests("太频繁"), 429, "too_many_requests"),
    (UnknownService("auth"), 503, "service_unavailable"),
    (RpcTimeout(30), 503, "service_unavailable"),
    (OperationalError("broker gone"), 503, "service_unavailable"),
    (RemoteError("KeyError", "'x'"), 500, "internal_error"),
    (RuntimeError("bug"), 500, "internal_error"),
])
def test_failure_maps_to_status_and_code(app, exc, status, code):
    r = answer(app, exc)
    assert r.status_code == status
    assert r.json["error"] == code
    assert r.json["message"]


def test_domain_error_keeps_its_details_and_extra(app):
    r = answer(app, domain.Locked("已锁定", extra={"locked_until": "2026-11-27T01:20:00+00:00"}))
    assert r.json["locked_until"] == "2026-11-27T01:20:00+00:00"


def test_internal_errors_hide_the_exception_text(app):
    r = answer(app, RuntimeError("secret internal detail /srv/app.py"))
    assert "secret" not in r.get_data(as_text=True)


def test_broken_transport_discards_the_threads_proxy(app):
    answer(app, OperationalError("broker gone"))
    assert app.extensions["rpc"].discarded == 1


def test_domain_errors_survive_nameko_serialisation():
    from nameko.exceptions import deserialize, serialize

    back = deserialize(serialize(domain.Conflict("已暂停参保", {"cert_no": ["x"]})))
    assert isinstance(back, domain.Conflict)
    assert back.details == {"cert_no": ["x"]} and back.extra == {}
