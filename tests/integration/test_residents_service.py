"""The residents service on the real broker, fed by the real declarations
service and outbox relay: declarations reach the roster, a unit reads only its
own roster over RPC, and a residents instance that starts late catches up."""
import base64
import io

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from openpyxl import load_workbook

from common.errors import InvalidInput, NotFound
from services.declarations.models import Base as DeclarationsBase
from services.declarations.relay import OutboxRelay
from services.declarations.service import DeclarationsService
from services.residents.models import Base as ResidentsBase
from services.residents.service import ResidentsService
from tests import waiting
from tests.factories import enrolment, id_number

U = {"id": 1, "name": "东海社区居民委员会", "credit_code": "91350503MA2Y8K3Q0A"}
V = {"id": 2, "name": "西湖社区居民委员会", "credit_code": "91350503MA2Y8K3Q0B"}
ACTOR = {"account": "donghai", "request_id": "req-1", "address": "10.0.0.1"}


@pytest.fixture
def configs(rabbit_config, tmp_path, tables):
    base = {**rabbit_config, "serializer": "json"}
    declarations = {**base, "DATABASE_URL": f"sqlite:///{tmp_path}/declarations.db",
                    "RELAY_INTERVAL": 0.02}
    residents = {**base, "DATABASE_URL": f"sqlite:///{tmp_path}/residents.db",
                 "CATCHUP_INTERVAL": 0.5}
    tables(DeclarationsBase, declarations["DATABASE_URL"])
    tables(ResidentsBase, residents["DATABASE_URL"])
    return {"declarations": declarations, "residents": residents}


@pytest.fixture
def platform(container_factory, configs):
    """Starts declarations (+ relay) and/or residents: platform("residents")."""
    def start(*names):
        for name in names:
            if name == "declarations":
                container_factory(DeclarationsService, configs["declarations"]).start()
                container_factory(OutboxRelay, configs["declarations"]).start()
            else:
                container_factory(ResidentsService, configs["residents"]).start()
    return start


@pytest.fixture
def declarations(configs):
    with ServiceRpcProxy("declarations", configs["declarations"]) as proxy:
        yield proxy


@pytest.fixture
def residents(configs):
    with ServiceRpcProxy("residents", configs["residents"]) as proxy:
        yield proxy


def wait_for(check, timeout=120):
    return waiting.wait_until(check, "condition not met in time", timeout, interval=0.05)


def test_an_enrolment_reaches_the_units_roster(platform, declarations, residents):
    platform("declarations", "residents")
    declarations.enrol(U, ACTOR, enrolment(1, name="张三"))
    wait_for(lambda: residents.checkpoint() == 1)
    page = residents.roster(U["id"], {}, 1, 20)
    assert [i["name"] for i in page["items"]] == ["张三"]
    assert residents.roster(V["id"], {}, 1, 20)["total"] == 0


def test_transfer_suspension_and_change_flow_through(platform, declarations, residents):
    platform("declarations", "residents")
    declarations.enrol(U, ACTOR, enrolment(2, name="李四"))
    declarations.change(U, ACTOR, {"cert_type": "01", "cert_no": id_number(2), "name": "李四",
                                   "changes": {"phone": "13912345678"}})
    declarations.enrol(V, ACTOR, enrolment(2, name="李四"))
    declarations.suspend(V, ACTOR, {"cert_type": "01", "cert_no": id_number(2), "name": "李四",
                                    "reason": "02"})
    wait_for(lambda: residents.checkpoint() == 4)
    assert residents.roster(U["id"], {}, 1, 20)["total"] == 0
    person = residents.person(V["id"], "01", id_number(2))
    assert person["status"] == "suspended"
    assert [h["kind"] for h in person["history"]] == ["suspension", "transfer_in"]
    with pytest.raises(NotFound):
        residents.person(U["id"], "01", id_number(2))
    assert residents.person_by_id(V["id"], person["person_id"]) == person  # the id a list gives
    with pytest.raises(NotFound):
        residents.person_by_id(U["id"], person["person_id"])
    lookup = residents.lookup(U["id"], "01", id_number(2), "李四")
    assert (lookup["status"], lookup["action"]) == ("suspended_elsewhere", "transfer_in")
    assert "phone" not in lookup["person"]


def test_residents_started_after_the_declarations_catches_up(platform, declarations, residents):
    platform("declarations")
    for i in range(10, 40):
        declarations.enrol(U, ACTOR, enrolment(i))
    platform("residents")
    wait_for(lambda: residents.checkpoint() == 30)
    assert residents.roster(U["id"], {"status": "active"}, 1, 50)["total"] == 30


def test_lookup_errors_cross_the_rpc_boundary_as_invalid_input(platform, residents):
    platform("residents")
    with pytest.raises(InvalidInput) as error:
        residents.lookup(U["id"], "01", "123", None)
    assert error.value.details["cert_no"]


def test_export_over_rpc_is_a_workbook_of_the_filtered_roster(platform, declarations, residents):
    platform("declarations", "residents")
    for i in range(50, 55):
        declarations.enrol(U, ACTOR, enrolment(i))
    declarations.suspend(U, ACTOR, {"cert_type": "01", "cert_no": id_number(50),
                                    "name": enrolment(50)["name"], "reason": "02"})
    wait_for(lambda: residents.checkpoint() == 6)
    result = residents.export_roster(U["id"], {"status": "active"})
    assert result["rows"] == 4
    sheet = load_workbook(io.BytesIO(base64.b64decode(result["content"]))).active
    rows = list(sheet.values)
    assert len(rows) == 5 and rows[0][1] == "证件号码"
    assert {r[1] for r in rows[1:]} == {id_number(i) for i in range(51, 55)}


def test_two_residents_instances_one_consumes_and_the_other_takes_over(
        container_factory, configs, platform, declarations, residents):
    platform("declarations")
    first = container_factory(ResidentsService, configs["residents"])
    first.start()
    container_factory(ResidentsService, dict(configs["residents"])).start()
    for i in range(60, 80):
        declarations.enrol(U, ACTOR, enrolment(i))
    wait_for(lambda: residents.checkpoint() == 20)
    first.stop()  # the active consumer goes; the standby receives from now on
    for i in range(80, 100):
        declarations.enrol(U, ACTOR, enrolment(i))
    wait_for(lambda: residents.checkpoint() == 40)
    assert residents.roster(U["id"], {}, 1, 100)["total"] == 40
