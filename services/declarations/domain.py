"""The enrolment state table of docs/domain.md as plain functions: decide what a
command of a unit does to a person, given the person's current state, and
fold events into that state. No framework, no I/O, no clock: the caller
passes `now` and the validated data.

A person's state is a dict (None for a person never declared):
    {"stream_id", "cert_type", "cert_no", "status": "active" | "suspended",
     "unit_id", "version", "since": aware datetime, "person": {PERSON_FIELDS}}
It equals folding the person's stream with `evolve`.
"""
import uuid
from dataclasses import dataclass, field
from datetime import date

from common.events import ENROLLED, INFO_CHANGED, SCHEMA_VERSION, SUSPENDED, TRANSFERRED
from common.person import category_age_error

ENROL, SUSPEND, CHANGE = "enrol", "suspend", "change"
ACTIVE, SUSPENDED_STATUS = "active", "suspended"

# Actions: the three of an enrolment (docs/domain.md), and one each for the others.
NEW_ENROLMENT, TRANSFER_IN, RESUME = "new_enrolment", "transfer_in", "resume"
SUSPEND_ACTION, CHANGE_ACTION = "suspend", "change"

BUSINESS_TYPE = {
    ENROLLED: "enrolment", TRANSFERRED: "enrolment",
    SUSPENDED: "suspension", INFO_CHANGED: "change",
}

# What is kept about a person (the declaration-only fields - remark, reason -
# stay in the events).
PERSON_FIELDS = ("name", "gender", "birth_date", "nation", "category", "phone",
                 "hukou_address", "address")

# Rejections of the state table, as a community worker reads them.
ALREADY_ACTIVE_HERE = "该人员已在本单位正常参保"
NOT_INSURED_HERE = "该人员未在本单位参保"
ALREADY_SUSPENDED = "该人员已暂停参保"
NOT_OF_THIS_UNIT = "该人员不属于本单位"
NAME_MISMATCH = "姓名与该证件号码的参保登记信息不一致，请核对"
NOTHING_CHANGED = "变更后的信息与现有信息相同，无需变更"

# A person someone else appended to between the decision and the append:
# two units (or two declarations) about one person at the same moment.
BUSY = "该人员正在由其他单位或其他申报同时办理，请刷新后重试"


@dataclass(frozen=True)
class Command:
    """A declaration by `unit` ({id, name, credit_code}) with validated,
    normalised `data` (dates as ISO strings). `meta` goes into the event's
    metadata as given (actor, request_id, address, idempotency_key, batch_no)."""
    kind: str
    unit: dict
    data: dict
    meta: dict = field(default_factory=dict)

    @property
    def key(self):
        """The person key: (cert_type, normalised cert_no)."""
        return self.data["cert_type"], self.data["cert_no"]


@dataclass(frozen=True)
class Rejection:
    """A command refused: `kind` "conflict" (a rule of the state table, 409)
    or "invalid" (input that the person's state makes wrong, 400)."""
    kind: str
    message: str
    details: dict = field(default_factory=dict)


def local_stream_id(key):
    """A stream id for a person key where no store gave one: only for
    deciding in memory (tests of the rules). The store gives every person
    an opaque id of its own (DeclarationsStore.streams), and nothing else
    is ever appended."""
    return f"{key[0]}:{key[1]}"


# -- deciding ---------------------------------------------------------------

def decide(command, state, units, today):
    """(event type, event data) for `command`, or a Rejection.

    `units` maps unit ids to {id, name, credit_code}: a transfer names the
    unit that loses the person. `today` is the business date (age rules).
    """
    if command.kind == ENROL:
        return _enrol(command, state, units)
    if command.kind == SUSPEND:
        return _suspend(command, state)
    if command.kind == CHANGE:
        return _change(command, state, today)
    raise ValueError(f"unknown command {command.kind!r}")


def _here(state, unit_id):
    return state is not None and state["unit_id"] == unit_id


def _enrol(command, state, units):
    unit = command.unit
    data = command.data  # copied into each event's data below, never changed
    if state is None:
        return ENROLLED, {**data, "action": NEW_ENROLMENT}
    if _here(state, unit["id"]):
        if state["status"] == ACTIVE:
            return Rejection("conflict", ALREADY_ACTIVE_HERE)
        return ENROLLED, {**data, "action": RESUME}
    old = units.get(state["unit_id"]) or {"id": state["unit_id"], "name": None, "credit_code": None}
    return TRANSFERRED, {
        **data, "action": TRANSFER_IN,
        "from_unit": old, "to_unit": _unit_ref(unit),
        # Only an active person is lost by the old unit (counts as its decrease).
        "from_status": state["status"],
    }


