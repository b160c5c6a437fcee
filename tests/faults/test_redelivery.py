"""Messages on the real broker that arrive twice or out of order: the
residents service applies each event once and in position order, filling a
gap from the declarations service (events_after over RPC)."""
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import text
from sqlalchemy.orm import Session

from common.db import make_engine
from common.queues import LOG_EPOCH_HEADER, LOG_ID_HEADER
from services.declarations import declaring
from services.declarations.eventlog import identity as log_identity
from services.declarations.models import Base as DeclarationsBase
from services.declarations.relay_store import RelayStore
from services.declarations.service import DeclarationsService
from services.declarations.store import DeclarationsStore
from services.residents.models import Base as ResidentsBase
from services.residents.service import ResidentsService
from tests.factories import enrolment, id_number

TZ = ZoneInfo("Asia/Shanghai")
U = {"id": 1, "name": "东海社区居民委员会", "credit_code": "91350503MA2Y8K3Q0A"}
ACTOR = {"account": "donghai", "request_id": "req-1", "address": "10.0.0.1"}


@pytest.fixture
def configs(rabbit_config, tmp_path):
    base = {**rabbit_config, "serializer": "json"}
    out = {
        # No relay runs here: the test publishes the messages itself.
        "declarations": {**base, "DATABASE_URL": f"sqlite:///{tmp_path}/declarations.db"},
        "residents": {**base, "DATABASE_URL": f"sqlite:///{tmp_path}/residents.db",
                      "CATCHUP_INTERVAL": 3600},
    }
    for base_cls, name in ((DeclarationsBase, "declarations"), (ResidentsBase, "residents")):
        engine = make_engine(out[name]["DATABASE_URL"])
        base_cls.metadata.create_all(engine)
        engine.dispose()
    return out


@pytest.fixture
def log(configs, container_factory):
    """Declares into the declarations database; `log.events` are the
    payloads the relay would publish."""
    container_factory(DeclarationsService, configs["declarations"]).start()
    engine = make_engine(configs["declarations"]["DATABASE_URL"])

    class Log:
        def declare(self, kind, data):
            with Session(engine) as session:
                declaring.declare(DeclarationsStore(session), kind, U, ACTOR, data,
                                  datetime.now(timezone.utc), TZ)

        @property
        def events(self):
            with Session(engine) as session:
                return RelayStore(session, None).events_after(0, 1000)

    yield Log()
    engine.dispose()


@pytest.fixture
def residents(configs, container_factory):
    container_factory(ResidentsService, configs["residents"]).start()
    engine = make_engine(configs["residents"]["DATABASE_URL"])

    class Residents:
        def checkpoint(self):
            with engine.connect() as conn:
                return conn.execute(text("SELECT position FROM residents_checkpoint")).scalar() or 0

        def history(self):
            with engine.connect() as conn:
                return conn.execute(text(
                    "SELECT position, kind FROM resident_history ORDER BY position, unit_id")).all()

        def wait_for(self, position, timeout=60):
            deadline = time.time() + timeout
            while self.checkpoint() < position:
                assert time.time() < deadline, f"residents stopped at {self.checkpoint()}"
                time.sleep(0.05)

    yield Residents()
    engine.dispose()


def publish(configs, event):
    """As the relay publishes it: with the log's identity in the headers."""
    engine = make_engine(configs["declarations"]["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            identity = log_identity.current(conn)
    finally:
        engine.dispose()
    headers = {LOG_ID_HEADER: identity.log_id, LOG_EPOCH_HEADER: identity.epoch}
    event_dispatcher(configs["residents"], headers=headers)("declarations", event["type"], event)


def sentinel(configs, log, residents, person):
    """Declare one more event and publish it behind the others, then wait
    until residents applied it: the queue hands messages over in order, so
    every message published before it has reached residents by then (no
    sleep that hopes so). Returns its position."""
    log.declare("change", {"cert_type": "01", "cert_no": person["cert_no"], "name": person["name"],
                           "changes": {"address": "泉州市丰泽区东海街道哨兵路1号"}})
    last = log.events[-1]
    publish(configs, last)
    residents.wait_for(last["position"])
    return last["position"]


def test_the_same_message_delivered_twice_is_applied_once(configs, log, residents):
    log.declare("enrol", enrolment(1))
    log.declare("change", {"cert_type": "01", "cert_no": id_number(1), "name": enrolment(1)["name"],
                           "changes": {"phone": "13912345678"}})
    first, second = log.events
    publish(configs, first)
    publish(configs, first)
    publish(configs, second)
    publish(configs, first)
    residents.wait_for(2)
    last = sentinel(configs, log, residents, enrolment(1))  # the late duplicate arrived too
    assert residents.history() == [(1, "new_enrolment"), (2, "change"), (last, "change")]
    with ServiceRpcProxy("residents", configs["residents"]) as proxy:
        person = proxy.person(U["id"], "01", id_number(1))
    assert person["phone"] == "13912345678"
    assert [h["position"] for h in person["history"]] == [last, 2, 1]


def test_position_n_plus_2_before_n_plus_1_fills_the_gap_and_applies_both_in_order(
        configs, log, residents):
    person = enrolment(2)
    log.declare("enrol", person)
    log.declare("suspend", {"cert_type": "01", "cert_no": id_number(2), "name": person["name"],
                            "reason": "01"})
    log.declare("enrol", person)  # resumed
    one, two, three = log.events
    publish(configs, one)
    residents.wait_for(1)
    publish(configs, three)  # N+2 first: N+1 comes from declarations.events_after
    residents.wait_for(3)
    publish(configs, two)  # N+1 arriving late is a duplicate now
    last = sentinel(configs, log, residents, person)
    assert residents.history() == [(1, "new_enrolment"), (2, "suspension"), (3, "resume"), (last, "change")]
    with ServiceRpcProxy("residents", configs["residents"]) as proxy:
        row = proxy.roster(U["id"], {"cert_no": id_number(2)}, 1, 20)["items"][0]
    assert row["status"] == "active"
