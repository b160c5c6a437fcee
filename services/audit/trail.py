"""Use cases of the audit service as plain functions over an AuditStore:
storing the records that arrive (chained, each id once) and the auditor's
search and export. `service.py` and the consumer call these."""
import base64
import io
import json
import logging
import os
from datetime import date
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from common.clock import day_bounds, utc
from common.errors import InvalidInput
from services.audit import chain

log = logging.getLogger(__name__)

BUSINESS_TZ = ZoneInfo(os.environ.get("BUSINESS_TZ", "Asia/Shanghai"))
EXPORT_MAX = 100_000  # rows in one export file
SIZE_MAX = 200


def record(store, messages, now):
    """Chain and store the records of `messages` (dicts as common/audit.py
    publishes them), in the order given, in one transaction. A record whose
    id is stored already (a redelivered message, a publisher's retry) is
    dropped. Returns how many were stored."""
    fresh, seen = [], set()
    for message in messages:
        try:
            item = chain.normalise(message, now)
        except chain.NotARecord as exc:
            log.error("audit: dropped a message that is not a record: %s", exc)
            continue
        if item["id"] not in seen:
            seen.add(item["id"])
            fresh.append(item)
    if not fresh:
        return 0
    with store.unit_of_work():
        seq, last = store.head(for_update=True)
        known = store.known_ids(seen)
        fresh = [r for r in fresh if r["id"] not in known]
        if not fresh:
            return 0
        chain.chain(fresh, last, seq)
        store.add(fresh)
        store.move_head(fresh[-1]["seq"], fresh[-1]["hash"])
        store.commit()
    return len(fresh)


def _filters(filters):
    """The store's filters from the auditor's: business-zone days to UTC bounds."""
    filters = dict(filters or {})
    try:
        day_from = date.fromisoformat(filters.pop("from")) if filters.get("from") else None
        day_to = date.fromisoformat(filters.pop("to")) if filters.get("to") else None
    except (TypeError, ValueError):
        raise InvalidInput("日期格式不正确", {"from": ["日期格式应为 YYYY-MM-DD"]}) from None
    filters.pop("from", None)
    filters.pop("to", None)
    if day_from and day_to and day_from > day_to:
        raise InvalidInput("开始日期不能晚于结束日期", {"from": ["开始日期不能晚于结束日期"]})
    try:
        filters["from"], filters["to"] = day_bounds(day_from, day_to, BUSINESS_TZ)
    except (OverflowError, ValueError):  # year 1 or 9999 in the business zone
        raise InvalidInput("日期超出范围", {"from": ["日期超出范围"]}) from None
    return filters


def item_dict(store, row):
    """A stored record as the auditor reads it (its object decrypted; the
    gateway masks the page)."""
    text = store.object_text(row)
    try:
        obj = json.loads(text)
    except ValueError:
        obj = text
    return {
        "seq": row.seq, "id": row.record_id,
        "at": utc(row.at).astimezone(BUSINESS_TZ).isoformat(),
        "account": row.account, "role": row.role, "unit_id": row.unit_id, "address": row.address,
        "request_id": row.request_id, "action": row.action, "object": obj, "outcome": row.outcome,
    }


def search(store, filters, page, size):
    """The records matching `filters` (from, to, account, unit_id, action,
    cert_no, outcome, request_id), newest first."""
    if page < 1 or not 1 <= size <= SIZE_MAX:
        raise InvalidInput("分页参数不正确", {"size": [f"每页条数应为1到{SIZE_MAX}"]})
    where = _filters(filters)
    with store.reading():
        total, rows = store.search(where, (page - 1) * size, size)
        return {"items": [item_dict(store, r) for r in rows], "total": total, "page": page, "size": size}


HEADERS = (("序号", 10), ("时间", 26), ("账号", 16), ("角色", 10), ("单位ID", 8), ("客户端地址", 16),
           ("请求号", 34), ("操作", 26), ("对象", 60), ("结果", 10))
FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")


def _cell(ws, value):
    if isinstance(value, str) and value.startswith(FORMULA_LEAD):
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type, cell.quotePrefix = "s", True
        return cell
    return value


def export(store, filters):
    """The matching records (newest first, at most EXPORT_MAX) as an .xlsx,
    base64-encoded: {content, rows, truncated}."""
    where = _filters(filters)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("审计记录")
    bold = Font(bold=True)
    header = []
    for index, (title, width) in enumerate(HEADERS):
        ws.column_dimensions[chr(ord("A") + index)].width = width
        cell = WriteOnlyCell(ws, value=title)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    rows = 0
    with store.reading():
        total = store.search(where, 0, 0)[0]
        for row in store.matching(where, EXPORT_MAX):
            item = item_dict(store, row)
            values = (item["seq"], item["at"], item["account"], item["role"], item["unit_id"], item["address"],
                      item["request_id"], item["action"], chain.dumps(item["object"]), item["outcome"])
            ws.append([_cell(ws, v) for v in values])
            rows += 1
    buffer = io.BytesIO()
    wb.save(buffer)
    return {"content": base64.b64encode(buffer.getvalue()).decode("ascii"), "rows": rows, "truncated": total > rows}
