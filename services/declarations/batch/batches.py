"""Use cases of batch declarations: receive a file, process it in a batch
worker, list and read the batch records, and the files a unit downloads
(template, failures).

An upload is answered at once: `submit` records the batch as `queued` with
its file and the next batch number of the day (a counter row, so any number
of units may upload at the same moment). A batch worker (`process_next`,
run by services/declarations/batch/worker.py in its own processes) takes
the oldest waiting batch, reads the file, decides every row against the
current state and commits the accepted rows' events, their projections and
the batch's result in one transaction — the file is read and decided once.

Importing the same file twice: a byte-identical file (same SHA-256) that the
unit already submitted for the same business type is not taken again; the
answer is the first batch (its number, its status or result) with
`duplicate: true`, and nothing is appended. The same holds for a repeated
Idempotency-Key; the key sent with a different file is a Conflict. A file
that was changed in any way (e.g. the failures workbook, corrected) is a new
batch whose rows are each decided against the current state, so rows
already declared come back with "already" reasons and nothing is ever
doubled.
"""
import base64
import contextlib
import gc
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from common import codes, tracing
from common.clock import day_bounds, utc, utcnow
from common.errors import Conflict, InvalidInput, NotFound, TooLarge, UnsupportedFile
from services.declarations import declaring, domain
from services.declarations.batch import failures as failures_file, reader, template
from services.declarations.batch.reader import Limits
from services.declarations.batch.rows import read_rows
from services.declarations.batch.store import AlreadyTaken, BatchStore

log = logging.getLogger(__name__)

KINDS = {"enrolment": domain.ENROL, "suspension": domain.SUSPEND}
BATCH_PREFIX = "PL"
STATUS_LABELS = {"queued": "排队中", "reading": "读取文件", "deciding": "逐行办理",
                 "done": "已完成", "failed": "导入失败"}
NOT_FINISHED = "该批次尚未处理完成，请稍后再下载失败数据"
NO_ROWS_FAILED = "该批次整个文件未能导入，没有逐行的失败数据，请按提示修改文件后重新上传"
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


def submit(store, unit, actor, business_type, file_name, content, now, tz, limits=Limits(),
           idempotency_key=None):
    """Receive `content` (the uploaded bytes) for `unit` ({id, name,
    credit_code}) by `actor`: the batch is recorded as `queued` with the next
    batch number of the day and its file, and answered at once (API: 202);
    a batch worker reads and decides it (`process_next`).

    The same file or Idempotency-Key of the unit answers with the first
    batch, whatever its status (`duplicate: true`). Only what needs no
    parsing is refused here: an empty or oversize file (400, 413) and what
    is plainly not an .xlsx (415); everything else is the worker's, and a
    file it refuses as a whole ends as a `failed` batch with its message."""
    check_business_type(business_type)
    reader.check_container(content, limits)
    name = clean_file_name(file_name)
    digest = hashlib.sha256(content).hexdigest()
    key = (idempotency_key or "").strip()[:100] or None
    batches = BatchStore(store.session)
    with store.reading():
        earlier = _earlier(batches, unit["id"], business_type, digest, key)
        if earlier is not None:
            return result(batches, earlier, tz, duplicate=True)
    day = f"{now.astimezone(tz):%Y%m%d}"
    try:
        with store.unit_of_work():
            number = batches.next_number(day)
            batch = batches.add(
                content, batch_no=f"{BATCH_PREFIX}{day}-{number:06d}", unit_id=unit["id"],
                business_type=business_type, submitted_at=now, file_name=name, file_sha256=digest,
                total=0, succeeded=0, failed=0, failures=[], status="queued", rows_read=0,
                rows_decided=0, attempts=0, account=(actor or {}).get("account"),
                idempotency_key=key, origin=_origin(unit, actor))
            out = result(batches, batch, tz)
            store.commit()
    except AlreadyTaken:
        # The same file or key arrived twice at once: the first one won.
        with store.reading():
            earlier = _earlier(batches, unit["id"], business_type, digest, key)
        if earlier is None:
            raise
        return result(batches, earlier, tz, duplicate=True)
    log.info("batch %s (%s) of unit %s received: %d bytes, queued",
             out["batch_no"], business_type, unit["id"], len(content))
    return out


def _earlier(batches, unit_id, business_type, digest, key):
    """The unit's batch of the same key or the same file, if any."""
    if key is not None:
        batch = batches.by_key(unit_id, key)
        if batch is not None:
            if (batch.file_sha256, batch.business_type) != (digest, business_type):
                raise Conflict(KEY_REUSED, {"Idempotency-Key": [KEY_REUSED]})
            return batch
    return batches.by_file(unit_id, business_type, digest)


