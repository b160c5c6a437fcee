"""The roster page is written without marshmallow (gateway/routes/residents.py,
for speed); it must stay what RosterPageSchema().dump() would give, and it
never lets a full 证件号码 or 联系电话 through, whatever the service sent."""
from gateway.routes.residents import roster_page
from gateway.schemas.residents import RosterPageSchema

ITEM = {
    "person_id": "q3V0aXfYkS2dO1bH0mZx9A", "cert_type": "01", "cert_no": "350503********1234", "name": "测试甲子",
    "gender": "1", "nation": "01", "phone": None, "category": "11", "status": "active",
    "since": "2026-01-01T08:00:00+08:00", "cert_type_label": "居民身份证", "gender_label": "男",
    "nation_label": "汉族", "category_label": None, "status_label": "正常参保",
}


def test_roster_page_equals_the_schemas_dump():
    page = {"items": [ITEM, {**ITEM, "cert_no": "350503********123X", "gender": "2", "phone": "138****5678"}],
            "total": 50000, "page": 2, "size": 20}
    assert roster_page(page) == RosterPageSchema().dump(page)


def test_roster_page_keeps_only_the_declared_fields():
    page = {"items": [{**ITEM, "hukou_address": "福建省泉州市", "birth_date": "1990-01-01", "internal": 1}],
            "total": 1, "page": 1, "size": 20}
    out = roster_page(page)
    for left_out in ("hukou_address", "birth_date", "internal"):
        assert left_out not in out["items"][0]
    assert out == RosterPageSchema().dump(page)


def test_roster_page_turns_values_into_strings_as_the_schema_does():
    page = {"items": [{**ITEM, "nation": 1}], "total": 1, "page": 1, "size": 20}
    assert roster_page(page)["items"][0]["nation"] == "1" == RosterPageSchema().dump(page)["items"][0]["nation"]


def test_roster_page_masks_full_values_it_is_given():
    page = {"items": [{**ITEM, "cert_no": "35050319900101123X", "phone": "13812345678"}],
            "total": 1, "page": 1, "size": 20}
    item = roster_page(page)["items"][0]
    assert (item["cert_no"], item["phone"]) == ("350503********123X", "138****5678")
