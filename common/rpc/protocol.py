"""Nameko 2.14.1's RPC protocol as it travels over AMQP: the one place that
names what the platform's caller (`common.rpc.client`) and service-side
consumer (`common.rpc.server`) put on the wire and read from it.

tests/unit/test_rpc_protocol.py pins these against Nameko's own
ServiceRpcProxy and Responder on the real broker; an upgrade of Nameko
starts there.

A request
    published to EXCHANGE (a durable topic exchange) with the routing key
    `<service>.<method>` (ROUTING_KEY), which the service's queue
    `rpc-<service>` (SERVICE_QUEUE) is bound to as `<service>.*`; mandatory,
    so that a request nobody consumes comes back (basic.return, as
    UnknownService); properties `reply_to` (the routing key of the caller's
    reply queue), `correlation_id` (a uuid4 naming the call), `content_type`
    and `content_encoding` of the serializer; headers CALL_ID_STACK_HEADER
    (a list of call ids, the caller's last) and one `nameko.<key>` header
    per context value (the platform sends REQUEST_ID_HEADER); the body
    `{"args": [...], "kwargs": {...}}`.

A reply
    published to the same exchange with the request's `reply_to` as routing
    key, the request's `correlation_id`, encoded as the request was; the
    body `{"result": ..., "error": None}` or `{"result": None, "error":
    {"exc_type", "exc_path", "exc_args", "value"}}` (Nameko's `serialize`),
    which the caller turns back into the registered class (common/errors.py)
    or RemoteError (Nameko's `deserialize`).

Where the platform departs from Nameko on purpose (README, "Performance"):
requests and replies are transient (delivery mode NON_PERSISTENT, Nameko
sends PERSISTENT) and published without publisher confirms; replies are
consumed without acks.
"""
import uuid

import kombu.serialization
from nameko.exceptions import (  # noqa: F401 (re-exported: the errors of a call)
    RemoteError,
    RpcTimeout,
    UnknownService,
    UnserializableValueError,
    deserialize,
    serialize,
)

EXCHANGE = "nameko-rpc"  # Nameko's default RPC exchange
EXCHANGE_CONFIG_KEY = "rpc_exchange"  # a service config may name another one
SERVICE_QUEUE = "rpc-{}"  # a service's request queue, bound as "<service>.*"
ROUTING_KEY = "{}.{}"  # service, method
REPLY_QUEUE = "rpc.reply-{}-{}"  # caller name, reply id (the reply_to routing key)
REPLY_QUEUE_TTL = 300_000  # ms: x-expires of a reply queue nobody consumes
CLIENT_NAME = "standalone_rpc_proxy"  # how Nameko's standalone proxies call themselves

HEADER_PREFIX = "nameko"
CALL_ID_STACK_HEADER = "nameko.call_id_stack"
REQUEST_ID_HEADER = "nameko.request_id"
# The caller's trace context (common/tracing.py), when tracing is on: Nameko
# hands it to the worker as context data and passes it on to nested calls.
TRACEPARENT_HEADER = "nameko.traceparent"

PERSISTENT = 2  # Nameko's delivery mode
NON_PERSISTENT = 1  # the platform's: a request or reply is worth nothing after a broker restart
PRIORITY = 0
SERIALIZER = "json"


def exchange_name(config=None):
    return (config or {}).get(EXCHANGE_CONFIG_KEY, EXCHANGE)


def routing_key(service, method):
    return ROUTING_KEY.format(service, method)


def reply_queue(reply_id, client_name=CLIENT_NAME):
    return REPLY_QUEUE.format(client_name, reply_id)


def new_call_id(client_name=CLIENT_NAME):
    """The call id a caller puts on its call id stack (Nameko's WorkerContext
    of a standalone proxy: `<service>.<entrypoint>.<uuid>`)."""
    return f"{client_name}.call.{uuid.uuid4()}"


def request_headers(call_id_stack, request_id=None):
    headers = {CALL_ID_STACK_HEADER: list(call_id_stack)}
    if request_id is not None:
        headers[REQUEST_ID_HEADER] = request_id
    return headers


def encode_request(args, kwargs, serializer=SERIALIZER):
    """(content_type, content_encoding, body bytes) of a request."""
    content_type, content_encoding, body = kombu.serialization.dumps(
        {"args": list(args), "kwargs": kwargs}, serializer)
    if isinstance(body, str):
        body = body.encode(content_encoding)
    return content_type, content_encoding, body


def serializer_of(content_type):
    """The serializer name of a request's content type (a reply is encoded
    the way its request was)."""
    return kombu.serialization.registry.type_to_name[content_type]


def encode_reply(result, exc, serializer):
    """(content_type, content_encoding, body, failure) of a reply: the
    result, or the exception `exc` serialised as Nameko does. A result that
    does not serialise is replaced by UnserializableValueError (as Nameko's
    Responder does) and `failure` is the exception serialising raised, for
    the worker to see; otherwise `failure` is None."""
    error = None if exc is None else serialize(exc)
    try:
        content_type, content_encoding, body = kombu.serialization.dumps(
            {"result": result, "error": error}, serializer)
        return content_type, content_encoding, body, None
    except Exception as failure:
        # the error below is guaranteed to serialise
        error = serialize(UnserializableValueError(result))
        content_type, content_encoding, body = kombu.serialization.dumps(
            {"result": None, "error": error}, serializer)
        return content_type, content_encoding, body, failure


def accept(serializer=SERIALIZER):
    return kombu.serialization.prepare_accept_content([serializer])


def decode_reply(body, content_type, content_encoding, accept_content):
    """The result of a reply, or raise its error as the class registered for
    it (common/errors.py) or RemoteError."""
    payload = kombu.serialization.loads(body, content_type, content_encoding, accept=accept_content)
    error = payload.get("error")
    if error:
        raise deserialize(error)
    return payload["result"]
