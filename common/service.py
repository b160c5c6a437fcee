"""What every Nameko service of the platform has: a `ping` for readiness
checks, the request id of the calling HTTP request in its log lines, and
the `rpc` entrypoint every service declares its methods with (re-exported
from common/rpc/server.py: replies published without publisher confirms)."""
import logging.config
import os

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from common import production, tracing
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


class Tracing(DependencyProvider):
    """A span per entrypoint call (common/tracing.py), a child of the
    caller's context (the `traceparent` context data of an RPC, or of a
    message a consumer put there); current while the worker runs, so its
    SQL statements and nested calls join it. Nothing when tracing is off."""

    def setup(self):
        self.on = tracing.configure(self.container.service_name)
        self.spans = {}

    def worker_setup(self, worker_ctx):
        if not self.on:
            return
        entrypoint = worker_ctx.entrypoint
        if isinstance(entrypoint, Timer):
            return  # a tick is no one's request: a trace per tick would bury the requests' ones
        kind = "server" if type(entrypoint).__name__.endswith("Rpc") else "consumer"
        span = tracing.start_span(
            f"{self.container.service_name}.{entrypoint.method_name}", scope="common.service", kind=kind,
            parent=worker_ctx.data.get("traceparent"),
            attributes={"rpc.system": "nameko", "rpc.service": self.container.service_name,
                        "rpc.method": entrypoint.method_name})
        token = tracing.attach(span)
        # Nested calls of this worker carry its span as their parent.
        worker_ctx.data["traceparent"] = tracing.traceparent()
        self.spans[worker_ctx] = (span, token)

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        if exc_info is not None and worker_ctx in self.spans:
            span = self.spans[worker_ctx][0]
            from opentelemetry.trace import Status, StatusCode

            span.record_exception(exc_info[1])
            span.set_status(Status(StatusCode.ERROR, type(exc_info[1]).__name__))

    def worker_teardown(self, worker_ctx):
        span, token = self.spans.pop(worker_ctx, (None, None))
        if span is not None:
            tracing.detach(token)
            span.end()

    def stop(self):
        tracing.flush()


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


# Why this process is not ready (reason key -> text), set by a service that
# is alive but must not be counted on yet (residents rebuilding its roster
# for a new log): `ping`, which /readyz asks, answers the text instead of
# "pong" while any is set.
NOT_READY: dict[str, str] = {}


class PlatformService:
    context = RequestContext()
    heartbeat = Heartbeat()
    metrics = EntrypointMetrics()
    tracing = Tracing()

    @rpc
    def ping(self):
        if NOT_READY:
            return "not ready: " + "; ".join(sorted(NOT_READY.values()))
        return "pong"


def configure_logging():
    """Request id and masking on every line; LOG_JSON=1 for JSON lines."""
    logging.config.dictConfig(
        logging_config(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_JSON") == "1")
    )
