"""The notices service: its use cases over real SQLite and PostgreSQL stores
(read marks raced by several processes), and its container on the real
broker, called over RPC."""
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pytest
from nameko.standalone.rpc import ClusterRpcProxy, ServiceRpcProxy
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.config import ROOT
from common.db import make_engine
from common.errors import InvalidInput, NotFound
from services.notices import notices, seed
from services.notices.models import Base, NoticeRead
from services.notices.service import NoticesService
from services.notices.store import NoticesStore
from tests.databases import schema_engine

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)
UNIT_A, UNIT_B = 101, 202
XSS_TITLE = "<script>alert(1)</script>通知"
XSS_BODY = "<img src=x onerror=alert(1)>\n<script>alert(1)</script>"


@pytest.fixture
def engine(db_url):
    with schema_engine(db_url, Base.metadata) as engine:
        yield engine


@pytest.fixture
def store(engine):
    with Session(engine, expire_on_commit=False) as session:
        yield NoticesStore(session)


def publish(store, title, minutes=0, pinned=False, body="正文"):
    return notices.publish(store, title, body, pinned, T0 + minutes * MINUTE, "admin")


def titles(page):
    return [item["title"] for item in page["items"]]


# use cases over both databases

def test_units_see_pinned_first_then_newest(store):
    publish(store, "旧通知", 0)
    publish(store, "置顶的旧通知", 1, pinned=True)
    publish(store, "新通知", 2)
    page = notices.notices_for_unit(store, UNIT_A, 1, 20)
    assert titles(page) == ["置顶的旧通知", "新通知", "旧通知"]
    assert page["total"] == 3 and page["unread"] == 3
    assert page["items"][0]["published_at"] == (T0 + MINUTE).isoformat()


def test_paging_splits_the_ordered_list(store):
    for i in range(5):
        publish(store, f"通知{i}", i)
    first = notices.notices_for_unit(store, UNIT_A, 1, 2)
    third = notices.notices_for_unit(store, UNIT_A, 3, 2)
    assert titles(first) == ["通知4", "通知3"] and titles(third) == ["通知0"]
    assert (first["total"], first["page"], first["size"]) == (5, 1, 2)


def test_reading_marks_it_for_that_unit_only(store):
    notice = publish(store, "缴费期通知")
    publish(store, "另一条")
    read = notices.read_notice(store, notice["id"], UNIT_A, T0 + MINUTE)
    assert read["body"] == "正文" and read["read"] is True
    a = notices.notices_for_unit(store, UNIT_A, 1, 20)
    b = notices.notices_for_unit(store, UNIT_B, 1, 20)
    assert {i["title"]: i["read"] for i in a["items"]} == {"缴费期通知": True, "另一条": False}
    assert not any(i["read"] for i in b["items"])
    assert (a["unread"], b["unread"]) == (1, 2)
    assert notices.unread_count(store, UNIT_A) == {"unread": 1}


def test_reading_twice_keeps_one_mark(store, engine):
    notice = publish(store, "缴费期通知")
    notices.read_notice(store, notice["id"], UNIT_A, T0)
    notices.read_notice(store, notice["id"], UNIT_A, T0 + MINUTE)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(NoticeRead)) == 1


def test_a_mark_inserted_by_someone_else_meanwhile_is_tolerated(store, engine):
    notice = publish(store, "缴费期通知")
    with Session(engine) as other:  # another instance wins the race
        other.add(NoticeRead(notice_id=notice["id"], unit_id=UNIT_A, read_at=T0))
        other.commit()
    store.mark_read(notice["id"], UNIT_A, T0 + MINUTE)
    store.commit()
    assert notices.unread_count(store, UNIT_A) == {"unread": 0}


def test_admins_reading_mark_nothing(store):
    notice = publish(store, "缴费期通知")
    assert notices.read_notice(store, notice["id"], None, T0)["read"] is False
    assert notices.unread_count(store, UNIT_A) == {"unread": 1}
    assert notices.notice_for_admin(store, notice["id"])["read_count"] == 0


def test_unread_only_lists_what_the_unit_has_not_read(store):
    first = publish(store, "第一条", 0)
    publish(store, "第二条", 1)
    notices.read_notice(store, first["id"], UNIT_A, T0)
    page = notices.notices_for_unit(store, UNIT_A, 1, 20, unread_only=True)
    assert titles(page) == ["第二条"] and page["total"] == 1 and page["unread"] == 1


