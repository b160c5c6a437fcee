"""The state table of docs/domain.md, row by row, on the pure domain module."""
from datetime import date, datetime, timezone

import pytest

from common.events import ENROLLED, INFO_CHANGED, SUSPENDED, TRANSFERRED
from services.declarations import domain
from services.declarations.domain import CHANGE, ENROL, SUSPEND, Command, Rejection

NOW = datetime(2026, 11, 27, 1, 30, tzinfo=timezone.utc)
TODAY = date(2026, 11, 27)
U = {"id": 1, "name": "东海社区居民委员会", "credit_code": "91350503MA2Y8K3Q0X"}
V = {"id": 2, "name": "西湖社区居民委员会", "credit_code": "91350503MA2Y8K3Q1X"}
UNITS = {1: U, 2: V}
PERSON = {
    "cert_type": "01", "cert_no": "350503199001011236", "name": "张三", "gender": "1",
    "birth_date": "1990-01-01", "nation": "01", "category": "11", "phone": "13800138000",
    "hukou_address": None, "address": None, "remark": None,
}
SID = "01:350503199001011236"


def enrol(unit=U, **changes):
    return Command(ENROL, unit, {**PERSON, **changes})


def suspend(unit=U, name="张三", reason="02", remark=None):
    return Command(SUSPEND, unit, {"cert_type": "01", "cert_no": PERSON["cert_no"], "name": name,
                                   "reason": reason, "remark": remark})


def change(unit=U, who="张三", **changes):
    return Command(CHANGE, unit, {"cert_type": "01", "cert_no": PERSON["cert_no"], "name": who,
                                  "changes": changes})


def state(status, unit, version=1):
    return {"stream_id": SID, "cert_type": "01", "cert_no": PERSON["cert_no"], "status": status,
            "unit_id": unit["id"], "version": version, "since": NOW,
            "person": {k: PERSON[k] for k in domain.PERSON_FIELDS}}


def decide(command, current):
    return domain.decide(command, current, UNITS, TODAY)


def event_of(command, current):
    outcomes, states = domain.decide_many([command], {SID: current} if current else {}, UNITS, NOW, TODAY)
    return outcomes[0], states.get(SID)


# enrol -----------------------------------------------------------------------

def test_enrol_of_a_person_never_declared_is_a_new_enrolment_and_an_increase_of_u():
    event, after = event_of(enrol(), None)
    assert event["type"] == ENROLLED and event["data"]["action"] == "new_enrolment"
    assert event["stream_version"] == 1 and event["unit_id"] == U["id"]
    assert domain.movements(event) == [(U["id"], 1)]
    assert after["status"] == "active" and after["unit_id"] == U["id"]


def test_enrol_of_a_person_active_elsewhere_is_a_transfer_in_and_the_old_unit_loses_them():
    event, after = event_of(enrol(), state("active", V, version=3))
    assert event["type"] == TRANSFERRED and event["data"]["action"] == "transfer_in"
    assert event["data"]["from_unit"] == V and event["data"]["to_unit"] == U
    assert event["stream_version"] == 4
    assert domain.movements(event) == [(U["id"], 1), (V["id"], -1)]
    assert after["status"] == "active" and after["unit_id"] == U["id"]


def test_enrol_of_a_person_suspended_elsewhere_is_a_transfer_in_counted_only_for_u():
    event, after = event_of(enrol(), state("suspended", V, version=2))
    assert event["type"] == TRANSFERRED and event["data"]["action"] == "transfer_in"
    assert event["data"]["from_status"] == "suspended"
    assert domain.movements(event) == [(U["id"], 1)]
    assert after["unit_id"] == U["id"]


def test_enrol_of_a_person_suspended_here_resumes_the_enrolment():
    event, after = event_of(enrol(), state("suspended", U, version=2))
    assert event["type"] == ENROLLED and event["data"]["action"] == "resume"
    assert domain.movements(event) == [(U["id"], 1)]
    assert after["status"] == "active"


def test_enrol_of_a_person_active_here_is_refused():
    result = decide(enrol(), state("active", U))
    assert result == Rejection("conflict", "该人员已在本单位正常参保")


def test_a_new_enrolment_keeps_the_declared_data_as_the_persons_data():
    _, after = event_of(enrol(phone="13900139000", address="丰泽区东海街道1号"), None)
    assert after["person"]["phone"] == "13900139000"
    assert after["person"]["address"] == "丰泽区东海街道1号"
    assert "remark" not in after["person"]


# suspend -----------------------------------------------------------------------

