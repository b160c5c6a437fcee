"""Use cases that declare: validate, decide against the persons' current
state, append the events and write the projections in one transaction.

`declare_many` is the one path: a single declaration from the portal is a
batch of one, and the Excel import hands it thousands of rows at once.
"""
import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import date, datetime

from common.errors import Conflict, InvalidInput
from common.person import FIELD_LABELS, validate_change, validate_enrolment, validate_suspension
from services.declarations import domain
from services.declarations.domain import CHANGE, ENROL, SUSPEND, Command, Rejection
from services.declarations.projection import Fold

KINDS = (ENROL, SUSPEND, CHANGE)
BUSINESS_TYPE_OF_KIND = {ENROL: "enrolment", SUSPEND: "suspension", CHANGE: "change"}
_VALIDATORS = {ENROL: validate_enrolment, SUSPEND: validate_suspension, CHANGE: validate_change}

INVALID = "申报信息有误，请按提示修改"
BUSY = domain.BUSY
KEY_REUSED = "该幂等键（Idempotency-Key）已用于另一笔不同的申报"


def business_today(now, tz):
    return now.astimezone(tz).date()


def _iso_dates(values):
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}


def prepare(kind, unit, raw, today, meta=None):
    """A domain Command of validated, normalised data, or the Rejection
    listing the field errors (docs/domain.md "Validation rules", common/person.py)."""
    return _prepare(kind, _unit_ref(unit), raw, today, dict(meta or {}))


def _prepare(kind, unit_ref, raw, today, meta):
    # `unit_ref` and `meta` are shared by the commands of one call, never
    # changed: a batch holds one of each, not one per row.
    if kind not in _VALIDATORS:
        raise ValueError(f"unknown declaration kind {kind!r}")
    clean, errors = _VALIDATORS[kind](raw if isinstance(raw, dict) else {}, today)
    if errors:
        return Rejection("invalid", INVALID, errors)
    clean = _iso_dates(clean)
    if kind == CHANGE:
        clean["changes"] = _iso_dates(clean["changes"])
    return Command(kind, unit_ref, clean, meta)


def _unit_ref(unit):
    return {"id": unit["id"], "name": unit.get("name"), "credit_code": unit.get("credit_code")}


def answer_of(event, tz):
    """The answer to an accepted declaration (docs/api.md: the record answered with 201)."""
    data = event["data"]
    out = {
        "record_id": event["metadata"]["record_id"],
        "business_type": domain.BUSINESS_TYPE[event["type"]],
        "action": data["action"],
        "declared_at": event["occurred_at"].astimezone(tz).isoformat(),
        "cert_type": data["cert_type"],
        "cert_no": data["cert_no"],
        "name": data["name"],
    }
    if "before" in data:
        out["before"], out["after"] = data["before"], data["after"]
    return out


def error_of(rejection):
    status, code = (409, "conflict") if rejection.kind == "conflict" else (400, "invalid_input")
    return {"ok": False, "status": status, "error": code,
            "message": rejection.message, "details": rejection.details}


def rejection_text(outcome):
    """One line naming the fields and reasons of a refused outcome, for a
    batch's 失败原因 column."""
    details = outcome.get("details") or {}
    if not details:
        return outcome["message"]
    parts = []
    for key, reasons in details.items():
        label = FIELD_LABELS.get(key.split(".")[-1], key)
        parts.append(f"{label}：{'；'.join(reasons)}")
    return "；".join(parts)


