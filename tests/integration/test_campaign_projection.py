"""The campaign projections over a real store, on SQLite and PostgreSQL:
placements from auth's unit feed, figures as of a day, a unit moving
division, a unit declaring before its first placement, batches, targets,
and rebuild/verify covering all of it."""
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.errors import InvalidInput, NotFound
from common.identity import check_character
from services.declarations import declaring, rebuild
from services.declarations.campaign import workbench
from services.declarations.campaign.tables import CampaignDay, CampaignMonth
from services.declarations.models import Base
from services.declarations.store import DeclarationsStore
from tests.databases import schema_engine

TZ = ZoneInfo("Asia/Shanghai")
ACTOR = {"account": "op", "request_id": "req-1", "address": "10.0.0.1"}
U1 = {"id": 1, "name": "东海社区居民委员会", "credit_code": "91350503MA2Y8K3Q0A"}
U2 = {"id": 2, "name": "青阳社区居民委员会", "credit_code": "91350582MA2Y8K3Q0B"}
U3 = {"id": 3, "name": "后来社区居民委员会", "credit_code": "91350583MA2Y8K3Q0C"}


def at(day, hour=10):
    """`day` of September 2026 at `hour` in Shanghai."""
    return datetime(2026, 9, day, hour, tzinfo=TZ).astimezone(UTC)


def cert_no(i):
    first = f"350503199001{i:02d}{i:03d}"[:17]
    return first + check_character(first)


NAMES = "零一二三四五六七八九"


def person(i):
    return {"cert_type": "01", "cert_no": cert_no(i), "name": f"张{NAMES[i]}", "category": "11", "phone": "13800138000"}


class Auth:
    """auth's unit_changes feed, as the declarations service reads it."""

    def __init__(self):
        self.rows = []

    def change(self, unit, division, street, **extra):
        self.rows.append({"seq": len(self.rows) + 1, "unit_id": unit["id"], "name": unit["name"],
                          "credit_code": unit["credit_code"], "account": f"acct{unit['id']}",
                          "division": division, "street": street, "disabled": False, **extra})

    def fetch(self, after, limit):
        return [r for r in self.rows if r["seq"] > after][:limit]


@pytest.fixture
def engine(db_url):
    with schema_engine(db_url, Base.metadata) as engine:
        yield engine


@pytest.fixture
def store(engine):
    with Session(engine) as session:
        yield DeclarationsStore(session)


def enrol(store, unit, i, now):
    return declaring.declare(store, "enrol", unit, ACTOR, person(i), now, TZ)


def suspend(store, unit, i, now):
    data = {"cert_type": "01", "cert_no": cert_no(i), "name": f"张{NAMES[i]}", "reason": "02"}
    return declaring.declare(store, "suspend", unit, ACTOR, data, now, TZ)


def board(store, now, **params):
    return workbench.dashboard(store, TZ, {"year": 2026, **params}, now)


def by_code(answer):
    return {item["code"]: item for item in answer["items"]}


def verified(engine):
    count, differences = rebuild.verify(engine, TZ)
    assert differences == []
    return count


def rows(engine):
    with engine.connect() as conn:
        return (sorted(tuple(r) for r in conn.execute(select(CampaignDay))),
                sorted(tuple(r) for r in conn.execute(select(CampaignMonth))))


@pytest.fixture
def city(store):
    """Unit 1 in 丰泽区 东海街道, unit 2 in 晋江市 青阳街道; on 1 September
    unit 1 enrols persons 1 and 2 and unit 2 person 3; on 2 September unit
    1 moves to 晋江市 青阳街道 at noon, then enrols person 4 while unit 2
    takes person 2 over; on 3 September unit 1 suspends person 1."""
    auth = Auth()
    auth.change(U1, "350503", "东海街道")
    auth.change(U2, "350582", "青阳街道")
    workbench.sync_units(store, auth.fetch, at(1, 8))
    enrol(store, U1, 1, at(1))
    enrol(store, U1, 2, at(1))
    enrol(store, U2, 3, at(1))
    auth.change(U1, "350582", "青阳街道")
    workbench.sync_units(store, auth.fetch, at(2, 12))
    enrol(store, U1, 4, at(2, 13))
    enrol(store, U2, 2, at(2, 14))
    suspend(store, U1, 1, at(3))
    return auth


