from flask import current_app, jsonify

from gateway.api import Blueprint
from gateway.settings import SERVICES

blp = Blueprint("health", __name__, description="Liveness and readiness")


@blp.route("/healthz")
@blp.doc(security=[])
def healthz():
    """200 while the gateway process lives."""
    return jsonify({"status": "ok"})


@blp.route("/readyz")
@blp.doc(security=[])
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