def fingerprint(kind, raw):
    body = json.dumps([kind, raw], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def declare_many(store, unit, actor, items, now, tz, batch_no=None, records=True, progress=None):
    """Declare `items`, a list of (kind, raw data), for `unit` ({id, name,
    credit_code}) by `actor` ({account, request_id, address}).

    Each item is accepted or refused on its own; items about one person are
    decided in order, each seeing the earlier ones. All accepted items are
    appended in one transaction. Returns one outcome per item:
    {"ok": True, "record": <answer>} or {"ok": False, "status": 400|409,
    "error", "message", "details"}; with records=False an accepted item's
    outcome is only {"ok": True} (a batch answers with totals, not records).

    A caller that must commit its own rows with the events (a batch's
    result) uses `plan_many` and `record` in its own unit of work instead.

    Validation and decision yield to other green threads every CHUNK items
    (a 20,000-row batch must not keep the service from answering pings);
    the write transaction never does (another green thread waiting for the
    append lock would block the process). `progress(decided)`, if given, is
    called there too with the number of items decided so far (outside any
    transaction: a batch worker records it).
    """
    return _declare(store, unit, actor, items, now, tz, batch_no, None, records, progress)


def declare(store, kind, unit, actor, raw, now, tz, idempotency_key=None):
    """One declaration; its answer, or raises InvalidInput / Conflict.

    With an `idempotency_key`, the first answer given to the same account
    and key is returned again and nothing more is appended.
    """
    key = (idempotency_key or "").strip()[:100] or None
    idempotency = (key, fingerprint(kind, raw)) if key else None
    outcome = _declare(store, unit, actor, [(kind, raw)], now, tz, None, idempotency)[0]
    if outcome["ok"]:
        return outcome["record"]
    cls = Conflict if outcome["status"] == 409 else InvalidInput
    raise cls(outcome["message"], outcome["details"])


# Items validated or decided between two yields to other green threads.
CHUNK = 1000


def _cooperate():
    """Let other green threads run (RPC pings, single declarations)."""
    from eventlet import sleep  # the service runs under eventlet; imported here, not by every user

    sleep(0)


def new_ids(count):
    """A function giving time-ordered random UUIDs (version 7, RFC 9562) as
    text, drawing the randomness for up to `count` of them at once. Ids
    that follow each other land next to each other in the unique indexes of
    event_id and record_id, instead of on a random page each."""
    size = max(1, min(count, 4096))
    pending = []
    clock = [0, 0]  # the millisecond of the last id, and a sequence within it

    def new_id():
        if not pending:
            pool = os.urandom(10 * size).hex()
            pending.extend(pool[i:i + 20] for i in range(0, len(pool), 20))
        x = pending.pop()
        ms = time.time_ns() // 1_000_000
        if ms > clock[0]:
            clock[0], clock[1] = ms, 0
        else:  # same millisecond (or the clock stepped back): keep the order
            clock[1] += 1
            if clock[1] > 0xFFF:
                clock[0], clock[1] = clock[0] + 1, 0
        t = f"{clock[0] & 0xFFFFFFFFFFFF:012x}"
        return f"{t[:8]}-{t[8:]}-7{clock[1]:03x}-{'89ab'[int(x[0], 16) & 3]}{x[1:4]}-{x[4:16]}"
    return new_id


def _declare(store, unit, actor, items, now, tz, batch_no, idempotency, records=True, progress=None):
    """Plan, then record in one unit of work holding the append lock."""
    plan = plan_many(store, unit, actor, items, now, tz, batch_no, idempotency, progress)
    if isinstance(plan, list):
        return plan
    with store.unit_of_work(append=True):
        outcomes = record(store, plan, tz, records)
        store.commit()
    return outcomes


def plan_many(store, unit, actor, items, now, tz, batch_no=None, idempotency=None, progress=None):
    """Validate, read the persons' states, decide: a Plan for `record`, or
    (nothing to record) the outcomes. `record`, holding the append lock,
    then checks that no person moved since it was read and appends.

    The decision is taken against the stream versions read (optimistic
    concurrency, docs/architecture.md): a person someone else appended to in between -
    two units enrolling one person at the same moment - is refused with 409
    BUSY and nothing is appended for them, never decided again on the new
    state. A declaration that comes after another committed simply sees it
    (e.g. a transfer-in)."""
    today = business_today(now, tz)
    meta = {
        "actor": (actor or {}).get("account"),
        "request_id": (actor or {}).get("request_id"),
        "address": (actor or {}).get("address"),
        "batch_no": batch_no,
    }
    if idempotency:
        meta["idempotency_key"] = idempotency[0]
    prepared, unit_ref = [], _unit_ref(unit)
    for start in range(0, len(items), CHUNK):
        if start:
            _cooperate()
        prepared.extend(_prepare(kind, unit_ref, raw, today, meta) for kind, raw in items[start:start + CHUNK])
    if idempotency is None and not any(isinstance(p, Command) for p in prepared):
        return [error_of(p) for p in prepared]  # nothing to record
    commands = [p for p in prepared if isinstance(p, Command)]
    with store.reading():  # the write transaction begins below
        # Each person's stream, found by the blind index of its number (a
        # person never declared gets the id its first event will carry).
        streams = store.streams(c.key for c in commands)
        states = store.person_states(streams.values())
        units = store.units(s["unit_id"] for s in states.values())
    decided, after, new_id = [], states, new_ids(len(commands))
    refused_early = len(prepared) - len(commands)
    for start in range(0, len(commands), CHUNK):
        if start:
            _cooperate()
            if progress is not None:
                progress(refused_early + start)
        # Chained through the states after each chunk: commands about one
        # person still see the earlier ones.
        outcomes, after = domain.decide_many(commands[start:start + CHUNK], after, units, now, today, new_id,
                                             streams)
        decided.extend(outcomes)
    # The commands are done with: their data live on in the events. Only
    # the rejections are kept, for the answers (less memory at the peak).
    prepared = [None if isinstance(p, Command) else p for p in prepared]
    return Plan(prepared, decided, states, after, idempotency, actor, now)


@dataclass
class Plan:
    """Items decided against the persons' states as read (`states`), not
    yet recorded: `record` appends them under the append lock."""
    prepared: list  # per item: its Rejection, or None for a decided command
    decided: list  # per command: its event, or its Rejection
    states: dict
    after: dict
    idempotency: tuple | None
    actor: dict | None
    now: datetime


def record(store, plan, tz, records=True):
    """Within the caller's unit of work holding the append lock: append the
    plan's events (refusing, with BUSY, those of persons someone else
    appended to since they were read) and write the projections; returns
    one outcome per item. Nothing is kept unless the caller commits."""
    prepared, idempotency = plan.prepared, plan.idempotency
    if idempotency:
        replay = _replay(store, plan.actor["account"], idempotency)
        if replay is not None:
            return [replay]
        if isinstance(prepared[0], Rejection):
            return [error_of(prepared[0])]
    decided = _unmoved(store, plan.decided, plan.states)
    store.append([d for d in decided if isinstance(d, dict)], Fold(tz, persons=plan.states), plan.after)
    outcomes = _outcomes(prepared, decided, tz, records)
    if idempotency and outcomes[0]["ok"]:
        store.save_answer(plan.actor["account"], idempotency[0], idempotency[1],
                          outcomes[0]["record"], plan.now)
    return outcomes


def _unmoved(store, decided, states):
    """`decided` with every event of a person whose stream version is no
    longer the one the decision read replaced by the BUSY rejection. Runs
    under the append lock, so the versions read are the last committed."""
    streams = {d["stream_id"] for d in decided if isinstance(d, dict)}
    if not streams:
        return decided
    current = store.stream_versions(streams)
    moved = {sid for sid in streams
             if current.get(sid) != (states[sid]["version"] if sid in states else None)}
    if not moved:
        return decided
    busy = Rejection("conflict", BUSY)
    return [busy if isinstance(d, dict) and d["stream_id"] in moved else d for d in decided]


def _outcomes(prepared, decided, tz, records=True):
    by_command = iter(decided)
    outcomes, accepted = [], {"ok": True}
    for p in prepared:
        result = next(by_command) if p is None else p
        if isinstance(result, Rejection):
            outcomes.append(error_of(result))
        elif records:
            outcomes.append({"ok": True, "record": answer_of(result, tz)})
        else:
            outcomes.append(accepted)
    return outcomes


def _replay(store, account, idempotency):
    key, print_ = idempotency
    stored = store.answer(account, key)
    if stored is None:
        return None
    fingerprint_, response = stored
    if fingerprint_ != print_:
        raise Conflict(KEY_REUSED, {"Idempotency-Key": [KEY_REUSED]})
    return {"ok": True, "record": response}