# Whole-file refusals, as a failed batch's `error`.
ERRORS = {UnsupportedFile: "unsupported_file", TooLarge: "too_large", InvalidInput: "invalid_input"}
INTERRUPTED = "批次处理多次中断，未导入任何数据，请稍后重新上传该文件"
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Work:
    """How a batch worker works: its name (in the batches it holds), its
    lease on a batch, and the time."""
    worker: str
    lease_seconds: float = 60.0
    clock: Callable = utcnow
    max_attempts: int = MAX_ATTEMPTS


def process_next(store, work, tz, limits=Limits()):
    """Take the oldest batch waiting (or left behind by a dead worker) and
    finish it: read the file, decide every row, and commit the accepted
    rows' events, their projections and the batch's result in one
    transaction. Returns the batch number, or None when none was waiting.

    A file refused as a whole fails the batch with its message; nothing of
    it is appended. A batch taken `max_attempts` times without finishing
    (its workers died) fails as interrupted. A worker that lost its lease
    meanwhile commits nothing (LeaseLost): the batch is another's."""
    batches = BatchStore(store.session)
    with store.unit_of_work():
        batch_no = batches.claim(work.worker, work.clock(), work.lease_seconds)
        store.commit()
    if batch_no is None:
        return None
    with store.reading():
        batch, content = batches.held(batch_no, work.worker)
        store.session.expunge(batch)
    if batch.attempts > work.max_attempts or content is None:
        _close(store, batches, batch, work, status="failed", error="interrupted", message=INTERRUPTED)
        log.warning("batch %s failed: taken %d times without finishing", batch_no, batch.attempts - 1)
        return batch_no
    with no_cyclic_gc():
        _process(store, batches, batch, content, work, tz, limits)
    return batch_no


def _process(store, batches, batch, content, work, tz, limits):
    """One trace per batch (common/tracing.py, when on): a span for the
    batch, a child of the upload's request (its context kept in `origin`),
    and one per phase: read, decide, commit."""
    with tracing.span("batch", scope="services.declarations.batch", kind="consumer",
                      parent=(batch.origin or {}).get("trace"),
                      attributes={"edt.batch_no": batch.batch_no, "edt.business_type": batch.business_type}):
        _phases(store, batches, batch, content, work, tz, limits)


def _phases(store, batches, batch, content, work, tz, limits):
    started = time.perf_counter()
    _progress(store, batches, batch, work, status="reading")
    try:
        # The sheet's cells are dropped once read into rows: less memory at the peak.
        with tracing.span("batch read", scope="services.declarations.batch"):
            rows = read_rows(reader.read(content, limits), batch.business_type)
    except tuple(ERRORS) as refusal:
        _close(store, batches, batch, work, status="failed", error=refusal.code, message=refusal.message,
               reason=(refusal.extra or {}).get("reason"))
        log.info("batch %s refused as a whole: %s", batch.batch_no, refusal.message)
        return
    content = None
    read_at = time.perf_counter()
    _progress(store, batches, batch, work, status="deciding", rows_read=len(rows), total=len(rows))
    to_declare = [row for row in rows if not row.errors]
    items = [(KINDS[batch.business_type], row.data) for row in to_declare]
    refused_rows = len(rows) - len(to_declare)

    def decided(count):
        _progress(store, batches, batch, work, rows_decided=refused_rows + count)

    origin = batch.origin or {}
    unit = {"id": batch.unit_id, **(origin.get("unit") or {"name": None, "credit_code": None})}
    actor = origin.get("actor") or {"account": batch.account}
    with tracing.span("batch decide", scope="services.declarations.batch", attributes={"edt.rows": len(rows)}):
        plan = declaring.plan_many(store, unit, actor, items, work.clock(), tz, batch_no=batch.batch_no,
                                   progress=decided) if items else []
    # The accepted rows' events, their projections and the batch's result
    # commit together, or nothing does.
    with tracing.span("batch commit", scope="services.declarations.batch"), store.unit_of_work(append=True):
        outcomes = plan if isinstance(plan, list) else declaring.record(store, plan, tz, records=False)
        refused = {row.number: declaring.rejection_text(outcome)
                   for row, outcome in zip(to_declare, outcomes, strict=True) if not outcome["ok"]}
        failures = [_failure(row, refused.get(row.number)) for row in rows
                    if row.errors or row.number in refused]
        batches.close(batch.batch_no, work.worker, status="done", total=len(rows),
                      succeeded=len(rows) - len(failures), failed=len(failures), failures=failures,
                      rows_read=len(rows), rows_decided=len(rows), finished_at=work.clock())
        store.commit()
    log.info("batch %s (%s) of unit %s: %d rows, %d accepted, %d rejected; "
             "read %.2f s, declared and recorded %.2f s",
             batch.batch_no, batch.business_type, batch.unit_id, len(rows), len(rows) - len(failures),
             len(failures), read_at - started, time.perf_counter() - read_at)


