"""The platform's RPC adapter (common/rpc/) against Nameko itself.

The adapter speaks Nameko 2.14.1's RPC protocol without Nameko's proxy and
Responder (README, "Performance"), so it relies on what Nameko puts on the
wire and on the consumer methods it overrides. These tests pin both: the
version; the names of common/rpc/protocol.py against Nameko's; and, on the
real broker, the requests of Nameko's ServiceRpcProxy and of the platform's
RpcClient, and the replies of Nameko's Responder and of the platform's
RpcConsumer, message by message: exchange, routing key, every property,
every header and the body. Where the platform departs on purpose
(transient delivery) the test says so with the exact values."""
import importlib.metadata
import inspect
import re
import time
import uuid

import amqp
import pytest
from kombu import Connection
from nameko import constants as nameko_constants, rpc as nameko_rpc
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy, StandaloneProxyBase

from common.errors import EXPECTED, NotFound
from common.rpc import protocol, server
from common.rpc.client import RpcClient
from common.service import rpc

UPGRADE = (
    "common/rpc/ speaks Nameko 2.14.1's RPC protocol itself. Before moving to another "
    "Nameko version, re-check against the new Nameko: the names in common/rpc/protocol.py "
    "(exchange, queue templates and TTL, nameko.* headers, delivery mode, standalone proxy "
    "name); common/rpc/server.py's RpcConsumer overrides (setup, handle_result(message, "
    "result, exc_info), queue_consumer.ack_message) against nameko.rpc.RpcConsumer and "
    "Responder.send_response; common/rpc/client.py's requests against "
    "nameko.rpc.MethodProxy._call and the standalone ReplyListener; error (de)serialisation "
    "(nameko.exceptions.serialize/deserialize); then update this pin and run this file, "
    "tests/integration/test_rpc_replies.py and bench/bench_rpc.py.")

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
CALL_ID = re.compile(r"^standalone_rpc_proxy\.call\.[0-9a-f-]{36}$")
ARGS, KWARGS = ([1, "二"],), {"flag": True}


def test_nameko_is_the_version_the_adapter_was_written_for():
    assert importlib.metadata.version("nameko") == "2.14.1", UPGRADE


def test_the_protocol_names_are_namekos():
    assert protocol.EXCHANGE == nameko_rpc.get_rpc_exchange({}).name, UPGRADE
    assert protocol.EXCHANGE_CONFIG_KEY == nameko_constants.RPC_EXCHANGE_CONFIG_KEY, UPGRADE
    assert protocol.exchange_name({"rpc_exchange": "other"}) == \
        nameko_rpc.get_rpc_exchange({"rpc_exchange": "other"}).name
    assert protocol.SERVICE_QUEUE == nameko_rpc.RPC_QUEUE_TEMPLATE, UPGRADE
    assert protocol.REPLY_QUEUE == nameko_rpc.RPC_REPLY_QUEUE_TEMPLATE, UPGRADE
    assert protocol.REPLY_QUEUE_TTL == nameko_rpc.RPC_REPLY_QUEUE_TTL, UPGRADE
    assert protocol.HEADER_PREFIX == nameko_constants.HEADER_PREFIX, UPGRADE
    assert protocol.CALL_ID_STACK_HEADER == \
        f"{nameko_constants.HEADER_PREFIX}.{nameko_constants.CALL_ID_STACK_CONTEXT_KEY}", UPGRADE
    assert protocol.REQUEST_ID_HEADER == f"{nameko_constants.HEADER_PREFIX}.request_id", UPGRADE
    assert protocol.PERSISTENT == nameko_constants.PERSISTENT, UPGRADE
    assert protocol.NON_PERSISTENT == nameko_constants.NON_PERSISTENT, UPGRADE
    assert protocol.SERIALIZER == nameko_constants.DEFAULT_SERIALIZER, UPGRADE
    assert protocol.CLIENT_NAME == StandaloneProxyBase.ServiceContainer.service_name, UPGRADE
    assert StandaloneProxyBase.Dummy.method_name == "call", UPGRADE


def test_the_consumer_methods_the_server_overrides_are_namekos():
    assert issubclass(server.RpcConsumer, nameko_rpc.RpcConsumer)
    assert issubclass(server.Rpc, nameko_rpc.Rpc)
    assert list(inspect.signature(nameko_rpc.RpcConsumer.handle_result).parameters) == \
        ["self", "message", "result", "exc_info"], UPGRADE
    assert list(inspect.signature(nameko_rpc.Responder.send_response).parameters) == \
        ["self", "result", "exc_info"], UPGRADE
    assert "rpc_consumer" in vars(nameko_rpc.Rpc), UPGRADE
    # the services' `rpc` is the adapter's
    assert rpc is server.rpc