def test_withdrawn_notice_disappears_for_units_but_not_for_admins(store):
    notice = publish(store, "要撤回的通知")
    notices.read_notice(store, notice["id"], UNIT_A, T0)
    withdrawn = notices.withdraw(store, notice["id"], T0 + MINUTE)
    assert withdrawn["state"] == "withdrawn" and withdrawn["read_count"] == 1
    assert notices.notices_for_unit(store, UNIT_B, 1, 20)["total"] == 0
    assert notices.unread_count(store, UNIT_B) == {"unread": 0}
    with pytest.raises(NotFound):
        notices.read_notice(store, notice["id"], UNIT_B, T0)
    listed = notices.all_notices(store, 1, 20)
    assert [(i["id"], i["state"]) for i in listed["items"]] == [(notice["id"], "withdrawn")]
    assert notices.all_notices(store, 1, 20, "published")["total"] == 0


def test_withdrawing_twice_changes_nothing_more(store):
    notice = publish(store, "要撤回的通知")
    first = notices.withdraw(store, notice["id"], T0 + MINUTE)
    again = notices.withdraw(store, notice["id"], T0 + 2 * MINUTE)
    assert again["withdrawn_at"] == first["withdrawn_at"]


def test_edit_changes_the_fields_given_and_keeps_time_and_marks(store):
    notice = publish(store, "原标题")
    notices.read_notice(store, notice["id"], UNIT_A, T0)
    edited = notices.edit(store, notice["id"], {"title": " 新标题 ", "pinned": True}, T0 + MINUTE)
    assert (edited["title"], edited["body"], edited["pinned"]) == ("新标题", "正文", True)
    assert edited["published_at"] == notice["published_at"]
    assert edited["updated_at"] == (T0 + MINUTE).isoformat()
    assert notices.unread_count(store, UNIT_A) == {"unread": 0}


def test_bad_input_is_refused_per_field_in_chinese(store):
    with pytest.raises(InvalidInput) as exc:
        notices.publish(store, "通" * 101, "", False, T0)
    assert set(exc.value.details) == {"title", "body"}
    notice = publish(store, "原标题")
    with pytest.raises(InvalidInput) as exc:
        notices.edit(store, notice["id"], {"body": "保" * 20_001}, T0)
    assert exc.value.details["body"] == ["正文不能超过20000个字符（当前20001个）"]


def test_unknown_notice_is_not_found(store):
    for call in (lambda: notices.edit(store, 999, {"pinned": True}, T0),
                 lambda: notices.withdraw(store, 999, T0),
                 lambda: notices.notice_for_admin(store, 999),
                 lambda: notices.read_notice(store, 999, UNIT_A, T0)):
        with pytest.raises(NotFound):
            call()


def test_html_and_scripts_are_stored_and_returned_unchanged(store):
    notice = notices.publish(store, XSS_TITLE, XSS_BODY, False, T0, "admin")
    read = notices.read_notice(store, notice["id"], UNIT_A, T0)
    assert (read["title"], read["body"]) == (XSS_TITLE, XSS_BODY)


def test_the_same_idempotency_key_publishes_once(store):
    first = notices.publish(store, "缴费期通知", "正文", False, T0, "admin", "key-1")
    again = notices.publish(store, "缴费期通知", "正文", False, T0 + MINUTE, "admin", "key-1")
    other_admin = notices.publish(store, "缴费期通知", "正文", False, T0, "admin2", "key-1")
    assert again == first and other_admin["id"] != first["id"]
    assert notices.all_notices(store, 1, 20)["total"] == 2


def test_read_marks_survive_a_restart(engine, db_url):
    with Session(engine) as session:
        store = NoticesStore(session)
        notice = publish(store, "缴费期通知")
        notices.read_notice(store, notice["id"], UNIT_A, T0)
    engine.dispose()
    fresh = make_engine(db_url)
    try:
        with Session(fresh) as session:
            assert notices.unread_count(NoticesStore(session), UNIT_A) == {"unread": 0}
    finally:
        fresh.dispose()


def test_seeding_publishes_two_chinese_samples_once(engine):
    assert seed.seed(engine) == 2
    assert seed.seed(engine) == 0
    with Session(engine) as session:
        page = notices.notices_for_unit(NoticesStore(session), UNIT_A, 1, 20)
    assert page["total"] == 2 and page["items"][0]["pinned"] is True
    assert "2027年度城乡居民医保集中参保缴费" in page["items"][0]["title"]
    assert "批量导入" in page["items"][1]["title"]


def test_a_withdrawn_sample_is_not_seeded_again(engine):
    seed.seed(engine)
    with Session(engine) as session:
        store = NoticesStore(session)
        first = notices.all_notices(store, 1, 20)["items"][0]
        notices.withdraw(store, first["id"], T0)
    assert seed.seed(engine) == 0


# many processes marking at once

