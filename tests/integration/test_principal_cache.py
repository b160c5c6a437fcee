"""The gateway's principal cache (gateway/auth_cache.py) against the real
auth service and broker: two caches stand for two gateway processes, each
with its own revocation consumer, as gunicorn's workers have.

No deadline across processes: a revocation travels through the broker,
which a loaded machine may delay by seconds, so the tests wait for the
eviction itself with a generous cap (WAIT_CAP). The caches keep a principal
for an hour (TTL), far beyond the cap, so only the revocation can explain
an eviction."""

import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from common.errors import Unauthorized
from gateway.auth_cache import PrincipalCache
from services.auth import accounts
from services.auth.models import Base
from services.auth.service import AuthService
from services.auth.store import AuthStore
from tests import waiting

PASSWORD = "Seaside#2026"
TTL = 3600  # seconds a cache keeps a principal: longer than any wait below
WAIT_CAP = 60  # seconds: how long the broker may take to deliver something


@pytest.fixture
def auth(container_factory, service_config, tables):
    session = tables(Base, service_config["DATABASE_URL"])
    accounts.create_unit(AuthStore(session), "泉州市丰泽区东海社区居民委员会", "donghai",
                         "91110000600037341L", PASSWORD)
    container = container_factory(AuthService, service_config)
    container.start()
    with ServiceRpcProxy("auth", service_config) as proxy:
        yield proxy


@pytest.fixture
def caches(service_config):
    made = [PrincipalCache(service_config["AMQP_URI"], ttl=TTL).start() for _ in range(2)]
    for cache in made:
        assert cache.consuming.wait(WAIT_CAP), "the revocation consumer did not start"
    yield made
    for cache in made:
        cache.stop()


class Fetcher:
    """auth.authenticate, counting the calls (a call = a cache miss)."""

    def __init__(self, auth):
        self.auth, self.calls = auth, 0

    def __call__(self, token):
        self.calls += 1
        return self.auth.authenticate(token)


def wait_until(condition, message, cap=WAIT_CAP):
    """Poll `condition` until true; fail with `message` after `cap` seconds."""
    return waiting.wait_until(condition, message, cap, interval=0.01)


def wait_refused(cache, token, fetch):
    """Wait until the revocation event evicted `token` from `cache`: looked
    up, it is then fetched again, and auth refuses it."""

    def refused():
        try:
            cache.lookup(token, fetch)
        except Unauthorized:
            return True
        return False

    wait_until(refused, "the revoked token is still served from the cache")


def test_a_cached_principal_is_not_asked_again(auth, caches):
    token = auth.login("donghai", PASSWORD, None)["token"]
    fetch = Fetcher(auth)
    first = caches[0].lookup(token, fetch)
    again = caches[0].lookup(token, fetch)
    assert first == again and first["account"] == "donghai"
    assert fetch.calls == 1


def test_logout_evicts_the_token_in_every_process(auth, caches):
    token = auth.login("donghai", PASSWORD, None)["token"]
    fetch = Fetcher(auth)
    for cache in caches:
        cache.lookup(token, fetch)
    assert fetch.calls == 2
    auth.logout(token)  # published before the answer; no process evicted it itself
    for cache in caches:
        wait_refused(cache, token, fetch)


def test_password_change_evicts_the_other_tokens_but_not_this_one(auth, caches):
    kept = auth.login("donghai", PASSWORD, None)["token"]
    other = auth.login("donghai", PASSWORD, None)["token"]
    fetch = Fetcher(auth)
    for cache in caches:
        cache.lookup(kept, fetch)
        cache.lookup(other, fetch)
    auth.change_password(kept, PASSWORD, "Changed#2026")
    for cache in caches:
        wait_refused(cache, other, fetch)
    calls = fetch.calls
    for cache in caches:
        assert cache.lookup(kept, fetch)["account"] == "donghai"
    assert fetch.calls == calls  # still cached: the kept token was not evicted


def test_an_answer_fetched_while_a_revocation_arrives_is_not_kept(auth, caches):
    token = auth.login("donghai", PASSWORD, None)["token"]
    cache = caches[0]

    def fetch_then_revoked(t):
        principal = auth.authenticate(t)
        cache.revoke_token(t)  # the logout's event lands between the RPC and the store
        return principal

    cache.lookup(token, fetch_then_revoked)
    assert len(cache) == 0


def test_losing_the_broker_clears_the_cache_and_bypasses_it_until_back(auth, caches, rabbit_manager, rabbit_config):
    token = auth.login("donghai", PASSWORD, None)["token"]
    fetch = Fetcher(auth)
    cache = caches[0]
    cache.lookup(token, fetch)
    assert len(cache) == 1
    # Close the consumer's connection from the broker's side.
    port = cache.connection.connection.sock.getsockname()[1]
    vhost = rabbit_config["vhost"]
    names = []

    def listed():  # the management API lists a connection after a moment
        names[:] = [c["name"] for c in rabbit_manager.get_connections()
                    if c.get("vhost") == vhost and c.get("peer_port") == port]
        return bool(names)

    wait_until(listed, "the consumer's connection is not listed")
    rabbit_manager.delete_connection(names[0])
    wait_until(lambda: not cache.consuming.is_set(), "the cache did not notice the lost connection")
    assert len(cache) == 0
    # It reconnects, and caches again from then on.
    assert cache.consuming.wait(WAIT_CAP), "the consumer did not reconnect"
    calls = fetch.calls
    cache.lookup(token, fetch)
    cache.lookup(token, fetch)
    assert fetch.calls == calls + 1


def test_expiry_bounds_the_cache(auth, service_config):
    cache = PrincipalCache(service_config["AMQP_URI"], ttl=TTL).start()
    try:
        assert cache.consuming.wait(WAIT_CAP)
        token = auth.login("donghai", PASSWORD, None)["token"]
        principal = auth.authenticate(token)
        expired = {**principal, "expires_at": "2000-01-01T00:00:00+00:00"}
        calls = []
        cache.lookup(token, lambda t: calls.append(t) or expired)
        cache.lookup(token, lambda t: calls.append(t) or expired)
        assert len(calls) == 2  # an answer past its token's expiry is never kept
    finally:
        cache.stop()


def test_ttl_zero_asks_every_time(auth, service_config):
    cache = PrincipalCache(service_config["AMQP_URI"], ttl=0)
    token = auth.login("donghai", PASSWORD, None)["token"]
    fetch = Fetcher(auth)
    cache.lookup(token, fetch)
    cache.lookup(token, fetch)
    assert fetch.calls == 2