def test_figures_count_where_the_unit_stood(store, engine, city):
    now = at(3, 18)
    answer = board(store, now)
    divisions = by_code(answer)
    # stock: unit 1 is in 晋江市 now and takes its insured persons (4 only) along
    assert divisions["350503"]["insured"] == 0 and divisions["350582"]["insured"] == 3
    # flows: the day-1 enrolments of unit 1 stay in 丰泽区
    assert divisions["350503"]["month_increase"] == 2 and divisions["350503"]["year_new"] == 2
    assert divisions["350503"]["month_decrease"] == 0
    jj = divisions["350582"]
    assert (jj["month_increase"], jj["month_decrease"]) == (3, 2)
    assert (jj["year_transfer_in"], jj["year_transfer_out"], jj["year_suspended"]) == (1, 1, 1)
    assert answer["totals"]["insured"] == 3 and answer["totals"]["month_increase"] == 5
    assert jj["last_declared_at"] == "2026-09-03"
    verified(engine)


def test_as_of_a_day_before_the_move(store, city):
    answer = board(store, at(3, 18), as_of="2026-09-01")
    divisions = by_code(answer)
    assert answer["as_of"] == "2026-09-01"
    assert divisions["350503"]["insured"] == 2 and divisions["350582"]["insured"] == 1
    assert divisions["350503"]["last_declared_at"] == "2026-09-01"
    # on the day of the move (after it, at the end of the day) unit 1 is in 晋江市
    day2 = by_code(board(store, at(3, 18), as_of="2026-09-02"))
    assert day2["350503"]["insured"] == 0 and day2["350582"]["insured"] == 3 + 1


def test_drill_down_to_streets_and_units(store, city):
    streets = board(store, at(3, 18), level="division", division="350582")
    assert [i["code"] for i in streets["items"]] == ["青阳街道"]
    units = board(store, at(3, 18), level="street", division="350582", street="青阳街道", sort="name")
    assert {i["unit_id"]: i["insured"] for i in units["items"]} == {1: 1, 2: 2}
    assert units["totals"]["insured"] == 3
    old = board(store, at(3, 18), level="division", division="350503")
    assert by_code(old)["东海街道"]["month_increase"] == 2 and by_code(old)["东海街道"]["insured"] == 0
    flat = board(store, at(3, 18), level="unit", sort="-insured")
    assert [i["unit_id"] for i in flat["items"]] == [2, 1]


def test_live_rows_equal_a_rebuild(store, engine, city):
    before = rows(engine)
    assert rebuild.rebuild(engine, TZ) > 0
    assert rows(engine) == before
    verified(engine)


def test_a_unit_that_declared_before_its_first_placement_gets_its_figures(store, engine, city):
    enrol(store, U3, 9, at(3))
    assert "000000" in by_code(board(store, at(3, 18)))
    city.change(U3, "350583", "溪美街道")
    workbench.sync_units(store, city.fetch, at(3, 20))
    divisions = by_code(board(store, at(3, 21)))
    assert divisions["350583"]["insured"] == 1 and divisions["350583"]["year_new"] == 1
    assert "000000" not in divisions
    verified(engine)


def test_targets_completion_and_idle_units(store, city):
    workbench.set_target(store, 2026, 1, 10, "op", at(3))
    workbench.set_target(store, 2026, 2, 0, "op", at(3))
    units = by_code(board(store, at(3, 18), level="unit"))
    assert units["1"]["completion"] == 0.1 and units["2"]["completion"] is None
    with pytest.raises(NotFound):
        workbench.set_target(store, 2026, 99, 10, "op", at(3))
    with pytest.raises(InvalidInput):
        workbench.set_target(store, 2026, 1, -1, "op", at(3))
    idle = board(store, at(20, 18), as_of="2026-09-20", idle_days=10)
    assert {u["unit_id"] for u in idle["idle_units"]} == {1, 2}
    assert board(store, at(20, 18), as_of="2026-09-20", idle_days=30)["idle_units"] == []


def test_daily_chart_beside_last_year(store, city):
    days = {d["date"]: d for d in workbench.daily(store, TZ, 2026, None, at(3))["days"]}
    assert len(days) == 122 and days["2026-09-01"]["enrolments"] == 3 and days["2026-09-02"]["enrolments"] == 2
    assert days["2026-09-01"]["last_year"] == 0


def test_bad_parameters_are_refused(store, city):
    for params in ({"level": "x"}, {"level": "division"}, {"division": "110101"}, {"as_of": "2026-13-01"},
                   {"sort": "nothing"}):
        with pytest.raises(InvalidInput):
            board(store, at(3), **params)


