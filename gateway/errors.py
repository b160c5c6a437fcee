"""One table from failures to HTTP answers of the shape
`{"error", "message", "details"}`. No answer ever carries a stack trace."""
import logging
import socket

from flask import current_app, jsonify
from kombu.exceptions import OperationalError
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from werkzeug.exceptions import HTTPException

from common.errors import DomainError

log = logging.getLogger(__name__)

# Transport failures: the service or the broker is not there.
UNAVAILABLE = (UnknownService, RpcTimeout, OperationalError, ConnectionError, socket.error)

HTTP_MESSAGES = {
    400: ("invalid_input", "请求格式不正确"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "无权访问"),
    404: ("not_found", "请求的内容不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    413: ("too_large", "请求内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    429: ("too_many_requests", "请求过于频繁，请稍后再试"),
    503: ("service_unavailable", "服务暂时不可用，请稍后再试"),
}


def error_body(status, code, message, details=None, **extra):
    body = {"error": code, "message": message, "details": details or {}}
    body.update(extra)
    resp = jsonify(body)
    resp.status_code = status
    return resp


def _flatten(messages):
    """webargs groups field errors by location; clients want them by field."""
    out = {}
    for location, fields in (messages or {}).items():
        if isinstance(fields, dict):
            out.update(fields)
        else:
            out[location] = fields
    return out


def from_http_exception(exc):
    status = exc.code or 500
    if status == 422:  # webargs/marshmallow validation
        details = _flatten(getattr(exc, "data", {}).get("messages"))
        return error_body(400, "invalid_input", "填写的内容有误，请检查", details)
    code, message = HTTP_MESSAGES.get(status, ("error", "请求无法处理"))
    return error_body(status, code, message)


def from_domain_error(exc):
    return error_body(exc.status, exc.code, exc.message, exc.details, **exc.extra)


def from_unavailable(exc):
    log.warning("service unavailable: %s", type(exc).__name__)
    if not isinstance(exc, (UnknownService, RpcTimeout)):
        current_app.extensions["rpc"].discard()
    code, message = HTTP_MESSAGES[503]
    return error_body(503, code, message)


def from_unexpected(exc):
    log.exception("unexpected error")
    return error_body(500, "internal_error", "系统繁忙，请稍后再试")


def register(app):
    app.register_error_handler(HTTPException, from_http_exception)
    app.register_error_handler(DomainError, from_domain_error)
    for exc in UNAVAILABLE:
        app.register_error_handler(exc, from_unavailable)
    app.register_error_handler(RemoteError, from_unexpected)
    app.register_error_handler(Exception, from_unexpected)
