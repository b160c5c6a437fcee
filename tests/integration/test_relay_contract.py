"""The event contract of docs/events.md holds: every event the platform
publishes validates against the JSON Schema of its type written there, and a
schema rejects what breaks it. The broker's messages and `events_after`
carry the same payloads (see test_relay.py), so checking the payloads read
by the relay checks both.

The schemas use a small part of JSON Schema (type, required, properties,
const, enum, pattern, minimum, min/maxLength, allOf, $ref, a few formats),
checked here by a validator of that part, so no extra dependency is needed."""
import json
import os
import re
import uuid
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from common.db import make_engine
from services.declarations import declaring
from services.declarations.models import Base
from services.declarations.relay_store import RelayStore
from services.declarations.store import DeclarationsStore
from tests.factories import enrolment, id_number

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "events.md")
TZ = ZoneInfo("Asia/Shanghai")
U = {"id": 1, "name": "东海社区居民委员会", "credit_code": "91350503MA2Y8K3Q0A"}
V = {"id": 2, "name": "西湖社区居民委员会", "credit_code": "91350503MA2Y8K3Q0B"}
ACTOR = {"account": "donghai", "request_id": "req-1", "address": "10.0.0.1"}


def schemas():
    text = open(DOC, encoding="utf-8").read()
    blocks = re.findall(r"```json schema:(\w+)\n(.*?)```", text, re.S)
    return {name: json.loads(body) for name, body in blocks}


SCHEMAS = schemas()
TYPES = {"object": dict, "array": list, "string": str, "integer": int, "null": type(None),
         "boolean": bool, "number": (int, float)}


def _resolve(ref):
    document, _, pointer = ref.partition("#")
    node = SCHEMAS["common"] if document == "common.json" or not document else None
    for part in pointer.strip("/").split("/"):
        node = node[part]
    return node


def _format_ok(fmt, value):
    try:
        if fmt == "date":
            date.fromisoformat(value)
        elif fmt == "date-time":
            return datetime.fromisoformat(value).utcoffset() is not None
        elif fmt == "uuid":
            uuid.UUID(value)
    except (ValueError, TypeError):
        return False
    return True


def errors(schema, value, path="$"):
    """Why `value` does not satisfy `schema` (empty when it does)."""
    out = []
    if "$ref" in schema:
        out += errors(_resolve(schema["$ref"]), value, path)
    for sub in schema.get("allOf", []):
        out += errors(sub, value, path)
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(isinstance(value, TYPES[k]) and not (k == "integer" and isinstance(value, bool))
                   for k in kinds):
            return out + [f"{path}: {value!r} is not {kinds}"]
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10**9):
            out.append(f"{path}: length of {value!r}")
        if "format" in schema and not _format_ok(schema["format"], value):
            out.append(f"{path}: {value!r} is not a {schema['format']}")
    if isinstance(value, int) and "minimum" in schema and value < schema["minimum"]:
        out.append(f"{path}: {value} < {schema['minimum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                out.append(f"{path}: missing {key}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                out += errors(sub, value[key], f"{path}.{key}")
    return out


@pytest.fixture
def store(db_url):
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield DeclarationsStore(session)
    engine.dispose()


def every_type(store):
    now = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)
    person = enrolment(7, name="合同测试")
    key = {"cert_type": "01", "cert_no": id_number(7), "name": "合同测试"}
    steps = [
        ("enrol", U, person),
        ("change", U, {**key, "changes": {"phone": "13912345678"}}),
        ("enrol", V, person),
        ("suspend", V, {**key, "reason": "99", "remark": "迁往外省"}),
        ("enrol", V, person),
    ]
    for kind, unit, data in steps:
        declaring.declare(store, kind, unit, ACTOR, data, now, TZ)
    return RelayStore(store.session, None).events_after(0, 100)


def test_the_document_has_a_schema_per_event_type():
    from common.events import TYPES as EVENT_TYPES
    assert set(SCHEMAS) == {"common", *EVENT_TYPES}


def test_every_published_event_validates_against_the_schema_of_its_type(store):
    events = every_type(store)
    assert {e["type"] for e in events} == {"resident_enrolled", "resident_transferred",
                                           "resident_suspended", "resident_info_changed"}
    for event in events:
        assert errors(SCHEMAS[event["type"]], event) == [], event


@pytest.mark.parametrize("break_it", [
    lambda e: e.pop("position"),
    lambda e: e.update(position=0),
    lambda e: e["unit"].pop("credit_code"),
    lambda e: e["person"].update(cert_type="身份证"),
    lambda e: e["data"].update(action="transfer_in"),
    lambda e: e.update(occurred_at="2026-11-27 10:00"),
    lambda e: e.update(schema_version=2),
])
def test_the_schemas_reject_a_broken_event(store, break_it):
    event = every_type(store)[0]
    assert errors(SCHEMAS[event["type"]], event) == []
    break_it(event)
    assert errors(SCHEMAS[event["type"]], event)
