"""Use cases of batch declarations: import a file, list and read the batch
records, and the files a unit downloads (template, failures).

Importing the same file twice: a byte-identical file (same SHA-256) that the
unit already imported for the same business type is not read again; the
answer is the first batch's result (same batch number, its totals and
failures) with `duplicate: true`, and nothing is appended. The same holds
for a repeated Idempotency-Key; the key sent with a different file is a
Conflict. A file that was
changed in any way (e.g. the failures workbook, corrected) is a new batch
whose rows are each decided against the current state, so rows already
declared come back with "already" reasons and nothing is ever doubled.
"""
import base64
import contextlib
import gc
import hashlib
import logging
import os
import re
import time
from datetime import date

from sqlalchemy.exc import IntegrityError

from common import codes
from common.errors import Conflict, InvalidInput, NotFound
from services.declarations import declaring, domain
from services.declarations.batch import failures as failures_file
from services.declarations.batch import reader, template
from services.declarations.batch.reader import Limits
from services.declarations.batch.rows import read_rows
from services.declarations.batch.store import BatchStore
from services.declarations.store import day_bounds, utc

log = logging.getLogger(__name__)

KINDS = {"enrolment": domain.ENROL, "suspension": domain.SUSPEND}
BATCH_PREFIX = "PL"
ATTEMPTS = 3
BUSY = "同时提交的批次较多，请稍后重试"
KEY_REUSED = "该幂等键（Idempotency-Key）已用于另一个文件"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def check_business_type(business_type):
    if business_type not in KINDS:
        choices = "、".join(f"{k}（{codes.BUSINESS_TYPES[k]}）" for k in KINDS)
        raise InvalidInput("申报类型不正确", {"business_type": [f"取值应为：{choices}"]})