def _origin(unit, actor):
    """What the worker needs of the upload's unit and actor for the events."""
    actor = actor or {}
    origin = {"unit": {"name": unit.get("name"), "credit_code": unit.get("credit_code")},
              "actor": {k: actor.get(k) for k in ("account", "request_id", "address")}}
    trace = tracing.traceparent()  # the upload's trace, which the worker's spans continue
    if trace:
        origin["trace"] = trace
    return origin


def _progress(store, batches, batch, work, **values):
    """Record how far the batch is, renewing the worker's lease."""
    lease_until = work.clock() + timedelta(seconds=work.lease_seconds)
    with store.unit_of_work():
        batches.update_held(batch.batch_no, work.worker, lease_until=lease_until, **values)
        store.commit()


def _close(store, batches, batch, work, **values):
    with store.unit_of_work():
        batches.close(batch.batch_no, work.worker, finished_at=work.clock(), **values)
        store.commit()


def import_batch(store, unit, actor, business_type, file_name, content, now, tz, limits=Limits(),
                 idempotency_key=None, worker="in-process"):
    """Submit a file and process it at once in this process: the batch
    result, or raises the file's refusal (415, 413, 400) as the old
    synchronous import did. For tools and tests; the service itself only
    submits, and batch workers process."""
    submitted = submit(store, unit, actor, business_type, file_name, content, now, tz, limits,
                       idempotency_key)
    if submitted.get("duplicate"):
        return submitted
    work = Work(worker=worker, clock=lambda: now)
    while process_next(store, work, tz, limits) not in (None, submitted["batch_no"]):
        pass
    with store.reading():
        batches = BatchStore(store.session)
        batch = batches.get(unit["id"], submitted["batch_no"])
        if batch.status == "failed":
            refusal = {v: k for k, v in ERRORS.items()}.get(batch.error, Conflict)
            raise refusal(batch.message, {"file": [batch.message]},
                          {"reason": batch.reason} if batch.reason else None)
        return result(batches, batch, tz)


def _failure(row, refused):
    reasons = [reason for reason in (row.reason, refused) if reason]
    return {"row": row.number, "cert_no": row.cert_no, "name": row.name,
            "reason": "；".join(reasons), "values": row.values}


def result(batches, batch, tz, duplicate=False):
    """A batch with its failed rows (decrypted by `batches`, its BatchStore)."""
    out = summary(batch, tz)
    if out["status"] == "done":
        out["failures"] = [_failure_out(f) for f in batches.failures_of(batch)]
    out["duplicate"] = duplicate
    return out


def _failure_out(failure):
    """A failed row as the API gives it: with the type of its certificate
    (resolved from what was typed; None when it names none), which the
    gateway needs for the person's opaque id beside the masked number."""
    out = {k: failure.get(k) for k in ("row", "cert_no", "name", "reason")}
    typed = (failure.get("values") or {}).get("cert_type")
    out["cert_type"] = codes.resolve(codes.CERT_TYPES, typed) if typed else None
    return out


def summary(batch, tz):
    """A batch as the API shows it: while open its status and progress, when
    done its totals, when failed its message."""
    submitted = utc(batch.submitted_at).astimezone(tz)
    status = batch.status or "done"
    out = {
        "batch_no": batch.batch_no, "business_type": batch.business_type,
        "submitted_at": submitted.isoformat(), "submitted_date": submitted.date().isoformat(),
        "file_name": batch.file_name, "status": status,
        "status_label": STATUS_LABELS.get(status, status),
    }
    if status == "done":
        out.update(total=batch.total, succeeded=batch.succeeded, failed=batch.failed)
    elif status == "failed":
        out.update(total=None, succeeded=0, failed=None, message=batch.message, error=batch.error,
                   reason=batch.reason)
    else:
        out.update(total=batch.total or None, succeeded=None, failed=None,
                   progress={"rows_read": batch.rows_read or 0, "rows_decided": batch.rows_decided or 0,
                             "total": batch.total or None})
    return out


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
    return result(BatchStore(store.session), _batch(store, unit_id, batch_no), tz)


def failures_workbook(store, unit_id, batch_no, limits=Limits()):
    """{file_name, content_type, content (base64)} of the batch's failures."""
    batch = _batch(store, unit_id, batch_no)
    if batch.status not in (None, "done"):
        raise Conflict(NOT_FINISHED if batch.status != "failed" else NO_ROWS_FAILED)
    data = failures_file.workbook(batch.business_type, BatchStore(store.session).failures_of(batch), limits)
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
