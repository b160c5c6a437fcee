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
    # requests keep their confirms (the caller's side is unchanged)
    with ClusterRpcProxy(config, timeout=5) as cluster:
        with pytest.raises(UnknownService):
            cluster.nobody.echo(1)
