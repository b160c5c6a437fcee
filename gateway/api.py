"""The flask-smorest Api and Blueprint used by every route module.

`Blueprint.secured(*roles)` puts the role check in front of validation (a
caller without a token gets 401, not a 400 about its body) and records the
roles in the OpenAPI document, where the isolation tests read them."""
from flask_smorest import Api as _Api, Blueprint as _Blueprint

from gateway import errors
from gateway.schemas.base import ErrorSchema
from gateway.security import requires

ERROR_RESPONSES = {
    400: "输入有误", 401: "未登录", 403: "无权访问", 404: "不存在",
    409: "业务规则不允许", 503: "服务不可用",
}


class Api(_Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return errors.from_http_exception(error)


class Blueprint(_Blueprint):
    def secured(self, *roles):
        doc = self.doc(
            security=[{"bearerAuth": []}],
            **{"x-roles": list(roles)},
        )

        def decorate(view):
            return doc(requires(*roles)(view))

        return decorate

    def errors(self, *statuses):
        """Document the error answers a route may give."""

        def decorate(view):
            for status in statuses:
                view = self.alt_response(status, schema=ErrorSchema, description=ERROR_RESPONSES.get(status, ""))(view)
            return view

        return decorate