def test_export_has_the_table_and_the_idle_units(store, city):
    import io

    from openpyxl import load_workbook

    file = workbench.export(store, TZ, {"year": 2026}, at(3, 18))
    book = load_workbook(io.BytesIO(file["content"]))
    assert book.sheetnames[:2] == ["参保进度", "未申报单位"]
    sheet = book["参保进度"]
    assert sheet["B1"].value == "名称" and sheet.max_row == 1 + 12 + 1


def test_finished_batches_count_with_their_failure_reasons(store, engine, city):
    from services.declarations import sealed
    from services.declarations.models import Batch

    failures = sealed.seal(engine, sealed.BATCH_FAILURES, [  # stored encrypted whole
        {"row": 2, "reason": "公民身份号码：校验位不正确"},
        {"row": 3, "reason": "公民身份号码：校验位不正确；联系电话：应为11位手机号码"}])
    with engine.begin() as conn:
        for n, (unit, day) in enumerate(((1, 2), (2, 3))):
            conn.execute(Batch.__table__.insert().values(
                batch_no=f"B2026090{day}00{n}", unit_id=unit, business_type="enrolment", submitted_at=at(day),
                file_name="名单.xlsx", file_sha256=str(n) * 64, total=10, succeeded=8, failed=2, failures=failures,
                status="done", finished_at=at(day, 13)))  # after unit 1 moved
    divisions = by_code(board(store, at(3, 18)))
    jj = divisions["350582"]
    assert (jj["batches"], jj["batch_rows"], jj["batch_failed_rows"]) == (2, 20, 4)
    assert jj["batch_failure_rate"] == 0.2
    assert jj["top_failure_reasons"][0] == {"reason": "公民身份号码：校验位不正确", "rows": 4}
    before = by_code(board(store, at(3, 18), as_of="2026-09-02"))["350582"]
    assert (before["batches"], before["batch_failed_rows"]) == (1, 2)
    verified(engine)
    rebuild.rebuild(engine, TZ)
    assert by_code(board(store, at(3, 18)))["350582"]["batches"] == 2
    verified(engine)


def test_the_facts_cache_answers_as_a_fresh_read_and_follows_every_change(store, city):
    from services.declarations.campaign.dashboard import FactsCache

    cache = FactsCache()

    def cached(**params):
        return workbench.dashboard(store, TZ, {"year": 2026, **params}, at(3, 18), cache)

    assert cached() == board(store, at(3, 18))
    assert cached() == board(store, at(3, 18))  # from the cache
    enrol(store, U2, 8, at(3, 17))
    assert by_code(cached())["350582"]["insured"] == 4  # an append changes the version
    workbench.set_target(store, 2026, 2, 8, "op", at(3))
    assert by_code(cached())["350582"]["target"] == 8
    city.change(U2, "350583", "溪美街道")
    workbench.sync_units(store, city.fetch, at(3, 17))
    assert by_code(cached())["350583"]["insured"] == 3
    assert cached() == board(store, at(3, 18))


# Scopes a cached answer is compared with a fresh read in: every level,
# sorts with and without missing figures, a later page, idle units.
SCOPES = ({}, {"level": "division", "division": "350582"},
          {"level": "street", "division": "350582", "street": "青阳街道"}, {"level": "unit"},
          {"level": "unit", "sort": "completion"}, {"level": "unit", "sort": "name", "size": 1, "page": 2},
          {"level": "unit", "division": "350503", "sort": "-last_declared_at"},
          {"level": "unit", "idle_days": 1, "sort": "-month_increase"})


class Reads:
    """Counts the facts read from the projections (dashboard._facts)."""

    def __init__(self, monkeypatch):
        from services.declarations.campaign import dashboard as dash

        self.count = 0
        real = dash._facts

        def counted(*args):
            self.count += 1
            return real(*args)

        monkeypatch.setattr(dash, "_facts", counted)


def same_as_fresh(store, cache, today, scopes=SCOPES, reads=None, **extra):
    """Each scope answered from `cache` equals a fresh read; returns the
    cached answers and how many times the cached path read the facts."""
    from services.declarations.campaign import dashboard as dash

    answers, read = [], 0
    for params in scopes:
        params = {"year": 2026, **params, **extra}
        before = reads.count if reads else 0
        with store.reading():
            cached = dash.dashboard(store.session, TZ, params, today, cache)
        read += (reads.count - before) if reads else 0
        with store.reading():
            fresh = dash.dashboard(store.session, TZ, params, today)
        assert cached == fresh, params
        answers.append(cached)
    return answers, read


