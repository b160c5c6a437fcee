"""The gateway's readiness ping (gateway.rpc.RpcPool.ping_all) on the real
broker: one RPC `ping` of each service through the thread's own client
(common/rpc/client.py, no second RPC client), all at once under one short
deadline, naming what does not answer."""
import time

import pytest
from kombu import Connection

from common.rpc import protocol
from common.service import PlatformService

pytestmark = pytest.mark.integration


class Alpha(PlatformService):
    name = "alpha"


class Beta(PlatformService):
    name = "beta"


@pytest.fixture
def config(rabbit_config):
    return {**rabbit_config, "serializer": "json"}


@pytest.fixture
def pool(container_factory, config):
    from gateway.rpc import RpcPool
    for cls in (Alpha, Beta):
        container_factory(cls, config).start()
    pool = RpcPool(config["AMQP_URI"], timeout=60)
    yield pool
    pool.close()


def test_every_service_answering_is_nothing_down(pool):
    assert pool.ping_all(["alpha", "beta"], 30) == []
    # through the thread's own client, which goes on serving calls
    assert pool.proxy().alpha.ping() == "pong"
    assert pool.ping_all(["beta", "alpha"], 30) == []


def test_an_unknown_service_is_down_at_once(pool):
    started = time.monotonic()
    assert pool.ping_all(["alpha", "nobody", "beta"], 30) == ["nobody"]
    assert time.monotonic() - started < 15  # refused by the broker, not timed out
    assert pool.proxy().beta.ping() == "pong"


def test_a_service_whose_queue_nobody_consumes_is_down_after_the_timeout(pool, config):
    # a stopped service leaves its durable queue behind: requests route, no reply comes
    with Connection(config["AMQP_URI"]) as connection:
        channel = connection.channel()
        queue = protocol.SERVICE_QUEUE.format("gamma")
        channel.queue_declare(queue, durable=True, auto_delete=False)
        channel.queue_bind(queue, protocol.EXCHANGE, "gamma.*")
    assert pool.ping_all(["alpha", "gamma", "beta"], 3) == ["gamma"]
    # the client starts afresh after the timeout and serves the next call
    assert pool.proxy().alpha.ping() == "pong"
    assert pool.ping_all(["alpha", "beta"], 30) == []


def test_an_unreachable_broker_is_everything_down():
    from gateway.rpc import RpcPool
    pool = RpcPool("amqp://guest:guest@127.0.0.1:1/", timeout=5)
    try:
        assert pool.ping_all(["alpha", "beta"], 1) == ["alpha", "beta"]
    finally:
        pool.close()
