"""Rules of a notice, free of any framework.

A notice is a title (one line, at most TITLE_MAX characters) and a body (at
most BODY_MAX characters) written as plain text or in a small Markdown subset:
paragraphs and line breaks, `#`-`###` headings, `**bold**`, `*italic*`, `-` and
`1.` lists, and links `[text](https://...)`. Both are stored exactly as given
and never turned into HTML here: the portal escapes the text first and then
renders only that subset, so raw HTML in a notice (`<script>`, `<img onerror>`)
is shown as text. Because links *are* rendered, a link target must be relative
or use one of LINK_SCHEMES (no `javascript:`, no `data:`).
"""
import html
import re

TITLE_MAX = 100
BODY_MAX = 20_000
LINK_SCHEMES = ("http", "https", "mailto", "tel")
STATES = ("published", "withdrawn")
EDITABLE = ("title", "body", "pinned")

# Control characters other than tab and line breaks; PostgreSQL also refuses NUL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Targets of inline links and images: [text](target "title"), ![alt](<target>)
_INLINE_TARGET = re.compile(r"\]\(\s*<?([^\s)>]*)")
# Reference definitions: [label]: target
_REFERENCE_TARGET = re.compile(r"^[ ]{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
# Autolinks: <scheme:rest>
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>]*)>")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")


def clean_title(title):
    """The title as stored: surrounding spaces dropped, nothing else changed."""
    return title.strip() if isinstance(title, str) else title


def title_errors(title):
    if not isinstance(title, str) or not title.strip():
        return ["标题不能为空"]
    errors = []
    if len(title) > TITLE_MAX:
        errors.append(f"标题不能超过{TITLE_MAX}个字符（当前{len(title)}个）")
    if "\n" in title or "\r" in title:
        errors.append("标题不能换行")
    if _CONTROL.search(title):
        errors.append("标题含有不可见的控制字符")
    return errors


def body_errors(body):
    if not isinstance(body, str) or not body.strip():
        return ["正文不能为空"]
    errors = []
    if len(body) > BODY_MAX:
        errors.append(f"正文不能超过{BODY_MAX}个字符（当前{len(body)}个）")
    if _CONTROL.search(body):
        errors.append("正文含有不可见的控制字符")
    bad = unsafe_links(body)
    if bad:
        errors.append(f"正文中的链接只能使用 http、https、mailto 或 tel 地址：{bad[0][:50]}")
    return errors


def unsafe_links(body):
    """Link targets of the Markdown subset whose scheme is not allowed."""
    targets = (
        _INLINE_TARGET.findall(body)
        + _REFERENCE_TARGET.findall(body)
        + _AUTOLINK.findall(body)
    )
    return [t for t in targets if not _safe_target(t)]


def _safe_target(target):
    # Browsers ignore whitespace and control characters inside a scheme and
    # decode entities first: "java&#x09;script:" is still javascript.
    plain = html.unescape(target)
    plain = re.sub(r"[\x00-\x20\x7f]", "", plain).lower()
    match = _SCHEME.match(plain)
    return match is None or match.group(1) in LINK_SCHEMES


def notice_errors(title, body):
    """Per-field Chinese reasons why a notice cannot be published; empty if it can."""
    errors = {}
    if title_errors(title):
        errors["title"] = title_errors(title)
    if body_errors(body):
        errors["body"] = body_errors(body)
    return errors


def change_errors(changes):
    """Per-field reasons for an edit: only the fields given are checked."""
    errors = {}
    unknown = sorted(set(changes) - set(EDITABLE))
    for field in unknown:
        errors[field] = ["不支持修改此项"]
    if not set(changes) & set(EDITABLE) and not unknown:
        errors["_schema"] = ["请至少修改标题、正文或置顶中的一项"]
    if "title" in changes and title_errors(changes["title"]):
        errors["title"] = title_errors(changes["title"])
    if "body" in changes and body_errors(changes["body"]):
        errors["body"] = body_errors(changes["body"])
    if "pinned" in changes and not isinstance(changes["pinned"], bool):
        errors["pinned"] = ["置顶应为 true 或 false"]
    return errors