# on the real broker (each test on its own virtual host)

@pytest.fixture
def broker(rabbit_config):
    """A channel on the test's own virtual host, with Nameko's RPC exchange."""
    with Connection(rabbit_config["AMQP_URI"]) as connection:
        channel = connection.channel()
        channel.exchange_declare(protocol.EXCHANGE, "topic", durable=True, auto_delete=False)
        yield channel


def listen(channel, routing_key):
    """A queue on the RPC exchange that takes what is published with
    `routing_key`, as a service's queue (or a caller's reply queue) would."""
    queue = f"probe-{uuid.uuid4()}"
    channel.queue_declare(queue, durable=False, auto_delete=False)
    channel.queue_bind(queue, protocol.EXCHANGE, routing_key)
    return queue


def take(channel, queue):
    deadline = time.monotonic() + 60
    while (message := channel.basic_get(queue, no_ack=True)) is None:
        assert time.monotonic() < deadline, f"nothing arrived in {queue}"
        time.sleep(0.05)
    return message


def request_from_nameko(config, service):
    with ServiceRpcProxy(service, config, context_data={"request_id": "req-1"}) as proxy:
        proxy.echo.call_async(*ARGS, **KWARGS)


def request_from_the_adapter(config, service):
    client = RpcClient(config["AMQP_URI"], timeout=30)
    client.request_id = "req-1"
    try:
        return client.send(service, "echo", ARGS, KWARGS), client
    finally:
        client.close()


@pytest.mark.integration
def test_requests_are_namekos_but_transient(rabbit_config, broker):
    queue = listen(broker, "probe.*")
    request_from_nameko(rabbit_config, "probe")
    theirs = take(broker, queue)
    correlation_id, client = request_from_the_adapter(rabbit_config, "probe")
    ours = take(broker, queue)

    for message in (theirs, ours):
        assert message.delivery_info["exchange"] == "nameko-rpc"
        assert message.delivery_info["routing_key"] == "probe.echo"
        props = message.properties
        assert set(props) == {"content_type", "content_encoding", "application_headers",
                              "delivery_mode", "priority", "correlation_id", "reply_to"}, UPGRADE
        assert (props["content_type"], props["content_encoding"], props["priority"]) == \
            ("application/json", "utf-8", 0), UPGRADE
        assert UUID.match(props["correlation_id"]) and UUID.match(props["reply_to"]), UPGRADE
        headers = props["application_headers"]
        assert set(headers) == {"nameko.call_id_stack", "nameko.request_id"}, UPGRADE
        assert headers["nameko.request_id"] == "req-1", UPGRADE
        assert len(headers["nameko.call_id_stack"]) == 1, UPGRADE
        assert CALL_ID.match(headers["nameko.call_id_stack"][0]), UPGRADE
    # (py-amqp decodes a body whose content_encoding it knows)
    assert ours.body == theirs.body == '{"args": [[1, "\\u4e8c"]], "kwargs": {"flag": true}}', UPGRADE
    # on purpose: Nameko's requests are persistent, the platform's transient
    assert theirs.properties["delivery_mode"] == protocol.PERSISTENT, UPGRADE
    assert ours.properties["delivery_mode"] == protocol.NON_PERSISTENT
    assert ours.properties["correlation_id"] == correlation_id
    assert ours.properties["reply_to"] == client.routing_key


@pytest.mark.integration
def test_reply_queues_are_namekos(rabbit_config, rabbit_manager, broker):
    queue = listen(broker, "probe.*")
    request_from_nameko(rabbit_config, "probe")
    theirs = take(broker, queue).properties["reply_to"]
    _, client = request_from_the_adapter(rabbit_config, "probe")
    vhost = rabbit_config["vhost"]
    for reply_to in (theirs, client.routing_key):
        name = protocol.reply_queue(reply_to)
        assert name == f"rpc.reply-standalone_rpc_proxy-{reply_to}"
        assert rabbit_manager.get_queue(vhost, name)["arguments"] == {"x-expires": 300_000}, UPGRADE
        bindings = rabbit_manager.get_queue_bindings(vhost, name)
        assert {(b["source"], b["routing_key"]) for b in bindings if b["source"]} == \
            {("nameko-rpc", reply_to)}, UPGRADE


