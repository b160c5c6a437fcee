from flask import current_app, jsonify
from marshmallow import fields

from gateway.api import Blueprint
from gateway.schemas.base import BaseSchema
from gateway.settings import SERVICES

blp = Blueprint("health", __name__, description="Liveness and readiness")


class HealthSchema(BaseSchema):
    status = fields.String(required=True, metadata={"description": "ok"})


class ReadySchema(BaseSchema):
    status = fields.String(required=True, metadata={"description": "ok or unavailable"})
    down = fields.List(fields.String(), required=True, metadata={"description": "what does not answer"})
    error = fields.String(metadata={"description": "service_unavailable (503 only)"})
    message = fields.String(metadata={"description": "Chinese message naming what is down (503 only)"})


@blp.route("/healthz")
@blp.doc(security=[])
@blp.alt_response(200, schema=HealthSchema, description="the gateway process is alive")
def healthz():
    """200 while the gateway process lives."""
    return jsonify({"status": "ok"})


@blp.route("/readyz")
@blp.doc(security=[])
@blp.alt_response(200, schema=ReadySchema, description="the broker and every service answer")
@blp.alt_response(503, schema=ReadySchema, description="something is down: `down` names it")
def readyz():
    """200 when the broker and all four services answer; 503 naming what is down."""
    pool = current_app.extensions["rpc"]
    timeout = current_app.config["READY_TIMEOUT"]
    if not pool.broker_ok(timeout):
        down = ["rabbitmq", *SERVICES]
    else:
        down = pool.ping_all(SERVICES, timeout)
    if down:
        body = {
            "status": "unavailable", "down": down,
            "error": "service_unavailable",
            "message": "以下服务不可用：" + "、".join(down),
        }
        return jsonify(body), 503
    return jsonify({"status": "ok", "down": []})
