"""Rules of a notice: title and body limits, and the safe Markdown subset."""
import pytest

from services.notices import rules

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def test_a_plain_notice_passes():
    assert rules.notice_errors("关于集中参保缴费的通知", "各社区单位：\n\n请按时申报。") == {}


def test_title_of_exactly_100_characters_passes():
    assert rules.title_errors("通" * 100) == []


def test_title_of_101_characters_is_refused_with_the_count():
    assert rules.title_errors("通" * 101) == ["标题不能超过100个字符（当前101个）"]


@pytest.mark.parametrize("title", ["", "   ", None, 42])
def test_empty_or_non_text_title_is_refused(title):
    assert rules.title_errors(title) == ["标题不能为空"]


def test_title_must_be_one_line():
    assert rules.title_errors("第一行\n第二行") == ["标题不能换行"]


def test_title_loses_only_its_surrounding_spaces():
    assert rules.clean_title("  参保 通知 ") == "参保 通知"


def test_body_of_exactly_20000_characters_passes():
    assert rules.body_errors("保" * 20_000) == []


def test_body_of_20001_characters_is_refused():
    assert rules.body_errors("保" * 20_001) == ["正文不能超过20000个字符（当前20001个）"]


@pytest.mark.parametrize("body", ["", "\n\n  ", None])
def test_empty_body_is_refused(body):
    assert rules.body_errors(body) == ["正文不能为空"]


def test_control_characters_are_refused_but_tabs_and_line_breaks_pass():
    assert rules.body_errors("第一行\r\n\t第二行") == []
    assert rules.body_errors("空字符\x00在此") == ["正文含有不可见的控制字符"]
    assert rules.title_errors("响铃\x07") == ["标题含有不可见的控制字符"]


def test_html_is_plain_data_and_passes_unchanged():
    # Raw HTML is never rendered (the portal shows it as text), so it is allowed.
    assert rules.notice_errors(SCRIPT + IMG, f"正文 {SCRIPT}\n{IMG}") == {}


def test_the_markdown_subset_passes():
    body = ("### 一、缴费期\n\n**2026年9月1日**至12月31日，*逾期*不再受理。\n\n"
            "1. 下载模板\n2. 上传文件\n\n- 详见[医保局网站](https://ybj.quanzhou.gov.cn/)\n"
            "- 咨询 <mailto:help@example.com> 或 [电话](tel:0595-12345)\n"
            "- 本平台[批量导入](/batches)\n\n[ref]: https://example.com/a")
    assert rules.body_errors(body) == []


@pytest.mark.parametrize("body", [
    "点击[这里](javascript:alert(1))",
    "![图](data:text/html;base64,PHNjcmlwdD4=)",
    "点击[这里]( JavaScript:alert(1) )",
    "点击[这里](java&#x09;script:alert(1))",
    "点击[这里](<javascript:alert(1)>)",
    "见 <javascript:alert(1)>",
    "[ref]: vbscript:msgbox(1)",
])
def test_links_with_unsafe_schemes_are_refused(body):
    errors = rules.body_errors(body)
    assert len(errors) == 1 and errors[0].startswith("正文中的链接只能使用")


def test_notice_errors_name_each_bad_field():
    errors = rules.notice_errors("", "保" * 20_001)
    assert set(errors) == {"title", "body"}


def test_an_edit_checks_only_the_fields_given():
    assert rules.change_errors({"pinned": True}) == {}
    assert rules.change_errors({"title": "新标题"}) == {}
    assert set(rules.change_errors({"title": "", "body": "好"})) == {"title"}


def test_an_empty_edit_is_refused():
    assert rules.change_errors({}) == {"_schema": ["请至少修改标题、正文或置顶中的一项"]}


def test_an_edit_of_other_fields_is_refused():
    assert rules.change_errors({"state": "published"}) == {"state": ["不支持修改此项"]}


def test_pinned_must_be_a_boolean():
    assert rules.change_errors({"pinned": "yes"}) == {"pinned": ["置顶应为 true 或 false"]}