def test_cached_facts_follow_appends_by_folding_them_as_a_fresh_read_would(store, city, monkeypatch):
    from datetime import date

    from services.declarations.campaign.dashboard import FactsCache

    today = date(2026, 9, 3)
    cache = FactsCache()
    reads = Reads(monkeypatch)
    assert same_as_fresh(store, cache, today, reads=reads)[1] == 1  # the facts read once for every scope
    [entry] = cache.entries.values()
    version_before, rollups = entry.version, dict(entry.rollups)
    assert len(rollups) == len(SCOPES) - 2  # sort and page do not make another roll-up
    for append in (lambda: enrol(store, U2, 5, at(3, 15)),   # a new person
                   lambda: enrol(store, U1, 3, at(3, 16)),   # a transfer from unit 2
                   lambda: suspend(store, U2, 2, at(3, 17)),
                   lambda: enrol(store, U3, 6, at(3, 17))):  # a unit declarations has no placement of
        append()
        answers, read = same_as_fresh(store, cache, today, reads=reads)
        assert read == 0  # folded into the cached facts and roll-ups, not read again
    assert list(cache.entries.values()) == [entry] and entry.version != version_before
    assert all(entry.rollups[scope] is rolled for scope, rolled in rollups.items())
    assert (answers[1]["totals"]["month_increase"], answers[1]["totals"]["month_decrease"]) == (5, 4)
    assert 3 in {i["unit_id"] for i in answers[3]["items"]}


def test_a_past_day_stays_cached_while_units_declare(store, city, monkeypatch):
    """Events appended today are after any past as_of: its cached facts
    stand (a unit new to the log appears with nothing, as in a fresh read)
    until a placement or a target changes."""
    from datetime import date

    from services.declarations.campaign.dashboard import FactsCache

    today = date(2026, 9, 3)
    cache = FactsCache()
    reads = Reads(monkeypatch)
    first, read = same_as_fresh(store, cache, today, reads=reads, as_of="2026-09-02")
    assert read == 1
    enrol(store, U2, 5, at(3, 15))
    enrol(store, U1, 3, at(3, 16))
    enrol(store, U3, 6, at(3, 17))
    answers, read = same_as_fresh(store, cache, today, reads=reads, as_of="2026-09-02")
    assert read == 0
    assert answers[0]["totals"] == first[0]["totals"]
    new_unit = {i["unit_id"]: i for i in answers[3]["items"]}[3]
    assert new_unit["insured"] == 0 and new_unit["division"] == "000000"
    workbench.set_target(store, 2026, 2, 8, "op", at(3))
    answers, read = same_as_fresh(store, cache, today, reads=reads, as_of="2026-09-02")
    assert read == 1 and by_code(answers[0])["350582"]["target"] == 8
    city.change(U3, "350583", "溪美街道")
    workbench.sync_units(store, city.fetch, at(3, 18))
    assert same_as_fresh(store, cache, today, reads=reads, as_of="2026-09-02")[1] == 1


def test_cached_answers_equal_fresh_reads_through_random_declarations_and_changes(store, city):
    """Random enrolments, transfers, suspensions, targets, moves and a
    unit's first placement, in any order: after each, every scope as of
    today and as of a past day answers from the cache as a fresh read."""
    import random
    from datetime import date

    from services.declarations.campaign.dashboard import FactsCache
    from tests.factories import enrolment

    rng = random.Random(15)
    today = date(2026, 9, 4)
    cache = FactsCache()
    units, persons = [U1, U2, U3], {}
    streets = [("350582", "青阳街道"), ("350503", "东海街道"), ("350583", "溪美街道"), ("350582", "梅岭街道")]
    for step in range(14):
        choice = rng.random()
        minute = at(4, 8 + step // 2)
        if choice < 0.55 or not persons:
            n = rng.randrange(100, 140)
            unit = rng.choice(units)  # a person new or enrolled elsewhere (a transfer)
            declaring.declare(store, "enrol", unit, ACTOR, enrolment(n), minute, TZ)
            persons[n] = unit
        elif choice < 0.7:
            n = rng.choice(sorted(persons))
            data = enrolment(n)
            declaring.declare(store, "suspend", persons.pop(n), ACTOR,
                              {"cert_type": "01", "cert_no": data["cert_no"], "name": data["name"],
                               "reason": "02"}, minute, TZ)
        elif choice < 0.85:
            workbench.set_target(store, 2026, rng.choice([1, 2]), rng.randrange(1, 20), "op", minute)
        else:
            city.change(rng.choice(units), *rng.choice(streets))
            workbench.sync_units(store, city.fetch, minute)
        for as_of in ("2026-09-04", "2026-09-02"):
            same_as_fresh(store, cache, today, as_of=as_of)