def test_suspend_of_a_person_active_here_suspends_with_the_reason_and_is_a_decrease():
    event, after = event_of(suspend(reason="99", remark="外出务工"), state("active", U))
    assert event["type"] == SUSPENDED
    assert event["data"]["reason"] == "99" and event["data"]["remark"] == "外出务工"
    assert domain.movements(event) == [(U["id"], -1)]
    assert after["status"] == "suspended" and after["unit_id"] == U["id"]


@pytest.mark.parametrize("current", [None, state("active", V), state("suspended", V)],
                         ids=["never declared", "active elsewhere", "suspended elsewhere"])
def test_suspend_of_a_person_not_insured_here_is_refused(current):
    assert decide(suspend(), current) == Rejection("conflict", "该人员未在本单位参保")


def test_suspend_of_a_person_already_suspended_here_is_refused():
    assert decide(suspend(), state("suspended", U)) == Rejection("conflict", "该人员已暂停参保")


def test_suspend_with_another_name_than_the_registered_one_is_refused():
    result = decide(suspend(name="李四"), state("active", U))
    assert result.kind == "conflict" and "name" in result.details


# change --------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["active", "suspended"])
def test_change_of_a_person_of_this_unit_keeps_before_and_after(status):
    event, after = event_of(change(phone="13900139000", name="张叁"), state(status, U))
    assert event["type"] == INFO_CHANGED
    assert event["data"]["before"] == {"phone": "13800138000", "name": "张三"}
    assert event["data"]["after"] == {"phone": "13900139000", "name": "张叁"}
    assert event["data"]["name"] == "张叁"
    assert domain.movements(event) == []
    assert after["person"]["phone"] == "13900139000" and after["status"] == status


@pytest.mark.parametrize("current", [None, state("active", V), state("suspended", V)],
                         ids=["never declared", "active elsewhere", "suspended elsewhere"])
def test_change_of_a_person_not_of_this_unit_is_refused(current):
    assert decide(change(phone="13900139000"), current) == Rejection("conflict", "该人员不属于本单位")


def test_change_to_the_same_values_is_refused_as_nothing_to_change():
    result = decide(change(phone="13800138000"), state("active", U))
    assert result.kind == "invalid" and "changes" in result.details


def test_change_of_category_is_checked_against_the_stored_birth_date():
    result = decide(change(category="12"), state("active", U))  # born 1990: not 60
    assert result.kind == "invalid" and "changes.category" in result.details


def test_change_of_birth_date_is_checked_against_the_stored_category():
    current = state("active", U)
    current["person"] = {**current["person"], "category": "13", "birth_date": "2015-01-01"}
    result = decide(change(birth_date="1990-01-01"), current)
    assert result.kind == "invalid" and "changes.birth_date" in result.details


def test_change_with_another_name_than_the_registered_one_is_refused():
    result = decide(change(who="李四", phone="13900139000"), state("active", U))
    assert result.kind == "conflict" and "name" in result.details


# many commands ---------------------------------------------------------------------

def test_commands_for_one_person_in_one_batch_are_decided_in_order():
    commands = [enrol(), enrol(), suspend(), suspend(), enrol()]
    outcomes, states = domain.decide_many(commands, {}, UNITS, NOW, TODAY)
    kinds = [o["data"]["action"] if isinstance(o, dict) else o.message for o in outcomes]
    assert kinds == ["new_enrolment", "该人员已在本单位正常参保", "suspend", "该人员已暂停参保", "resume"]
    assert [o["stream_version"] for o in outcomes if isinstance(o, dict)] == [1, 2, 3]
    assert states[SID]["version"] == 3 and states[SID]["status"] == "active"


def test_decide_many_leaves_the_given_states_untouched():
    given = {SID: state("active", V)}
    domain.decide_many([enrol()], given, UNITS, NOW, TODAY)
    assert given[SID]["unit_id"] == V["id"]


def test_every_event_carries_its_record_id_unit_and_schema_version():
    command = Command(ENROL, U, PERSON, {"actor": "donghai", "batch_no": "B1"})
    (event,), _ = domain.decide_many([command], {}, UNITS, NOW, TODAY, new_id=lambda: "e-1")
    assert event["event_id"] == "e-1"
    assert event["metadata"] == {"actor": "donghai", "batch_no": "B1", "schema_version": 1,
                                 "record_id": "e-1", "unit": U}
    assert event["occurred_at"] == NOW


def test_folding_a_stream_gives_the_state_the_commands_decided_from():
    commands = [enrol(), suspend(), enrol(V), change(V, phone="13900139000")]
    outcomes, states = domain.decide_many(commands, {}, UNITS, NOW, TODAY)
    folded = None
    for event in outcomes:
        folded = domain.evolve(folded, event)
    assert folded == states[SID]
    assert folded["unit_id"] == V["id"] and folded["version"] == 4
