"""The projection fold: counts, months in the business time zone, records."""
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from services.declarations import domain
from services.declarations.domain import ENROL, SUSPEND, Command
from services.declarations.projection import Fold, MonthOf, record_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
U = {"id": 1, "name": "东海社区居民委员会", "credit_code": "A"}
V = {"id": 2, "name": "西湖社区居民委员会", "credit_code": "B"}
PERSON = {"cert_type": "01", "cert_no": "350503199001011236", "name": "张三", "gender": "1",
          "birth_date": "1990-01-01", "nation": None, "category": "11", "phone": "13800138000",
          "hukou_address": None, "address": None, "remark": None}


def events(commands, now):
    outcomes, _ = domain.decide_many(commands, {}, {1: U, 2: V}, now, now.date())
    for position, event in enumerate(outcomes, 1):
        event["position"] = position
    return outcomes


def test_month_is_the_calendar_month_in_the_business_time_zone():
    month_of = MonthOf(SHANGHAI)
    # 2026-11-30 16:30 UTC is already 1 December 00:30 in Shanghai.
    assert month_of(datetime(2026, 11, 30, 16, 30, tzinfo=timezone.utc)) == "2026-12"
    assert month_of(datetime(2026, 11, 30, 15, 59, tzinfo=timezone.utc)) == "2026-11"
    # SQLite hands back naive UTC.
    assert month_of(datetime(2026, 11, 30, 16, 30)) == "2026-12"


def test_the_time_zone_is_configurable():
    assert MonthOf(ZoneInfo("UTC"))(datetime(2026, 11, 30, 16, 30, tzinfo=timezone.utc)) == "2026-11"


def test_a_transfer_counts_as_increase_of_the_new_unit_and_decrease_of_the_old_one():
    now = datetime(2026, 11, 2, 3, 0, tzinfo=timezone.utc)
    fold = Fold(SHANGHAI).apply_all(events([Command(ENROL, V, PERSON), Command(ENROL, U, PERSON)], now))
    assert dict(fold.counts) == {1: 1, 2: 0}
    assert fold.months == {(2, "2026-11"): [1, 1], (1, "2026-11"): [1, 0]}


def test_the_transfer_out_is_not_a_record_of_the_old_unit():
    now = datetime(2026, 11, 2, 3, 0, tzinfo=timezone.utc)
    fold = Fold(SHANGHAI).apply_all(events([Command(ENROL, V, PERSON), Command(ENROL, U, PERSON)], now))
    assert [(r["unit_id"], r["action"]) for r in fold.records] == [(2, "new_enrolment"), (1, "transfer_in")]


def test_a_suspension_is_a_decrease_and_a_resume_an_increase():
    now = datetime(2026, 11, 2, 3, 0, tzinfo=timezone.utc)
    suspension = Command(SUSPEND, U, {"cert_type": "01", "cert_no": PERSON["cert_no"], "name": "张三",
                                      "reason": "02", "remark": None})
    fold = Fold(SHANGHAI).apply_all(events([Command(ENROL, U, PERSON), suspension, Command(ENROL, U, PERSON)], now))
    assert fold.counts[1] == 1 and fold.months[(1, "2026-11")] == [2, 1]
    assert [r["action"] for r in fold.records] == ["new_enrolment", "suspend", "resume"]


def test_record_of_an_event_is_the_declaring_units_row():
    now = datetime(2026, 11, 2, 3, 0, tzinfo=timezone.utc)
    (event,) = events([Command(ENROL, U, PERSON, {"batch_no": "B20261102001"})], now)
    record = record_of(event)
    assert record == {"record_id": event["event_id"], "position": 1, "unit_id": 1,
                      "business_type": "enrolment", "action": "new_enrolment", "cert_type": "01",
                      "cert_no": PERSON["cert_no"], "name": "张三", "declared_at": now,
                      "batch_no": "B20261102001"}


def test_live_fold_starts_from_the_stored_states_and_records_only_what_it_touched():
    now = datetime(2026, 11, 2, 3, 0, tzinfo=timezone.utc)
    first = events([Command(ENROL, U, PERSON)], now)
    stored = Fold(SHANGHAI).apply_all(first).persons
    outcomes, _ = domain.decide_many([Command(ENROL, V, PERSON)], stored, {1: U, 2: V}, now, date(2026, 11, 2))
    outcomes[0]["position"] = 2
    live = Fold(SHANGHAI, persons=stored).apply_all(outcomes)
    assert live.touched == {"01:" + PERSON["cert_no"]}
    assert live.persons["01:" + PERSON["cert_no"]]["unit_id"] == 2
    assert dict(live.counts) == {2: 1, 1: -1}
