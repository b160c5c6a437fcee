"""The roster as a projection of declaration events (payloads of docs/events.md).

`LogBuilder` writes a declaration log the way the declarations service does
(same payload shape, same decisions of the state table of docs/domain.md); the other
residents tests import it."""
import itertools
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session

from common.db import make_engine
from common.events import ENROLLED, INFO_CHANGED, SUSPENDED, TRANSFERRED
from common.identity import check_character
from services.residents import feed
from services.residents.models import Base
from services.residents.store import RosterStore

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)
UNITS = {
    1: {"id": 1, "name": "东海社区居民委员会", "credit_code": "91350503MA2Y8K3Q0X"},
    2: {"id": 2, "name": "丰泽社区居民委员会", "credit_code": "91350503MA2Y8K3Q1X"},
    3: {"id": 3, "name": "城东村民委员会", "credit_code": "91350503MA2Y8K3Q2X"},
}


def id_number(serial, born=None):
    """A valid ID card number, different for each serial (born 1990-01-01
    for serials below 1000)."""
    born = born or (date(1990, 1, 1) + timedelta(days=serial // 1000)).strftime("%Y%m%d")
    first17 = f"350503{born}{serial % 1000:03d}"
    return first17 + check_character(first17)


class LogBuilder:
    """Events as the declarations log holds them, in the payload shape."""

    def __init__(self, start=T0):
        self.position = 0
        self.clock = start
        self.state = {}  # cert_no -> (status, unit_id, person data)
        self.events = []

    def _event(self, type_, unit_id, data, cert_no, name, batch_no=None):
        self.position += 1
        self.clock += timedelta(seconds=1)
        event_id = str(uuid.uuid4())
        event = {
            "position": self.position, "event_id": event_id, "type": type_,
            "schema_version": 1, "occurred_at": self.clock.isoformat(),
            "unit": UNITS[unit_id],
            "person": {"cert_type": "01", "cert_no": cert_no, "name": name},
            "data": {"cert_type": "01", "cert_no": cert_no, **data},
            "batch_no": batch_no, "record_id": event_id,
        }
        self.events.append(event)
        return event

    def enrol(self, unit_id, cert_no, name, **fields):
        person = {"name": name, "gender": "1", "birth_date": "1990-01-01", "nation": "01",
                  "category": "11", "phone": "13800138000", "hukou_address": None,
                  "address": "泉州市丰泽区", "remark": None, **fields}
        current = self.state.get(cert_no)
        self.state[cert_no] = ("active", unit_id, person)
        if current is None:
            return self._event(ENROLLED, unit_id, {**person, "action": "new_enrolment"}, cert_no, name)
        status, old_unit, _ = current
        if old_unit == unit_id:
            assert status == "suspended"
            return self._event(ENROLLED, unit_id, {**person, "action": "resume"}, cert_no, name)
        return self._event(TRANSFERRED, unit_id, {
            **person, "action": "transfer_in", "from_unit": UNITS[old_unit],
            "to_unit": UNITS[unit_id], "from_status": status}, cert_no, name)

    def suspend(self, unit_id, cert_no, reason="02", remark=None):
        status, unit, person = self.state[cert_no]
        assert (status, unit) == ("active", unit_id)
        self.state[cert_no] = ("suspended", unit_id, person)
        return self._event(SUSPENDED, unit_id, {
            "name": person["name"], "reason": reason, "remark": remark, "action": "suspend"},
            cert_no, person["name"])

    def change(self, unit_id, cert_no, **after):
        status, unit, person = self.state[cert_no]
        before = {k: person.get(k) for k in after}
        person = {**person, **after}
        self.state[cert_no] = (status, unit, person)
        return self._event(INFO_CHANGED, unit_id, {
            "name": person["name"], "before": before, "after": after, "action": "change"},
            cert_no, person["name"])

    def events_after(self, after, limit):
        """The `declarations.events_after` RPC over this log."""
        return [e for e in self.events if e["position"] > after][:limit]


@pytest.fixture
def store(sqlite_url):
    engine = make_engine(sqlite_url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield RosterStore(session)
    engine.dispose()


def apply_all(store, log):
    return feed.apply_in_order(store, log.events, T0)


def test_new_enrolment_puts_the_person_on_the_unit_roster(store):
    log = LogBuilder()
    cert = id_number(1)
    log.enrol(1, cert, "张三", phone="13900000001")
    apply_all(store, log)
    row = store.opened(store.person("01", cert))
    assert (row.unit_id, row.name, row.status, row.phone) == (1, "张三", "active", "13900000001")
    assert row.birth_date.isoformat() == "1990-01-01"
    assert [h.kind for h in store.history(1, "01", store.bidx("01", cert))] == ["new_enrolment"]


def test_suspension_keeps_the_person_on_the_roster_as_suspended_since_then(store):
    log = LogBuilder()
    cert = id_number(2)
    log.enrol(1, cert, "李四")
    suspended = log.suspend(1, cert, reason="01")
    apply_all(store, log)
    row = store.opened(store.person("01", cert))
    assert row.status == "suspended" and row.suspension_reason == "01"
    assert row.since.replace(tzinfo=timezone.utc).isoformat() == suspended["occurred_at"]
    assert [h.kind for h in store.history(1, "01", store.bidx("01", cert))] == ["suspension", "new_enrolment"]


def test_transfer_moves_the_person_and_the_old_unit_sees_only_that_the_person_left(store):
    log = LogBuilder()
    cert = id_number(3)
    log.enrol(1, cert, "王五")
    log.enrol(2, cert, "王五", phone="13700000000")
    apply_all(store, log)
    row = store.opened(store.person("01", cert))
    assert (row.unit_id, row.status, row.phone) == (2, "active", "13700000000")
    assert store.roster(1, 0, 20)[0] == 0
    assert store.roster(2, 0, 20)[0] == 1
    old = store.history(1, "01", store.bidx("01", cert))
    assert [h.kind for h in old] == ["transfer_out", "new_enrolment"]
    assert old[0].detail == {} and old[0].record_id == log.events[-1]["record_id"]
    assert [h.kind for h in store.history(2, "01", store.bidx("01", cert))] == ["transfer_in"]


def test_resume_in_the_same_unit(store):
    log = LogBuilder()
    cert = id_number(4)
    log.enrol(1, cert, "赵六")
    log.suspend(1, cert)
    log.enrol(1, cert, "赵六")
    apply_all(store, log)
    assert store.person("01", cert).status == "active"
    assert [h.kind for h in store.history(1, "01", store.bidx("01", cert))] == ["resume", "suspension", "new_enrolment"]


def test_info_change_updates_personal_data_and_keeps_before_and_after(store):
    log = LogBuilder()
    cert = id_number(5)
    log.enrol(1, cert, "孙七")
    log.change(1, cert, name="孙琪", phone="13600000000")
    apply_all(store, log)
    row = store.opened(store.person("01", cert))
    assert (row.name, row.phone, row.status) == ("孙琪", "13600000000", "active")
    change = store.history(1, "01", store.bidx("01", cert))[0]
    assert change.kind == "change"
    # before/after hold the phone: stored as one token, opened by the store.
    assert set(change.detail) == {"sealed"} and "1380013800" not in repr(change.detail)
    detail = store.open_detail(change.detail)
    assert detail["before"] == {"name": "孙七", "phone": "13800138000"}
    assert detail["after"] == {"name": "孙琪", "phone": "13600000000"}


def test_an_unknown_event_type_moves_the_checkpoint_and_changes_nothing(store):
    log = LogBuilder()
    log.enrol(1, id_number(6), "周八")
    log.events.append({**log.events[0], "position": 2, "type": "unit_renamed"})
    applied, position = apply_all(store, log)
    assert (applied, position) == (2, 2)
    assert store.roster(1, 0, 20)[0] == 1


def test_checkpoint_is_written_with_the_rows(store):
    log = LogBuilder()
    for i in range(3):
        log.enrol(1, id_number(10 + i), "吴九")
    assert store.checkpoint() == 0
    assert apply_all(store, log) == (3, 3)
    assert store.checkpoint() == 3


def test_a_failing_event_rolls_back_the_whole_run(store):
    log = LogBuilder()
    log.enrol(1, id_number(20), "郑十")
    bad = log.enrol(1, id_number(21), "钱一")
    bad["occurred_at"] = "not a time"
    with pytest.raises(ValueError):
        apply_all(store, log)
    assert store.checkpoint() == 0
    assert store.person("01", id_number(20)) is None


def test_interleaved_units_and_persons_match_a_fold_of_the_log(store):
    log = LogBuilder()
    certs = [id_number(100 + i) for i in range(30)]
    units = itertools.cycle([1, 2, 3])
    for i, cert in enumerate(certs):
        log.enrol(next(units), cert, f"居民{'甲乙丙丁戊'[i % 5]}")
    for i, cert in enumerate(certs[::3]):
        status, unit, _ = log.state[cert]
        log.suspend(unit, cert)
    for cert in certs[1::4]:
        log.enrol(3 if log.state[cert][1] != 3 else 1, cert, "新名")
    apply_all(store, log)
    for cert, (status, unit, person) in log.state.items():
        row = store.opened(store.person("01", cert))
        assert (row.status, row.unit_id, row.name) == (status, unit, person["name"])
