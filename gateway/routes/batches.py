"""批量城乡居民参保 / 批量暂停参保 from Excel, and 批量提交记录.

The upload is multipart (field `file`); the gateway refuses an oversize one
itself (413) and hands the bytes, base64-encoded, to the declarations
service, which records the batch as queued and answers at once (202); a
batch worker reads and decides it, and `GET /api/batches/{batch_no}` shows
its status and progress until its result. Re-submitting a byte-identical
file answers 200 with the first batch (`duplicate: true`) and declares
nothing."""
import base64
from functools import wraps

from flask import Response, current_app, g, request

from common.errors import TooLarge
from gateway import masking
from gateway.api import Blueprint
from gateway.hardening import upload_body
from gateway.routes.residents import content_disposition
from gateway.schemas.batches import (
    XLSX,
    BatchListArgs,
    BatchPageSchema,
    BatchResultSchema,
    BatchTypeArgs,
    UploadSchema,
)
from gateway.security import actor, unit_id
from gateway.services import rpc

blp = Blueprint("batches", __name__, url_prefix="/api/batches",
                description="Batch declarations from Excel and the unit's batch records")

KEY_HEADER = "Idempotency-Key"
XLSX_DOC = {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}


def _unit():
    unit = g.principal["unit"]
    return {"id": unit_id(), "name": unit["name"], "credit_code": unit["credit_code"]}


def _too_large():
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    megabytes = limit / (1024 * 1024)
    shown = f"{megabytes:g}MB" if megabytes >= 1 else f"{limit}字节"
    return TooLarge(f"文件超过{shown}，请拆分为多个文件后分别导入", {"file": [f"文件大小不能超过{shown}"]})


def upload_limit(view):
    """Answer 413 before the body is read when it is announced too large."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        slack = current_app.config["MAX_CONTENT_LENGTH"] - current_app.config["MAX_UPLOAD_BYTES"]
        if (request.content_length or 0) > current_app.config["MAX_UPLOAD_BYTES"] + slack:
            raise _too_large()
        return view(*args, **kwargs)

    return upload_body(wrapper)


def _attachment(result, fallback):
    response = Response(base64.b64decode(result["content"]), mimetype=XLSX)
    response.headers["Content-Disposition"] = content_disposition(result["file_name"], fallback)
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/template", methods=["GET"])
@blp.secured("unit")
@blp.arguments(BatchTypeArgs, location="query")
@blp.response(200, description="the .xlsx template (attachment)", content_type=XLSX)
@blp.doc(responses={"200": {"description": "the .xlsx template (attachment)", **XLSX_DOC}})
@blp.errors(400, 401, 403)
def template(args):
    """The current template of a business type: a data sheet with required
    headers marked, dropdowns on coded columns and a text ID column, a 说明
    sheet with the code tables, and the version mark checked on import."""
    result = rpc().declarations.batch_template(args["business_type"])
    return _attachment(result, f"{args['business_type']}-template.xlsx")


@blp.route("", methods=["POST"])
@blp.secured("unit")
@upload_limit
@blp.arguments(BatchTypeArgs, location="query")
@blp.arguments(UploadSchema, location="files")
@blp.response(202, BatchResultSchema, description="received: the batch waits for a batch worker (status queued)")
@blp.alt_response(200, schema=BatchResultSchema,
                  description="the same file was submitted before: its first batch, nothing declared")
@blp.errors(400, 401, 403, 409)
@blp.doc(parameters=[{
    "in": "header", "name": KEY_HEADER, "required": False, "schema": {"type": "string", "maxLength": 100},
    "description": "the same key from the same unit returns the first batch and declares nothing more"}])
@blp.alt_response(413, description="file larger than MAX_UPLOAD_BYTES")
@blp.alt_response(415, description="plainly not an .xlsx (an .xls, CSV, HTML, encrypted workbook)")
def import_batch(args, files):
    """Submit a filled-in template: the answer comes at once (202) with the
    batch number and status `queued`; a batch worker then reads the file
    and decides every row on its own against the current state. Follow it
    with `GET /api/batches/{batch_no}`: status `reading`, `deciding` (with
    `progress`), then `done` with the totals and the rejected rows (row
    number and reason; also `GET /api/batches/{batch_no}/failures.xlsx`), or
    `failed` with a `message` when the file is refused as a whole (not the
    current template, no data rows, more than MAX_UPLOAD_ROWS rows) and
    nothing of it was declared. A file that is empty, too large or plainly
    not an .xlsx is refused at once (400, 413, 415) and nothing is recorded.

    Submitting a byte-identical file again (or the same `Idempotency-Key`)
    answers 200 with the first batch and `duplicate: true`, declaring
    nothing; the same key with a different file is 409. A changed file is
    a new batch: rows already declared come back as "already" failures.
    Uploads by any number of units at the same moment are all accepted."""
    upload = files["file"]
    content = upload.read(current_app.config["MAX_UPLOAD_BYTES"] + 1)
    if len(content) > current_app.config["MAX_UPLOAD_BYTES"]:
        raise _too_large()
    key = (request.headers.get(KEY_HEADER) or "").strip()[:100] or None
    result = rpc().declarations.submit_batch(
        _unit(), actor(), args["business_type"], upload.filename or "",
        base64.b64encode(content).decode("ascii"), key)
    return masking.batch(result), (200 if result.get("duplicate") else 202)


@blp.route("", methods=["GET"])
@blp.secured("unit")
@blp.arguments(BatchListArgs, location="query")
@blp.response(200, BatchPageSchema)
@blp.errors(400, 401, 403)
def list_batches(args):
    """批量提交记录: the unit's batches, newest first (without failures),
    filtered by `business_type`, 申报日期 `from`/`to` (inclusive, business
    time zone) and `batch_no` (any part of it)."""
    filters = {
        "business_type": args.get("business_type"),
        "from": args["date_from"].isoformat() if args.get("date_from") else None,
        "to": args["date_to"].isoformat() if args.get("date_to") else None,
        "batch_no": (args.get("batch_no") or "").strip() or None,
    }
    filters = {k: v for k, v in filters.items() if v}
    return rpc().declarations.list_batches(unit_id(), filters, args["page"], args["size"])


@blp.route("/<batch_no>", methods=["GET"])
@blp.secured("unit")
@blp.response(200, BatchResultSchema)
@blp.errors(401, 403, 404)
def get_batch(batch_no):
    """One batch of the unit: while it waits or runs its status and
    progress, when done its totals and failures (`cert_no` masked, with the
    person's `person_id`; the failures file has them whole), when failed
    its message; another unit's is 404."""
    return masking.batch(rpc().declarations.get_batch(unit_id(), batch_no))


@blp.route("/<batch_no>/failures.xlsx", methods=["GET"])
@blp.secured("unit")
@blp.response(200, description="the failed rows in the template plus 失败原因 (attachment)", content_type=XLSX)
@blp.doc(responses={"200": {"description": "the failed rows in the template plus 失败原因", **XLSX_DOC}})
@blp.errors(401, 403, 404, 409)
def failures_file(batch_no):
    """The batch's rejected rows in the current template with a 失败原因
    column; correct them and import the file again."""
    result = rpc().declarations.batch_failures_file(unit_id(), batch_no)
    return _attachment(result, "failures.xlsx")
