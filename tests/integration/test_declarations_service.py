"""The declarations container on the real broker, called over RPC."""
import pytest
from nameko.standalone.rpc import ClusterRpcProxy, ServiceRpcProxy

from common.errors import Conflict, InvalidInput, NotFound
from common.identity import check_character
from services.declarations.models import Base
from services.declarations.service import DeclarationsService

pytestmark = pytest.mark.integration

U = {"id": 1, "name": "东海社区居民委员会", "credit_code": "91350503MA2Y8K3Q0A"}
V = {"id": 2, "name": "西湖社区居民委员会", "credit_code": "91350503MA2Y8K3Q0B"}
ACTOR = {"account": "donghai", "request_id": "req-1", "address": "10.0.0.1"}


def cert_no(i):
    first = f"35050319900101{i:03d}"
    return first + check_character(first)


def person(i=1, **extra):
    return {"cert_type": "01", "cert_no": cert_no(i), "name": "张三", "category": "11",
            "phone": "13800138000", **extra}


@pytest.fixture
def config(service_config, tables):
    tables(Base, service_config["DATABASE_URL"])
    return {**service_config, "BUSINESS_TZ": "Asia/Shanghai"}


@pytest.fixture
def rpc(container_factory, config):
    container_factory(DeclarationsService, config).start()
    with ServiceRpcProxy("declarations", config) as proxy:
        yield proxy


def test_ping_answers(rpc):
    assert rpc.ping() == "pong"


def test_enrol_suspend_change_and_read_back_over_rpc(rpc):
    enrolled = rpc.enrol(U, ACTOR, person())
    assert enrolled["action"] == "new_enrolment" and enrolled["declared_at"].endswith("+08:00")
    suspended = rpc.suspend(U, ACTOR, {"cert_type": "01", "cert_no": cert_no(1), "name": "张三",
                                       "reason": "99", "remark": "外出务工"})
    assert suspended["business_type"] == "suspension"
    changed = rpc.change(U, ACTOR, {"cert_type": "01", "cert_no": cert_no(1), "name": "张三",
                                    "changes": {"phone": "13900139000"}})
    assert changed["before"] == {"phone": "13800138000"}
    summary = rpc.unit_summary(U["id"])
    assert summary["insured_count"] == 0 and summary["month_increase"] == 1 and summary["month_decrease"] == 1
    stats = rpc.unit_stats(U["id"], 3)
    assert len(stats) == 3 and stats[-1]["insured_end"] == 0
    records = rpc.list_records(U["id"], {}, 1, 20)
    assert [r["business_type"] for r in records["items"]] == ["change", "suspension", "enrolment"]
    detail = rpc.get_record(U["id"], suspended["record_id"])
    assert detail["data"]["remark"] == "外出务工"
    assert rpc.person_state("01", cert_no(1))["status"] == "suspended"
    assert rpc.persons_state([["01", cert_no(1)], ["01", cert_no(2)]])[1] is None


def test_domain_errors_arrive_as_their_own_class(rpc):
    with pytest.raises(InvalidInput) as exc:
        rpc.enrol(U, ACTOR, person(phone="12"))
    assert list(exc.value.details) == ["phone"]
    rpc.enrol(U, ACTOR, person())
    with pytest.raises(Conflict) as exc:
        rpc.enrol(U, ACTOR, person())
    assert exc.value.message == "该人员已在本单位正常参保"
    with pytest.raises(NotFound):
        rpc.get_record(V["id"], rpc.list_records(U["id"], {}, 1, 1)["items"][0]["record_id"])


def test_an_idempotency_key_makes_a_retry_harmless(rpc):
    first = rpc.enrol(U, ACTOR, person(), "retry-1")
    assert rpc.enrol(U, ACTOR, person(), "retry-1") == first
    assert rpc.events_after(0, 10)["next_after"] == 1


def test_events_after_pages_the_log_in_the_contract_shape(rpc):
    for i in range(1, 4):
        rpc.enrol(U, ACTOR, person(i))
    rpc.enrol(V, {**ACTOR, "account": "xihu"}, person(2))
    page = rpc.events_after(1, 2)
    assert [e["position"] for e in page["items"]] == [2, 3] and page["next_after"] == 3
    last = rpc.events_after(3, 100)["items"]
    assert last[0]["type"] == "resident_transferred" and last[0]["unit"] == V
    assert last[0]["data"]["from_unit"] == U
    end = rpc.events_after(4, 100)
    assert (end["items"], end["next_after"]) == ([], 4)
    # The page names the log it is from (docs/events.md): its id, epoch and head.
    assert end["log"]["log_id"] and end["log"]["epoch"] >= 1 and end["log"]["head"] == 4


def test_two_units_enrolling_one_person_at_once_over_rpc_one_wins(rpc, config):
    with ClusterRpcProxy(config) as cluster:
        replies = [cluster.declarations.enrol.call_async(unit, ACTOR, person(7)) for unit in (U, V) * 3]
        results = []
        for reply in replies:
            try:
                results.append(reply.result()["action"])
            except Conflict as exc:
                results.append(exc.message)
    assert results.count("new_enrolment") == 1
    state = rpc.person_state("01", cert_no(7))
    assert state["version"] == rpc.events_after(0, 100)["next_after"]
