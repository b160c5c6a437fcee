"""The gateway's application factory, served as
`gunicorn 'gateway.app:create_app()'` with gthread workers."""
import logging.config
import os
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

from flask import Flask, send_from_directory  # noqa: E402

from common.logs import logging_config  # noqa: E402
from gateway import errors, hardening, observability, settings  # noqa: E402
from gateway.api import Api  # noqa: E402
from gateway.auth_cache import PrincipalCache  # noqa: E402
from gateway.routes import ALL  # noqa: E402
from gateway.rpc import RpcPool  # noqa: E402

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


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
    errors.register(app)
    observability.register(app)
    hardening.register(app)

    @app.route("/")
    def portal():
        return send_from_directory(STATIC, "index.html")

    @app.route("/static/<path:path>")
    def static_files(path):
        return send_from_directory(STATIC, path)

    return app