def _suspend(command, state):
    if not _here(state, command.unit["id"]):
        return Rejection("conflict", NOT_INSURED_HERE)
    if state["status"] != ACTIVE:
        return Rejection("conflict", ALREADY_SUSPENDED)
    if command.data["name"] != state["person"]["name"]:
        return Rejection("conflict", NAME_MISMATCH, {"name": [NAME_MISMATCH]})
    return SUSPENDED, {**command.data, "action": SUSPEND_ACTION}


def _change(command, state, today):
    if not _here(state, command.unit["id"]):
        return Rejection("conflict", NOT_OF_THIS_UNIT)
    data = command.data
    current = state["person"]
    if data["name"] != current["name"]:
        return Rejection("conflict", NAME_MISMATCH, {"name": [NAME_MISMATCH]})
    before, after = {}, {}
    for key, value in data["changes"].items():
        if current.get(key) != value:
            before[key], after[key] = current.get(key), value
    if not after:
        return Rejection("invalid", NOTHING_CHANGED, {"changes": [NOTHING_CHANGED]})
    if "category" in after or "birth_date" in after:
        merged = {**current, **after}
        born = merged.get("birth_date")
        reason = born and category_age_error(merged.get("category"), date.fromisoformat(born), today)
        if reason:
            key = "changes.category" if "category" in after else "changes.birth_date"
            return Rejection("invalid", reason, {key: [reason]})
    return INFO_CHANGED, {
        "cert_type": data["cert_type"], "cert_no": data["cert_no"],
        "name": after.get("name", current["name"]),
        "before": before, "after": after, "action": CHANGE_ACTION,
    }


def _unit_ref(unit):
    return {"id": unit["id"], "name": unit.get("name"), "credit_code": unit.get("credit_code")}


def decide_many(commands, states, units, now, today, new_id=None, streams=None):
    """Decide `commands` in order; each is independent of the others except
    that commands for one person see the effect of the earlier ones.

    `streams` maps each command's person key (Command.key) to its stream id
    (the store resolves them); `states` maps stream ids to current states
    (missing = never declared); neither is modified. Returns one outcome per command: an event dict
    (without `position`, which the store assigns) or a Rejection, and the
    states after the accepted events.
    """
    new_id = new_id or (lambda: str(uuid.uuid4()))
    states = dict(states)
    outcomes = []
    refs = {}  # one unit reference per unit object (a batch has one unit)
    for command in commands:
        sid = streams[command.key] if streams is not None else local_stream_id(command.key)
        state = states.get(sid)
        decision = decide(command, state, units, today)
        if isinstance(decision, Rejection):
            outcomes.append(decision)
            continue
        type_, data = decision
        event_id = new_id()
        ref = refs.get(id(command.unit))
        if ref is None:
            ref = refs[id(command.unit)] = _unit_ref(command.unit)
        event = {
            "event_id": event_id,
            "stream_id": sid,
            "stream_version": (state["version"] if state else 0) + 1,
            "type": type_,
            "unit_id": command.unit["id"],
            "occurred_at": now,
            "data": data,
            "metadata": {
                **command.meta, "schema_version": SCHEMA_VERSION,
                "record_id": event_id, "unit": ref,
            },
        }
        states[sid] = evolve(state, event)
        outcomes.append(event)
    return outcomes, states


# -- folding ----------------------------------------------------------------

def evolve(state, event):
    """The person's state after `event` (a new dict; `state` is untouched)."""
    data, type_ = event["data"], event["type"]
    if type_ in (ENROLLED, TRANSFERRED):
        return {
            "stream_id": event["stream_id"],
            "cert_type": data["cert_type"], "cert_no": data["cert_no"],
            "status": ACTIVE, "unit_id": event["unit_id"],
            "version": event["stream_version"], "since": event["occurred_at"],
            "person": {key: data.get(key) for key in PERSON_FIELDS},
        }
    if state is None:
        raise ValueError(f"{type_} of {event['stream_id']} before any enrolment")
    if type_ == SUSPENDED:
        return {**state, "status": SUSPENDED_STATUS, "version": event["stream_version"],
                "since": event["occurred_at"]}
    if type_ == INFO_CHANGED:
        return {**state, "version": event["stream_version"],
                "person": {**state["person"], **data["after"]}}
    raise ValueError(f"unknown event type {type_!r}")


def movements(event):
    """[(unit_id, +1 | -1)]: who gains or loses an insured person."""
    type_ = event["type"]
    if type_ == ENROLLED:
        return [(event["unit_id"], 1)]
    if type_ == TRANSFERRED:
        data = event["data"]
        if data.get("from_status") == ACTIVE:
            return [(event["unit_id"], 1), (data["from_unit"]["id"], -1)]
        return [(event["unit_id"], 1)]
    if type_ == SUSPENDED:
        return [(event["unit_id"], -1)]
    return []
