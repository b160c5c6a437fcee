"""The auth service container on the real broker, called over RPC."""
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from common.errors import Locked, Unauthorized
from services.auth import accounts
from services.auth.models import Base
from services.auth.service import AuthService
from services.auth.store import AuthStore


@pytest.fixture
def auth(container_factory, service_config, tables):
    session = tables(Base, service_config["DATABASE_URL"])
    accounts.create_unit(AuthStore(session), "泉州市丰泽区东海社区居民委员会", "donghai",
                         "91110000600037341L", "Seaside#2026")
    container = container_factory(AuthService, service_config)
    container.start()
    with ServiceRpcProxy("auth", service_config) as proxy:
        yield proxy


def test_ping_answers(auth):
    assert auth.ping() == "pong"


def test_login_and_authenticate_over_rpc(auth):
    result = auth.login("donghai", "Seaside#2026", "127.0.0.1")
    principal = auth.authenticate(result["token"])
    assert principal["unit"]["credit_code"] == "91110000600037341L"


def test_domain_errors_arrive_as_their_own_class(auth):
    with pytest.raises(Unauthorized) as exc:
        auth.login("donghai", "nope-nope", None)
    assert exc.value.message == "账号或密码错误"


def test_lockout_over_rpc_carries_the_unlock_time(auth):
    for _ in range(4):
        with pytest.raises(Unauthorized):
            auth.login("donghai", "nope-nope", None)
    with pytest.raises(Locked) as exc:
        auth.login("donghai", "nope-nope", None)
    assert exc.value.extra["locked_until"]


def test_logout_over_rpc(auth):
    token = auth.login("donghai", "Seaside#2026", None)["token"]
    auth.logout(token)
    with pytest.raises(Unauthorized):
        auth.authenticate(token)



def test_entrypoint_calls_are_counted(auth):
    from common.metrics import RPC_CALLS

    import eventlet

    counter = RPC_CALLS.labels("auth", "ping", "ok")
    before = counter._value.get()
    auth.ping()
    auth.ping()
    # The reply leaves before the worker's teardown records the call.
    with eventlet.Timeout(60):
        while counter._value.get() < before + 2:
            eventlet.sleep(0.01)
    assert counter._value.get() == before + 2


def test_heartbeat_file_is_touched_while_the_container_runs(container_factory, service_config, tables, tmp_path):
    from common.healthcheck import main as healthcheck

    tables(Base, service_config["DATABASE_URL"])
    beat = tmp_path / "heartbeat"
    container = container_factory(AuthService, {**service_config, "HEARTBEAT_FILE": str(beat)})
    assert healthcheck(["x", str(beat)]) == 1
    container.start()
    import eventlet
    with eventlet.Timeout(60):  # the first beat is written by the running container
        while healthcheck(["x", str(beat), "30"]) != 0:
            eventlet.sleep(0.05)