def clean_file_name(name):
    """The base name of an uploaded file, without path or control characters."""
    name = re.split(r"[\\/]", str(name or ""))[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return name[-200:] or "未命名.xlsx"


# -- import -------------------------------------------------------------------

_gc_pause = {"holders": 0, "enabled": True}


@contextlib.contextmanager
def no_cyclic_gc():
    """No cyclic garbage collection while a batch is imported: its tens of
    thousands of live rows, commands and events made each collection walk
    them all, a fifth of the import's time. Reference counting still frees
    everything; the collector runs again once the last concurrent import
    (green threads) ends."""
    state = _gc_pause
    if state["holders"] == 0:
        state["enabled"] = gc.isenabled()
        gc.disable()
    state["holders"] += 1
    try:
        yield
    finally:
        state["holders"] -= 1
        if state["holders"] == 0 and state["enabled"]:
            gc.enable()


def import_batch(store, unit, actor, business_type, file_name, content, now, tz, limits=Limits(),
                 idempotency_key=None):
    """Import `content` (the uploaded bytes) for `unit` ({id, name,
    credit_code}) by `actor`; the batch result of API.md.

    A file that cannot be imported as a whole raises UnsupportedFile (415),
    TooLarge (413) or InvalidInput (400) and records nothing. Otherwise each
    row is accepted or rejected on its own; the accepted rows' events, their
    projections and the batch record are committed in one transaction.
    """
    check_business_type(business_type)
    name = clean_file_name(file_name)
    digest = hashlib.sha256(content).hexdigest()
    key = (idempotency_key or "").strip()[:100] or None
    batches = BatchStore(store.session)
    earlier = _earlier(store, batches, unit["id"], business_type, digest, key)
    if earlier is not None:
        return result(earlier, tz, duplicate=True)
    with no_cyclic_gc():
        return _import(store, batches, unit, actor, business_type, name, digest, key, content, now, tz,
                       limits)


def _import(store, batches, unit, actor, business_type, name, digest, key, content, now, tz, limits):
    started = time.perf_counter()
    # The sheet's cells are dropped once read into rows: less memory at the peak.
    rows = read_rows(reader.read(content, limits), business_type)
    read_at = time.perf_counter()
    to_declare = [row for row in rows if not row.errors]
    items = [(KINDS[business_type], row.data) for row in to_declare]
    for _attempt in range(ATTEMPTS):
        batch_no = next_batch_no(batches, now, tz)
        store.rollback()  # end the read: declare_many opens the write transaction
        outcomes = declaring.declare_many(store, unit, actor, items, now, tz, batch_no=batch_no,
                                          commit=False, records=False) if items else []
        refused = {row.number: declaring.rejection_text(outcome)
                   for row, outcome in zip(to_declare, outcomes) if not outcome["ok"]}
        failures = [_failure(row, refused.get(row.number)) for row in rows
                    if row.errors or row.number in refused]
        store.begin_write()
        try:
            batch = batches.add(
                batch_no=batch_no, unit_id=unit["id"], business_type=business_type,
                submitted_at=now, file_name=name, file_sha256=digest, total=len(rows),
                succeeded=len(rows) - len(failures), failed=len(failures), failures=failures,
                account=(actor or {}).get("account"), idempotency_key=key)
            store.commit()
        except IntegrityError:
            # Another import took this number, or the same file, meanwhile:
            # everything of this attempt is rolled back.
            store.rollback()
            earlier = _earlier(store, batches, unit["id"], business_type, digest, key)
            if earlier is not None:
                return result(earlier, tz, duplicate=True)
            continue
        log.info("batch %s (%s) of unit %s: %d rows, %d accepted, %d rejected; "
                 "read %.2f s, declared and recorded %.2f s",
                 batch_no, business_type, unit["id"], batch.total, batch.succeeded, batch.failed,
                 read_at - started, time.perf_counter() - read_at)
        return result(batch, tz)
    raise Conflict(BUSY)


def _earlier(store, batches, unit_id, business_type, digest, key):
    """The unit's batch of the same key or the same file, if any; the
    transaction of the read is ended."""
    try:
        if key is not None:
            batch = batches.by_key(unit_id, key)
            if batch is not None:
                if (batch.file_sha256, batch.business_type) != (digest, business_type):
                    raise Conflict(KEY_REUSED, {"Idempotency-Key": [KEY_REUSED]})
                return batch
        return batches.by_file(unit_id, business_type, digest)
    finally:
        store.rollback()


def _failure(row, refused):
    reasons = [reason for reason in (row.reason, refused) if reason]
    return {"row": row.number, "cert_no": row.cert_no, "name": row.name,
            "reason": "；".join(reasons), "values": row.values}


def next_batch_no(batches, now, tz):
    """PL + the business date + "-" + a six-digit number counting that
    day's batches of the whole platform, e.g. PL20261127-000123."""
    prefix = f"{BATCH_PREFIX}{now.astimezone(tz):%Y%m%d}-"
    last = batches.last_number(prefix)
    number = int(last[len(prefix):]) + 1 if last and last[len(prefix):].isdigit() else 1
    return f"{prefix}{number:06d}"


def result(batch, tz, duplicate=False, with_failures=True):
    out = summary(batch, tz)
    if with_failures:
        out["failures"] = [{k: f.get(k) for k in ("row", "cert_no", "name", "reason")}
                           for f in batch.failures or []]
    out["duplicate"] = duplicate
    return out


def summary(batch, tz):
    submitted = utc(batch.submitted_at).astimezone(tz)
    return {
        "batch_no": batch.batch_no, "business_type": batch.business_type,
        "submitted_at": submitted.isoformat(), "submitted_date": submitted.date().isoformat(),
        "file_name": batch.file_name, "total": batch.total,
        "succeeded": batch.succeeded, "failed": batch.failed,
    }


# -- records ----------------------------------------------------------------------

def _date(value, field):
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput("日期格式不正确", {field: ["日期格式应为YYYY-MM-DD"]}) from None


FILTERS = ("business_type", "from", "to", "batch_no")


def list_batches(store, unit_id, tz, filters=None, page=1, size=20):
    """The unit's batches, newest first, without their failures. `filters`:
    business_type, from and to (business dates, inclusive), batch_no (any
    part of the number)."""
    filters = filters or {}
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise InvalidInput("不支持的查询条件", {key: ["不支持的查询条件"] for key in unknown})
    business_type, batch_no = filters.get("business_type"), filters.get("batch_no")
    date_from, date_to = filters.get("from"), filters.get("to")
    if business_type:
        check_business_type(business_type)
    start, end = day_bounds(_date(date_from, "from"), _date(date_to, "to"), tz)
    batch_no = (batch_no or "").strip().upper() or None
    page, size = max(int(page), 1), min(max(int(size), 1), 200)
    total, rows = BatchStore(store.session).list(
        unit_id, (page - 1) * size, size, business_type, start, end, batch_no)
    return {"items": [summary(row, tz) for row in rows], "total": total, "page": page, "size": size}


def _batch(store, unit_id, batch_no):
    batch = BatchStore(store.session).get(unit_id, str(batch_no or "").strip().upper())
    if batch is None:
        raise NotFound("批次不存在")
    return batch


def get_batch(store, unit_id, batch_no, tz):
    """One of the unit's batches with its failures; another unit's is 404."""
    return result(_batch(store, unit_id, batch_no), tz)


def failures_workbook(store, unit_id, batch_no, limits=Limits()):
    """{file_name, content_type, content (base64)} of the batch's failures."""
    batch = _batch(store, unit_id, batch_no)
    data = failures_file.workbook(batch.business_type, batch.failures or [], limits)
    return _file(failures_file.file_name(batch.batch_no), data)


def template_workbook(business_type, limits=Limits()):
    """{file_name, content_type, content (base64)} of the current template."""
    check_business_type(business_type)
    data = template.build(business_type, limits.max_rows, limits.max_bytes // (1024 * 1024))
    return _file(template.file_name(business_type), data)


def _file(name, data):
    return {"file_name": name, "content_type": XLSX, "content": base64.b64encode(data).decode("ascii")}


def limits_of(config):
    """Limits from the service config, else the environment, else defaults."""
    merged = {key: config.get(key) or os.environ.get(key)
              for key in ("MAX_UPLOAD_BYTES", "MAX_UPLOAD_ROWS", "MAX_UNCOMPRESSED_BYTES")}
    return Limits.from_config(merged)
