"""What every Nameko service of the platform has: a `ping` for readiness
checks, the request id of the calling HTTP request in its log lines, and
the `rpc` entrypoint every service declares its methods with (replies
published without publisher confirms, see `RpcConsumer`)."""
import logging.config
import os
import sys

import kombu.serialization
from kombu import Connection
from kombu.pools import producers
from nameko import rpc as nameko_rpc
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_RETRY_POLICY,
    DEFAULT_TRANSPORT_OPTIONS,
    LOGIN_METHOD_CONFIG_KEY,
    NON_PERSISTENT,
)
from nameko.exceptions import UnserializableValueError, serialize
from nameko.extensions import DependencyProvider

from common import production
from common.logs import logging_config, request_id_var
from common.metrics import EntrypointMetrics

# kombu tries `import librabbitmq` each time a Connection is made (Nameko
# makes one for every publish): a failed import searches sys.path again
# every time (~0.25 ms). The C client is not used; mark it absent once so
# that the import fails at once. Every service imports this module.
sys.modules.setdefault("librabbitmq", None)  # type: ignore[arg-type]  # None marks it absent


class RpcConsumer(nameko_rpc.RpcConsumer):
    """Nameko's RPC consumer, publishing replies leaner than its Responder:

    - without publisher confirms: waiting for the broker's ack of a reply
      was about half of a cheap read's CPU in the service (py-spy). A reply
      is transient anyway: it goes to the caller's reply queue, and a caller
      whose reply is lost gets its RPC timeout, as it would if the service
      died mid-call. Events (the relay's outbox, EventDispatcher) keep their
      confirms: they use their own publishers.
    - non-persistent delivery (reply queues are not durable);
    - the payload serialised once (Nameko serialises the result once to check
      it and again to publish it);
    - one kombu Connection made at setup as the key of kombu's producer pool,
      instead of a new one for each reply.

    The reply body is what Nameko's Responder sends ({result, error}, the
    request's serializer, its correlation id), so errors cross RPC as before.
    """

    def setup(self):
        super().setup()
        config = self.container.config
        self.reply_exchange = nameko_rpc.get_rpc_exchange(config).name
        transport_options = dict(DEFAULT_TRANSPORT_OPTIONS, confirm_publish=False)
        self.reply_connection = Connection(
            config[AMQP_URI_CONFIG_KEY], transport_options=transport_options,
            ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY))

    def handle_result(self, message, result, exc_info):
        error = None
        if exc_info is not None:
            error = serialize(exc_info[1])
        # the reply is encoded the way the request was
        serializer = kombu.serialization.registry.type_to_name[message.properties["content_type"]]
        try:
            content_type, content_encoding, body = kombu.serialization.dumps(
                {"result": result, "error": error}, serializer)
        except Exception:
            # as Nameko: an unserialisable result becomes an error that is
            # guaranteed to serialise, and the worker sees the exception
            exc_info = sys.exc_info()
            error = serialize(UnserializableValueError(result))
            result = None
            content_type, content_encoding, body = kombu.serialization.dumps(
                {"result": None, "error": error}, serializer)

        with producers[self.reply_connection].acquire(block=True) as producer:
            producer.publish(
                body, content_type=content_type, content_encoding=content_encoding,
                exchange=self.reply_exchange, routing_key=message.properties["reply_to"],
                correlation_id=message.properties.get("correlation_id"),
                delivery_mode=NON_PERSISTENT, retry=True, retry_policy=DEFAULT_RETRY_POLICY)

        self.queue_consumer.ack_message(message)
        return result, exc_info


class Rpc(nameko_rpc.Rpc):
    """`@rpc` of every platform service: Nameko's, with `RpcConsumer` above.
    All entrypoints of a service must use it (one consumer per queue)."""

    rpc_consumer = RpcConsumer()


rpc = Rpc.decorator


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
