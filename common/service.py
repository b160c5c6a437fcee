"""What every Nameko service of the platform has: a `ping` for readiness
checks, the request id of the calling HTTP request in its log lines, and
the `rpc` entrypoint every service declares its methods with (re-exported
from common/rpc/server.py: replies published without publisher confirms)."""
import logging.config
import os

from nameko.extensions import DependencyProvider

from common import production
from common.logs import logging_config, request_id_var
from common.metrics import EntrypointMetrics
from common.rpc.server import Rpc, RpcConsumer, rpc  # noqa: F401 (the services' `rpc`)


class RequestContext(DependencyProvider):
    """Copies the caller's request id (Nameko context data) into the logging
    context for the duration of a worker, and exposes it to the service."""

    def setup(self):
        production.check()
        # One logging setup for every service, unless its config brings its own.
        if "LOGGING" not in self.container.config:
            configure_logging()

    def worker_setup(self, worker_ctx):
        request_id_var.set(worker_ctx.data.get("request_id") or "-")

    def get_dependency(self, worker_ctx):
        return worker_ctx.data

    def worker_teardown(self, worker_ctx):
        request_id_var.set("-")


class Heartbeat(DependencyProvider):
    """Touches HEARTBEAT_FILE every few seconds while the container runs, so
    an orchestrator's exec probe (`python -m common.healthcheck FILE`) can
    tell a live instance from a hung one. Off when HEARTBEAT_FILE is unset."""

    interval = 5

    def start(self):
        self.path = self.container.config.get("HEARTBEAT_FILE")
        if self.path:
            self.container.spawn_managed_thread(self._beat, identifier="heartbeat")

    def _beat(self):
        import eventlet

        while True:
            with open(self.path, "w") as f:
                f.write(self.container.service_name)
            eventlet.sleep(self.interval)


class PlatformService:
    context = RequestContext()
    heartbeat = Heartbeat()
    metrics = EntrypointMetrics()

    @rpc
    def ping(self):
        return "pong"


def configure_logging():
    """Request id and masking on every line; LOG_JSON=1 for JSON lines."""
    logging.config.dictConfig(
        logging_config(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_JSON") == "1")
    )
