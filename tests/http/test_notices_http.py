"""Notices over HTTP: admins publish, edit and withdraw; each unit reads with
its own read marks; roles and units are kept apart; HTML is only data."""
import uuid
from datetime import datetime

import pytest

pytestmark = pytest.mark.http

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"

ENDPOINTS = [
    ("GET", "/api/notices"),
    ("GET", "/api/notices/unread_count"),
    ("GET", "/api/notices/1"),
    ("GET", "/api/admin/notices"),
    ("POST", "/api/admin/notices"),
    ("GET", "/api/admin/notices/1"),
    ("PUT", "/api/admin/notices/1"),
    ("POST", "/api/admin/notices/1/withdraw"),
]
ADMIN_ENDPOINTS = [e for e in ENDPOINTS if e[1].startswith("/api/admin/")]
BODIES = {"POST": {"title": "越权通知", "body": "正文"}, "PUT": {"title": "越权修改"}}


def publish(suite, title=None, body="请各单位按时申报。", **extra):
    r = suite.api("POST", "/api/admin/notices", suite.admin_token,
                  json={"title": title or f"测试通知{uuid.uuid4().hex[:6]}", "body": body, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def listing(suite, token, query="size=200"):
    r = suite.api("GET", f"/api/notices?{query}", token)
    assert r.status_code == 200, r.text
    return r.json()


def flags(suite, token):
    """{notice id: read} of every published notice, as the caller sees it."""
    return {i["id"]: i["read"] for i in listing(suite, token)["items"]}


def unread(suite, token):
    r = suite.api("GET", "/api/notices/unread_count", token)
    assert r.status_code == 200, r.text
    return r.json()["unread"]


# roles

@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_no_token_is_401(suite, method, path):
    r = suite.api(method, path, json=BODIES.get(method))
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"


@pytest.mark.parametrize("method,path", ADMIN_ENDPOINTS)
def test_a_unit_token_on_admin_endpoints_is_403(suite, fresh_unit, method, path):
    r = suite.api(method, path, fresh_unit["token"], json=BODIES.get(method))
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


def test_a_unit_cannot_publish_edit_or_withdraw(suite, fresh_unit):
    notice = publish(suite)
    token = fresh_unit["token"]
    assert suite.api("PUT", f"/api/admin/notices/{notice['id']}", token, json={"title": "改"}).status_code == 403
    assert suite.api("POST", f"/api/admin/notices/{notice['id']}/withdraw", token).status_code == 403
    mine = suite.api("GET", f"/api/notices/{notice['id']}", token).json()
    assert mine["title"] == notice["title"]


def test_the_openapi_document_names_the_roles(suite):
    paths = suite.api("GET", "/api/openapi.json").json()["paths"]
    assert paths["/api/notices"]["get"]["x-roles"] == ["unit", "admin"]
    assert paths["/api/admin/notices"]["post"]["x-roles"] == ["admin"]
    assert "/api/admin/notices/{notice_id}/withdraw" in paths


# publishing

def test_admin_publishes_and_gets_201_with_the_notice(suite):
    before = datetime.now().astimezone()
    notice = publish(suite, "关于集中参保缴费期的通知", "**缴费期**：9月1日至12月31日", pinned=True)
    assert notice["title"] == "关于集中参保缴费期的通知"
    assert notice["body"] == "**缴费期**：9月1日至12月31日"
    assert notice["pinned"] is True and notice["state"] == "published"
    published_at = datetime.fromisoformat(notice["published_at"])
    assert published_at.utcoffset() is not None and published_at >= before.replace(microsecond=0)
    suite.api("POST", f"/api/admin/notices/{notice['id']}/withdraw", suite.admin_token)


def test_pinned_defaults_to_false(suite):
    assert publish(suite)["pinned"] is False


@pytest.mark.parametrize("body,field,message", [
    ({"title": "通" * 101, "body": "正文"}, "title", "标题不能超过100个字符（当前101个）"),
    ({"title": "标题", "body": "保" * 20_001}, "body", "正文不能超过20000个字符（当前20001个）"),
    ({"title": "标题"}, "body", "此项为必填项"),
    ({"title": "  ", "body": "正文"}, "title", "标题不能为空"),
    ({"title": "标题", "body": "[点我](javascript:alert(1))"}, "body",
     "正文中的链接只能使用 http、https、mailto 或 tel 地址：javascript:alert(1"),
    ({"title": "标题", "body": "正文", "pinned": "maybe"}, "pinned", "应为 true 或 false"),
])
def test_bad_notices_are_400_per_field_in_chinese(suite, body, field, message):
    r = suite.api("POST", "/api/admin/notices", suite.admin_token, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["details"][field] == [message]


def test_the_longest_title_and_body_are_accepted(suite):
    notice = publish(suite, "通" * 100, "保" * 20_000)
    assert len(notice["title"]) == 100 and len(notice["body"]) == 20_000


def test_the_same_idempotency_key_publishes_once(suite):
    key = uuid.uuid4().hex
    body = {"title": f"幂等通知{key[:6]}", "body": "正文"}
    first = suite.api("POST", "/api/admin/notices", suite.admin_token, json=body,
                      headers={"Idempotency-Key": key})
    again = suite.api("POST", "/api/admin/notices", suite.admin_token, json=body,
                      headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    everything = suite.api("GET", "/api/admin/notices?size=200", suite.admin_token).json()["items"]
    assert [n["title"] for n in everything].count(body["title"]) == 1


# what units see

def test_a_new_unit_sees_the_seeded_samples_unread(suite, fresh_unit):
    page = listing(suite, fresh_unit["token"])
    titles = [i["title"] for i in page["items"]]
    assert any("2027年度城乡居民医保集中参保缴费" in t for t in titles)
    assert any("批量导入" in t for t in titles)
    assert page["unread"] == page["total"] >= 2
    assert not any(i["read"] for i in page["items"])


def test_the_list_is_paged_with_the_unread_count(suite, fresh_unit):
    for _ in range(3):
        publish(suite)
    page = listing(suite, fresh_unit["token"], "page=1&size=2")
    assert set(page) >= {"items", "total", "page", "size", "unread"}
    assert (page["page"], page["size"], len(page["items"])) == (1, 2, 2)
    assert set(page["items"][0]) == {"id", "title", "published_at", "pinned", "read"}
    second = listing(suite, fresh_unit["token"], "page=2&size=2")
    assert not {i["id"] for i in page["items"]} & {i["id"] for i in second["items"]}
    assert page["total"] == second["total"] >= 5


def test_pinned_come_first_then_newest(suite, fresh_unit):
    older = publish(suite, "较早的通知")
    pinned = publish(suite, "置顶通知", pinned=True)
    newer = publish(suite, "较新的通知")
    try:
        items = listing(suite, fresh_unit["token"])["items"]
        keys = [(not i["pinned"], -datetime.fromisoformat(i["published_at"]).timestamp()) for i in items]
        assert keys == sorted(keys)
        ids = [i["id"] for i in items]
        assert ids.index(pinned["id"]) < ids.index(newer["id"]) < ids.index(older["id"])
    finally:
        suite.api("POST", f"/api/admin/notices/{pinned['id']}/withdraw", suite.admin_token)


@pytest.mark.parametrize("query", ["page=0", "size=0", "size=201", "unread=perhaps"])
def test_bad_paging_is_400(suite, fresh_unit, query):
    r = suite.api("GET", f"/api/notices?{query}", fresh_unit["token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"


# reading and read marks

def test_reading_returns_the_notice_and_marks_it_read(suite, fresh_unit):
    notice = publish(suite, "缴费期提醒", "请于12月31日前完成申报。")
    token = fresh_unit["token"]
    before = unread(suite, token)
    assert flags(suite, token)[notice["id"]] is False
    r = suite.api("GET", f"/api/notices/{notice['id']}", token)
    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in ("id", "title", "body", "published_at", "pinned")} == {
        "id": notice["id"], "title": "缴费期提醒", "body": "请于12月31日前完成申报。",
        "published_at": notice["published_at"], "pinned": False}
    assert flags(suite, token)[notice["id"]] is True
    assert unread(suite, token) == before - 1
    suite.api("GET", f"/api/notices/{notice['id']}", token)
    assert unread(suite, token) == before - 1


def test_unit_a_reading_marks_nothing_for_unit_b(suite, fresh_unit, other_unit):
    notice = publish(suite)
    b_before = flags(suite, other_unit["token"])
    b_unread = unread(suite, other_unit["token"])
    assert suite.api("GET", f"/api/notices/{notice['id']}", fresh_unit["token"]).status_code == 200
    assert flags(suite, fresh_unit["token"])[notice["id"]] is True
    assert flags(suite, other_unit["token"]) == b_before
    assert unread(suite, other_unit["token"]) == b_unread


def test_an_admin_reading_marks_nothing(suite, fresh_unit):
    notice = publish(suite)
    r = suite.api("GET", f"/api/notices/{notice['id']}", suite.admin_token)
    assert r.status_code == 200 and r.json()["title"] == notice["title"]
    assert flags(suite, fresh_unit["token"])[notice["id"]] is False
    admin_view = suite.api("GET", f"/api/admin/notices/{notice['id']}", suite.admin_token).json()
    assert admin_view["read_count"] == 0


def test_unread_true_lists_only_unread(suite, fresh_unit):
    read, left = publish(suite), publish(suite)
    token = fresh_unit["token"]
    suite.api("GET", f"/api/notices/{read['id']}", token)
    page = listing(suite, token, "unread=true&size=200")
    ids = [i["id"] for i in page["items"]]
    assert left["id"] in ids and read["id"] not in ids
    assert not any(i["read"] for i in page["items"])
    assert page["total"] == page["unread"] == unread(suite, token)


def test_unread_count_is_for_the_home_page(suite, fresh_unit):
    r = suite.api("GET", "/api/notices/unread_count", fresh_unit["token"])
    assert r.status_code == 200 and set(r.json()) == {"unread"}
    assert r.json()["unread"] == listing(suite, fresh_unit["token"])["total"]


def test_an_unknown_notice_is_404(suite, fresh_unit):
    r = suite.api("GET", "/api/notices/987654321", fresh_unit["token"])
    assert r.status_code == 404 and r.json()["error"] == "not_found"


# editing and withdrawing

def test_admin_edits_a_notice(suite, fresh_unit):
    notice = publish(suite, "原标题", "原正文")
    suite.api("GET", f"/api/notices/{notice['id']}", fresh_unit["token"])
    r = suite.api("PUT", f"/api/admin/notices/{notice['id']}", suite.admin_token,
                  json={"title": "新标题", "body": "新正文"})
    assert r.status_code == 200
    assert (r.json()["title"], r.json()["body"], r.json()["pinned"]) == ("新标题", "新正文", False)
    assert r.json()["published_at"] == notice["published_at"]
    seen = suite.api("GET", f"/api/notices/{notice['id']}", fresh_unit["token"]).json()
    assert (seen["title"], seen["body"]) == ("新标题", "新正文")
    assert flags(suite, fresh_unit["token"])[notice["id"]] is True


def test_edit_only_the_pin(suite):
    notice = publish(suite, "改置顶")
    r = suite.api("PUT", f"/api/admin/notices/{notice['id']}", suite.admin_token, json={"pinned": True})
    assert r.status_code == 200 and r.json()["pinned"] is True and r.json()["title"] == "改置顶"
    suite.api("POST", f"/api/admin/notices/{notice['id']}/withdraw", suite.admin_token)


@pytest.mark.parametrize("body,field", [
    ({}, "_schema"), ({"title": "通" * 101}, "title"), ({"state": "withdrawn"}, "state"),
])
def test_a_bad_edit_is_400(suite, body, field):
    notice = publish(suite)
    r = suite.api("PUT", f"/api/admin/notices/{notice['id']}", suite.admin_token, json=body)
    assert r.status_code == 400 and field in r.json()["details"]


def test_editing_or_withdrawing_an_unknown_notice_is_404(suite):
    assert suite.api("PUT", "/api/admin/notices/987654321", suite.admin_token,
                     json={"title": "不存在"}).status_code == 404
    assert suite.api("POST", "/api/admin/notices/987654321/withdraw", suite.admin_token).status_code == 404


def test_a_withdrawn_notice_disappears_for_units(suite, fresh_unit):
    notice = publish(suite, "将被撤回的通知")
    token = fresh_unit["token"]
    before = unread(suite, token)
    r = suite.api("POST", f"/api/admin/notices/{notice['id']}/withdraw", suite.admin_token)
    assert r.status_code == 200 and r.json()["state"] == "withdrawn" and r.json()["withdrawn_at"]
    assert notice["id"] not in flags(suite, token)
    assert unread(suite, token) == before - 1
    assert suite.api("GET", f"/api/notices/{notice['id']}", token).status_code == 404
    again = suite.api("POST", f"/api/admin/notices/{notice['id']}/withdraw", suite.admin_token)
    assert again.status_code == 200 and again.json()["withdrawn_at"] == r.json()["withdrawn_at"]


def test_admins_list_everything_including_withdrawn(suite):
    kept, gone = publish(suite), publish(suite)
    suite.api("POST", f"/api/admin/notices/{gone['id']}/withdraw", suite.admin_token)
    r = suite.api("GET", "/api/admin/notices?size=200", suite.admin_token)
    assert r.status_code == 200
    states = {n["id"]: n["state"] for n in r.json()["items"]}
    assert states[kept["id"]] == "published" and states[gone["id"]] == "withdrawn"
    withdrawn = suite.api("GET", "/api/admin/notices?state=withdrawn&size=200", suite.admin_token).json()
    assert {n["state"] for n in withdrawn["items"]} == {"withdrawn"}
    assert suite.api("GET", "/api/admin/notices?state=deleted", suite.admin_token).status_code == 400


# HTML is data

def test_html_and_script_payloads_are_returned_unchanged(suite, fresh_unit):
    title = f"{SCRIPT}{IMG}"
    body = f"正文 {SCRIPT}\n\n{IMG}\n<a href=\"javascript:alert(1)\">链接</a>"
    notice = publish(suite, title, body)
    assert (notice["title"], notice["body"]) == (title, body)
    r = suite.api("GET", f"/api/notices/{notice['id']}", fresh_unit["token"])
    assert r.headers["Content-Type"].startswith("application/json")
    assert (r.json()["title"], r.json()["body"]) == (title, body)
    listed = [i for i in listing(suite, fresh_unit["token"])["items"] if i["id"] == notice["id"]]
    assert listed[0]["title"] == title
    admin = suite.api("GET", f"/api/admin/notices/{notice['id']}", suite.admin_token).json()
    assert (admin["title"], admin["body"]) == (title, body)
