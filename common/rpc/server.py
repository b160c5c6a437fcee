"""The service side of the platform's RPC: the `rpc` entrypoint every
service declares its methods with (`common.service.rpc` re-exports it).

It is Nameko's entrypoint and consumer (Nameko declares the queue
`rpc-<service>`, takes the requests, runs the workers with the `nameko.*`
headers as context data), with the replies published leaner than Nameko's
Responder does (`RpcConsumer.handle_result`):

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

The reply is what Nameko's Responder sends (common/rpc/protocol.py: the
body {result, error}, the request's serializer, its correlation id), so
errors cross RPC as before. It relies on Nameko 2.14.1's RpcConsumer
(`setup`, `handle_result(message, result, exc_info)`, `queue_consumer`):
tests/unit/test_rpc_protocol.py pins the version.
"""
import sys

from kombu import Connection
from kombu.pools import producers
from nameko import rpc as nameko_rpc
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_RETRY_POLICY,
    DEFAULT_TRANSPORT_OPTIONS,
    LOGIN_METHOD_CONFIG_KEY,
)

from common.rpc import protocol

# kombu tries `import librabbitmq` each time a Connection is made (Nameko
# makes one for every publish): a failed import searches sys.path again
# every time (~0.25 ms). The C client is not used; mark it absent once so
# that the import fails at once.
sys.modules.setdefault("librabbitmq", None)  # type: ignore[arg-type]  # None marks it absent


class RpcConsumer(nameko_rpc.RpcConsumer):
    """Nameko's RPC consumer, replying without publisher confirms (above)."""

    def setup(self):
        super().setup()
        config = self.container.config
        self.reply_exchange = protocol.exchange_name(config)
        transport_options = dict(DEFAULT_TRANSPORT_OPTIONS, confirm_publish=False)
        self.reply_connection = Connection(
            config[AMQP_URI_CONFIG_KEY], transport_options=transport_options,
            ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY))

    def handle_result(self, message, result, exc_info):
        properties = message.properties
        content_type, content_encoding, body, failure = protocol.encode_reply(
            result, None if exc_info is None else exc_info[1],
            protocol.serializer_of(properties["content_type"]))
        if failure is not None:
            # as Nameko: the worker sees why its result could not be sent
            result, exc_info = None, (type(failure), failure, failure.__traceback__)

        with producers[self.reply_connection].acquire(block=True) as producer:
            producer.publish(
                body, content_type=content_type, content_encoding=content_encoding,
                exchange=self.reply_exchange, routing_key=properties["reply_to"],
                correlation_id=properties.get("correlation_id"),
                delivery_mode=protocol.NON_PERSISTENT, retry=True, retry_policy=DEFAULT_RETRY_POLICY)

        self.queue_consumer.ack_message(message)
        return result, exc_info


class Rpc(nameko_rpc.Rpc):
    """`@rpc` of every platform service: Nameko's, with `RpcConsumer` above.
    All entrypoints of a service must use it (one consumer per queue)."""

    rpc_consumer = RpcConsumer()


rpc = Rpc.decorator