# replies: Nameko's Responder and the platform's consumer side by side

class NamekoEcho:
    name = "nameko_echo"

    @nameko_rpc.rpc(expected_exceptions=EXPECTED)
    def echo(self, value, flag=False):
        return {"value": value, "flag": flag}

    @nameko_rpc.rpc(expected_exceptions=EXPECTED)
    def missing(self):
        raise NotFound("人员不存在", {"cert_no": ["未找到"]})

    @nameko_rpc.rpc
    def broken(self):
        raise ValueError("boom")

    @nameko_rpc.rpc
    def unserialisable(self):
        return object()


class PlatformEcho:
    name = "platform_echo"

    @rpc(expected_exceptions=EXPECTED)
    def echo(self, value, flag=False):
        return {"value": value, "flag": flag}

    @rpc(expected_exceptions=EXPECTED)
    def missing(self):
        raise NotFound("人员不存在", {"cert_no": ["未找到"]})

    @rpc
    def broken(self):
        raise ValueError("boom")

    @rpc
    def unserialisable(self):
        return object()


@pytest.fixture
def echoes(container_factory, rabbit_config):
    config = {**rabbit_config, "serializer": "json"}
    for cls in (NamekoEcho, PlatformEcho):
        container_factory(cls, config).start()
    return config


def reply_to_a_raw_request(channel, service, method, args, kwargs):
    """Publish a request by hand and take the service's reply from a queue
    bound to the reply routing key."""
    reply_to = str(uuid.uuid4())
    queue = listen(channel, reply_to)
    content_type, content_encoding, body = protocol.encode_request(args, kwargs)
    channel.basic_publish(
        amqp.Message(body, content_type=content_type, content_encoding=content_encoding,
                     correlation_id="call-1", reply_to=reply_to,
                     application_headers=protocol.request_headers([protocol.new_call_id()], "req-1")),
        exchange=protocol.EXCHANGE, routing_key=protocol.routing_key(service, method))
    return take(channel, queue), reply_to


@pytest.mark.integration
@pytest.mark.parametrize("method,args", [
    ("echo", ARGS), ("missing", ()), ("broken", ()), ("unserialisable", ()),
])
def test_replies_are_namekos_but_transient(echoes, broker, method, args):
    kwargs = KWARGS if method == "echo" else {}
    theirs, their_key = reply_to_a_raw_request(broker, "nameko_echo", method, args, kwargs)
    ours, our_key = reply_to_a_raw_request(broker, "platform_echo", method, args, kwargs)
    # the same body but for the address of the object that did not serialise
    assert re.sub("0x[0-9a-f]+", "0x", ours.body) == re.sub("0x[0-9a-f]+", "0x", theirs.body), UPGRADE
    assert theirs.delivery_info["routing_key"] == their_key
    assert ours.delivery_info["routing_key"] == our_key
    assert ours.delivery_info["exchange"] == theirs.delivery_info["exchange"] == "nameko-rpc"
    for props in (theirs.properties, ours.properties):
        assert props["correlation_id"] == "call-1", UPGRADE
        assert (props["content_type"], props["content_encoding"]) == ("application/json", "utf-8")
        assert props.get("application_headers", {}) == {}, UPGRADE
        assert props.get("priority", 0) == 0
        assert "reply_to" not in props
    assert set(ours.properties) - {"priority"} == set(theirs.properties) - {"priority"}, UPGRADE
    # on purpose: Nameko's replies are persistent, the platform's transient
    assert theirs.properties["delivery_mode"] == protocol.PERSISTENT, UPGRADE
    assert ours.properties["delivery_mode"] == protocol.NON_PERSISTENT


@pytest.mark.integration
def test_the_adapter_reads_namekos_replies_and_its_own(echoes):
    client = RpcClient(echoes["AMQP_URI"], timeout=60)
    try:
        for service in ("nameko_echo", "platform_echo"):
            assert client.call(service, "echo", ARGS, KWARGS) == {"value": [1, "二"], "flag": True}
            with pytest.raises(NotFound) as exc:
                client.call(service, "missing", (), {})
            assert exc.value.details == {"cert_no": ["未找到"]}
            with pytest.raises(RemoteError) as exc:
                client.call(service, "broken", (), {})
            assert exc.value.exc_type == "ValueError"
            with pytest.raises(RemoteError) as exc:
                client.call(service, "unserialisable", (), {})
            assert exc.value.exc_type == "UnserializableValueError"
    finally:
        client.close()
