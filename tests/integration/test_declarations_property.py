"""Property: for any sequence of declarations by several units over several
months, through the live path on a real database,
  - every outcome is the one the state table gives (a small model here),
  - insured_end(m) = insured_end(m-1) + increase(m) - decrease(m) for every
    unit and month, and the last insured_end is the unit's insured_count,
  - the live projections equal a replay of the log (verify), and a rebuild
    changes nothing a unit can see."""
import contextlib
import tempfile
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from common.db import make_engine
from common.errors import DomainError
from common.identity import check_character
from services.declarations import declaring, queries, rebuild
from services.declarations.domain import NOTHING_CHANGED
from services.declarations.models import Base
from services.declarations.store import DeclarationsStore
from tests.databases import postgres_database

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 1, 31, 15, 0, tzinfo=timezone.utc)  # 23:00 on 31 January in Shanghai
UNITS = [{"id": i, "name": f"第{i}社区居民委员会", "credit_code": f"C{i}"} for i in (1, 2, 3)]
PERSONS = 3
# Steps between declarations: a minute, across a month's end in Shanghai
# (16:00 UTC is midnight there), days, weeks.
STEPS = [timedelta(minutes=1), timedelta(hours=1), timedelta(days=3), timedelta(days=17)]


def cert_no(i):
    first = f"35050319850505{i:03d}"
    return first + check_character(first)


command = st.tuples(
    st.sampled_from(["enrol", "enrol", "suspend", "suspend", "change"]),
    # "owner": the unit the person is with now, so that suspensions,
    # changes and resumes are tried often, not only refused.
    st.one_of(st.just("owner"), st.integers(0, len(UNITS) - 1)),
    st.integers(0, PERSONS - 1),
    st.sampled_from(STEPS),
    st.integers(0, 9),
)


def body(kind, person, variant):
    base = {"cert_type": "01", "cert_no": cert_no(person), "name": "赵六"}
    if kind == "enrol":
        return {**base, "category": "11", "phone": f"1380013800{variant}"}
    if kind == "suspend":
        return {**base, "reason": "99" if variant == 9 else "03", "remark": "外出" if variant == 9 else None}
    return {**base, "changes": {"phone": f"1390013900{variant}"}}


def expected(kind, unit_id, state):
    """The state table of docs/domain.md: (outcome, new state)."""
    if kind == "enrol":
        if state is None:
            return "new_enrolment", ("active", unit_id)
        status, owner = state
        if owner == unit_id:
            return ("该人员已在本单位正常参保", state) if status == "active" else ("resume", ("active", unit_id))
        return "transfer_in", ("active", unit_id)
    if kind == "suspend":
        if state is None or state[1] != unit_id:
            return "该人员未在本单位参保", state
        if state[0] == "suspended":
            return "该人员已暂停参保", state
        return "suspend", ("suspended", unit_id)
    if state is None or state[1] != unit_id:
        return "该人员不属于本单位", state
    return "change", state


@contextlib.contextmanager
def sqlite_url():
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{tmp}/property.db"


def months_between(first, last):
    out, (y, m) = [], map(int, first.split("-"))
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def check(url, commands):
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            store = DeclarationsStore(session)
            model, phones, now = {}, {}, START
            for kind, unit_index, person, step, variant in commands:
                now += step
                if unit_index == "owner":
                    unit_index = model[person][1] - 1 if model.get(person) else 0
                unit = UNITS[unit_index]
                data = body(kind, person, variant)
                want, model_after = expected(kind, unit["id"], model.get(person))
                if want == "change" and data["changes"]["phone"] == phones.get(person):
                    want = NOTHING_CHANGED
                try:
                    got = declaring.declare(store, kind, unit, {"account": f"u{unit['id']}"}, data, now, TZ)["action"]
                except DomainError as exc:
                    got = exc.message
                assert got == want, (kind, unit["id"], person, model.get(person))
                model[person] = model_after
                if got in ("new_enrolment", "transfer_in", "resume"):
                    phones[person] = data["phone"]
                elif got == "change":
                    phones[person] = data["changes"]["phone"]

            first = START.astimezone(TZ).strftime("%Y-%m")
            last = now.astimezone(TZ).strftime("%Y-%m")
            months = months_between(first, last)
            for unit in UNITS:
                stats = queries.unit_stats(store, unit["id"], len(months) + 1, now, TZ)
                assert [s["month"] for s in stats[1:]] == months
                assert stats[0]["insured_end"] == 0  # nothing before the first declaration
                for before, this in zip(stats, stats[1:]):
                    assert this["insured_end"] == before["insured_end"] + this["increase"] - this["decrease"]
                active_here = sum(1 for s in model.values() if s == ("active", unit["id"]))
                assert stats[-1]["insured_end"] == store.insured_count(unit["id"]) == active_here
            seen = {u["id"]: queries.list_records(store, u["id"], {}, 1, 200, TZ) for u in UNITS}
        count, differences = rebuild.verify(engine, TZ, chunk=7)
        assert differences == []
        rebuild.rebuild(engine, TZ, chunk=5)
        with Session(engine) as session:
            store = DeclarationsStore(session)
            assert {u["id"]: queries.list_records(store, u["id"], {}, 1, 200, TZ) for u in UNITS} == seen
        assert rebuild.verify(engine, TZ)[1] == []
    finally:
        engine.dispose()


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=100, **SETTINGS)
@given(st.lists(command, min_size=5, max_size=50))
def test_figures_add_up_and_the_projections_equal_a_replay_on_sqlite(commands):
    with sqlite_url() as url:
        check(url, commands)


@settings(max_examples=15, **SETTINGS)
@given(st.lists(command, min_size=5, max_size=30))
def test_figures_add_up_and_the_projections_equal_a_replay_on_postgresql(commands):
    with postgres_database() as url:
        check(url, commands)