RACER = textwrap.dedent("""
    import sys
    from sqlalchemy.orm import Session
    from common.db import make_engine
    from services.notices import notices
    from services.notices.store import NoticesStore, utcnow

    url, ids, units = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        store = NoticesStore(session)
        store.published_notice(int(ids[0]))  # connect before the start line
        session.rollback()
        print("ready", flush=True)
        sys.stdin.readline()
        for notice_id in ids:
            for unit in units:
                notices.read_notice(store, int(notice_id), int(unit), utcnow())
    print("done", flush=True)
""")


def test_many_readers_at_once_never_lose_or_double_a_mark(store, engine, db_url):
    ids = [str(publish(store, f"通知{i}", i)["id"]) for i in range(3)]
    units = [str(u) for u in range(1, 6)]
    env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONWARNINGS": "ignore"}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, db_url, ",".join(ids), ",".join(units)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=ROOT, env=env, text=True)
        for _ in range(8)
    ]
    try:
        for racer in racers:
            assert racer.stdout.readline().strip() == "ready", racer.stderr.read()
        for racer in racers:  # let them all go at once
            racer.stdin.write("go\n")
            racer.stdin.flush()
        for racer in racers:
            out, err = racer.communicate(timeout=120)
            assert racer.returncode == 0 and out.strip() == "done", err
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(NoticeRead)) == 15
        for unit in units:
            assert notices.unread_count(NoticesStore(session), int(unit)) == {"unread": 0}


# the container on the real broker

@pytest.fixture
def notices_config(service_config, tables):
    tables(Base, service_config["DATABASE_URL"])
    return service_config


@pytest.fixture
def rpc(container_factory, notices_config):
    container_factory(NoticesService, notices_config).start()
    with ServiceRpcProxy("notices", notices_config) as proxy:
        yield proxy


def test_ping_answers(rpc):
    assert rpc.ping() == "pong"


def test_publish_list_read_and_withdraw_over_rpc(rpc):
    notice = rpc.publish("缴费期通知", "**请按时申报**", True, "admin")
    assert notice["state"] == "published" and notice["pinned"] is True
    published_at = datetime.fromisoformat(notice["published_at"])
    assert published_at.utcoffset() == timedelta(0)
    assert rpc.unread_count(UNIT_A) == {"unread": 1}
    assert rpc.read_notice(notice["id"], UNIT_A)["body"] == "**请按时申报**"
    page = rpc.notices_for_unit(UNIT_A, 1, 20)
    assert page["items"][0]["read"] is True and page["unread"] == 0
    assert rpc.notices_for_unit(UNIT_B, 1, 20)["unread"] == 1
    assert rpc.edit(notice["id"], {"title": "缴费期通知（更新）"})["title"] == "缴费期通知（更新）"
    assert rpc.withdraw(notice["id"])["state"] == "withdrawn"
    assert rpc.notices_for_unit(UNIT_B, 1, 20)["total"] == 0
    assert rpc.all_notices(1, 20)["items"][0]["read_count"] == 1


def test_domain_errors_arrive_as_their_own_class(rpc):
    with pytest.raises(InvalidInput) as exc:
        rpc.publish("", "正文", False, "admin")
    assert exc.value.details == {"title": ["标题不能为空"]}
    with pytest.raises(NotFound) as exc:
        rpc.read_notice(12345, UNIT_A)
    assert exc.value.message == "通知不存在或已撤回"


def test_concurrent_reads_over_rpc_all_leave_their_mark(rpc, notices_config):
    ids = [rpc.publish(f"通知{i}", "正文", False, "admin")["id"] for i in range(3)]
    units = range(1, 11)
    with ClusterRpcProxy(notices_config) as cluster:
        replies = [cluster.notices.read_notice.call_async(notice_id, unit)
                   for _ in range(2) for notice_id in ids for unit in units]
        assert all(reply.result()["read"] for reply in replies)
    assert all(rpc.unread_count(unit) == {"unread": 0} for unit in units)
    assert [i["read_count"] for i in rpc.all_notices(1, 20)["items"]] == [10, 10, 10]


def test_read_marks_survive_a_service_restart(container_factory, notices_config):
    first = container_factory(NoticesService, notices_config)
    first.start()
    with ServiceRpcProxy("notices", notices_config) as proxy:
        notice = proxy.publish("缴费期通知", "正文", False, "admin")
        proxy.read_notice(notice["id"], UNIT_A)
    first.stop()
    container_factory(NoticesService, notices_config).start()
    with ServiceRpcProxy("notices", notices_config) as proxy:
        assert proxy.notices_for_unit(UNIT_A, 1, 20)["items"][0]["read"] is True
        assert proxy.unread_count(UNIT_B) == {"unread": 1}
