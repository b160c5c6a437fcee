"""`declarations_events_appended_total{type}` (issue 8, point 4) counts the
events that reached the log: once committed, by type, and nothing for a
transaction rolled back."""
import pytest
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session

from common.events import ENROLLED, SUSPENDED
from services.declarations import declaring
from services.declarations.models import Base
from services.declarations.store import DeclarationsStore
from tests.databases import schema_engine
from tests.integration.test_relay import ACTOR, NOW, TZ, UNIT, cert_no


def appended(event_type):
    return REGISTRY.get_sample_value("declarations_events_appended_total", {"type": event_type}) or 0


@pytest.fixture
def engine(sqlite_url):
    with schema_engine(sqlite_url, Base.metadata) as engine:
        yield engine


def enrol(i):
    return ("enrol", {"cert_type": "01", "cert_no": cert_no(i), "name": "张三",
                      "category": "11", "phone": "13800138000"})


def test_committed_events_are_counted_by_type(engine):
    before = appended(ENROLLED), appended(SUSPENDED)
    with Session(engine) as session:
        declaring.declare_many(DeclarationsStore(session), UNIT, ACTOR,
                               [enrol(i) for i in range(3)], NOW, TZ)
        declaring.declare_many(DeclarationsStore(session), UNIT, ACTOR, [
            ("suspend", {"cert_type": "01", "cert_no": cert_no(0), "name": "张三", "reason": "02"})],
            NOW, TZ)
    assert (appended(ENROLLED) - before[0], appended(SUSPENDED) - before[1]) == (3, 1)


def test_an_append_rolled_back_is_not_counted(engine):
    before = appended(ENROLLED)
    with Session(engine) as session:
        store = DeclarationsStore(session)
        plan = declaring.plan_many(store, UNIT, ACTOR, [enrol(10)], NOW, TZ)
        with store.unit_of_work(append=True):  # left without commit: rolled back
            outcomes = declaring.record(store, plan, TZ)
            assert outcomes[0]["ok"] and store.last_position() == 1
    assert appended(ENROLLED) == before
