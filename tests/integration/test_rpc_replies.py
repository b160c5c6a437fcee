"""The platform's `rpc` entrypoint (common/service.py) on the real broker:
its replies are published without publisher confirms and serialised once,
and must still reach the caller with the result, the caller's own reply
among many concurrent ones, the registered domain errors as their class,
other errors as RemoteError, and an unserialisable result as an error."""
import pytest
from nameko.exceptions import RemoteError, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy, ServiceRpcProxy

from common.errors import EXPECTED, NotFound
from common.service import PlatformService, RpcConsumer, rpc

pytestmark = pytest.mark.integration


class EchoService(PlatformService):
    name = "echo"

    @rpc(expected_exceptions=EXPECTED)
    def echo(self, value):
        return {"value": value, "request_id": self.context.get("request_id")}

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
def config(rabbit_config):
    return {**rabbit_config, "serializer": "json"}


@pytest.fixture
def echo(container_factory, config):
    container = container_factory(EchoService, config)
    container.start()
    return container


def test_every_entrypoint_uses_the_platform_consumer(echo):
    consumers = {type(e.rpc_consumer) for e in echo.entrypoints}
    assert consumers == {RpcConsumer}


def test_the_reply_arrives_with_the_callers_context_data(echo, config):
    with ServiceRpcProxy("echo", config, context_data={"request_id": "req-42"}) as proxy:
        assert proxy.echo("你好") == {"value": "你好", "request_id": "req-42"}
        assert proxy.ping() == "pong"


def test_concurrent_calls_each_get_their_own_reply(echo, config):
    with ClusterRpcProxy(config) as cluster:
        replies = [(i, cluster.echo.echo.call_async(i)) for i in range(200)]
        assert all(reply.result()["value"] == i for i, reply in replies)


def test_domain_errors_cross_as_their_class(echo, config):
    with ServiceRpcProxy("echo", config) as proxy:
        with pytest.raises(NotFound) as exc:
            proxy.missing()
        assert exc.value.message == "人员不存在"
        assert exc.value.details == {"cert_no": ["未找到"]}
        # the service goes on answering after an error
        assert proxy.echo(1)["value"] == 1


def test_unexpected_errors_cross_as_remote_errors(echo, config):
    with ServiceRpcProxy("echo", config) as proxy:
        with pytest.raises(RemoteError) as exc:
            proxy.broken()
        assert exc.value.exc_type == "ValueError"


def test_an_unserialisable_result_becomes_an_error(echo, config):
    with ServiceRpcProxy("echo", config) as proxy:
        with pytest.raises(RemoteError) as exc:
            proxy.unserialisable()
        assert exc.value.exc_type == "UnserializableValueError"
        assert proxy.echo(2)["value"] == 2


def test_an_unknown_service_is_still_refused_at_once(echo, config):
    with ClusterRpcProxy(config, timeout=30) as cluster:  # a cap: refused long before
        with pytest.raises(UnknownService):
            cluster.nobody.echo(1)


# the gateway's side: gateway.rpc.RpcClient, one per gateway thread

class SlowService(PlatformService):
    name = "slow"

    @rpc
    def sleep(self, seconds):
        import eventlet
        eventlet.sleep(seconds)
        return seconds


# Generous: a call on a loaded machine may take seconds; no test here waits
# for this timeout except the one that sets its own.
POOL_TIMEOUT = 60


@pytest.fixture
def pool(echo, config):
    from gateway.rpc import RpcPool
    pool = RpcPool(config["AMQP_URI"], timeout=POOL_TIMEOUT)
    yield pool
    pool.close()


def test_gateway_client_carries_result_and_request_id(pool):
    from common.logs import request_id_var
    token = request_id_var.set("req-gw-1")
    try:
        assert pool.proxy().echo.echo([1, "二"]) == {"value": [1, "二"], "request_id": "req-gw-1"}
    finally:
        request_id_var.reset(token)
    assert pool.proxy()["echo"].ping() == "pong"


def test_gateway_client_raises_the_services_errors(pool):
    with pytest.raises(NotFound) as exc:
        pool.proxy().echo.missing()
    assert exc.value.details == {"cert_no": ["未找到"]}
    with pytest.raises(RemoteError) as exc:
        pool.proxy().echo.broken()
    assert exc.value.exc_type == "ValueError"
    assert pool.proxy().echo.echo(3)["value"] == 3


def test_gateway_client_refuses_an_unknown_service_at_once(pool):
    with pytest.raises(UnknownService):
        pool.proxy().nobody.echo(1)
    assert pool.proxy().echo.echo(4)["value"] == 4


def test_gateway_client_times_out_then_works_again(container_factory, config):
    from gateway.rpc import RpcPool
    from nameko.exceptions import RpcTimeout
    container_factory(SlowService, config).start()
    # A timeout a loaded machine cannot reach by accident (the next call must
    # not time out), and a call that outlasts it for certain.
    pool = RpcPool(config["AMQP_URI"], timeout=5)
    try:
        with pytest.raises(RpcTimeout):
            pool.proxy().slow.sleep(30)
        # the late reply of the abandoned call is never taken for this one
        assert pool.proxy().slow.sleep(0) == 0
    finally:
        pool.close()


def test_gateway_client_reconnects_after_a_dropped_connection(pool):
    import socket
    assert pool.proxy().echo.echo(5)["value"] == 5
    client = pool.client()
    client.connection.connection.transport.sock.shutdown(socket.SHUT_RDWR)
    assert pool.proxy().echo.echo(6)["value"] == 6
    # after discard (the gateway's answer to a transport error) too
    pool.discard()
    assert pool.proxy().echo.echo(7)["value"] == 7


def test_gateway_client_reconnects_after_the_broker_closed_its_connection(pool, rabbit_manager):
    import time
    assert pool.proxy().echo.echo(8)["value"] == 8
    port = pool.client().connection.connection.sock.getsockname()[1]
    def listed():
        return [c["name"] for c in rabbit_manager.get_connections() if c.get("peer_port") == port]

    deadline = time.monotonic() + 60
    while not (names := listed()):
        assert time.monotonic() < deadline, "the management API never listed the client's connection"
        time.sleep(0.2)
    rabbit_manager.delete_connection(names[0])
    # Wait for the broker to have closed it (not for a fixed time).
    deadline = time.monotonic() + 60
    while listed():
        assert time.monotonic() < deadline, "the broker did not close the client's connection"
        time.sleep(0.2)
    # the closed connection is noticed before publishing: no lost request
    # (a lost one would wait for POOL_TIMEOUT and raise RpcTimeout)
    started = time.monotonic()
    assert pool.proxy().echo.echo(9)["value"] == 9
    assert time.monotonic() - started < POOL_TIMEOUT / 2


def test_gateway_threads_each_get_their_own_replies(pool):
    import threading
    failures = []

    def work(n):
        try:
            for i in range(50):
                assert pool.proxy().echo.echo([n, i])["value"] == [n, i]
        except Exception as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len({id(c) for c in pool._all}) == 8
