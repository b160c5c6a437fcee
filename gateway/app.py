"""The gateway's application factory, served as
`gunicorn 'gateway.app:create_app()'` with gthread workers."""
import logging.config
import os
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

from flask import Flask, send_from_directory  # noqa: E402

from common.logs import logging_config  # noqa: E402
from gateway import audit, errors, hardening, masking, observability, settings  # noqa: E402
from gateway.api import Api  # noqa: E402
from gateway.auth_cache import PrincipalCache  # noqa: E402
from gateway.routes import ALL  # noqa: E402
from gateway.rpc import RpcPool  # noqa: E402

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
# Operations that ask no service: they can be neither 503 nor 401.
LOCAL = {("get", "/healthz"), ("get", "/api/codes")}


def complete_document(spec):
    """Make the OpenAPI document say exactly what the gateway answers, as
    schemathesis checks (tests/http/test_schemathesis.py):

    * validation errors are 400 in the standard error shape (gateway/errors.py
      turns webargs' 422 into 400), so 422 is not documented;
    * no catch-all `default` response: a status the document does not list
      is a defect to find, not something to accept;
    * every operation may answer 413 (request body limits, gateway/hardening.py)
      and, except the ones that ask no service, 503 (a service or the broker
      is down)."""
    for path, operations in spec._paths.items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses.pop("default", None)
            if responses.pop("422", None) is not None or responses.pop(422, None) is not None:
                responses.setdefault("400", {"description": "输入有误", "content": ERROR})
            responses.setdefault("413", {"description": "请求内容过大", "content": ERROR})
            if (method, path) not in LOCAL:
                responses.setdefault("503", {"description": "服务暂时不可用", "content": ERROR})
    for name in ("DEFAULT_ERROR", "UNPROCESSABLE_ENTITY"):
        spec.components.responses.pop(name, None)


def create_app(config=None):
    app = Flask(__name__, static_folder=None)
    app.config.update(settings.from_env())
    app.config.update(
        API_TITLE="E点通 城乡居民医保申报平台 API",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False
    app.config.update(config or {})
    if not app.config.get("TESTING"):
        logging.config.dictConfig(logging_config(app.config["LOG_LEVEL"], app.config["LOG_JSON"]))

    app.extensions["rpc"] = RpcPool(app.config["AMQP_URI"], app.config["RPC_TIMEOUT"])
    # Started on first use, in each gunicorn worker (after the fork).
    app.extensions["principals"] = PrincipalCache(app.config["AMQP_URI"], app.config["AUTH_CACHE_SECONDS"])
    api = Api(app, spec_kwargs={"info": {"description": "社区单位城乡居民基本医疗保险网上申报"}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for module in ALL:
        api.register_blueprint(module.blp)
    complete_document(api.spec)
    errors.register(app)
    observability.register(app)
    hardening.register(app)
    audit.register(app)  # runs before hardening's and observability's after_request hooks
    masking.register(app)  # the key of person ids: a production gateway without it stops here

    @app.route("/")
    def portal():
        return send_from_directory(STATIC, "index.html")

    @app.route("/static/<path:path>")
    def static_files(path):
        return send_from_directory(STATIC, path)

    return app
