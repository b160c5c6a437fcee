"""增员减员申报: enrolment (new, transfer-in, resume), suspension and change
of one person, and the unit's records (城乡居民参保记录). The unit is always
the caller's, from the token; a person or record of another unit is refused
or not found, never shown."""
from flask import g, request

from common.errors import InvalidInput
from gateway import masking
from gateway.api import Blueprint
from gateway.schemas.declarations import (
    ChangedSchema,
    ChangeSchema,
    DeclaredSchema,
    EnrolmentSchema,
    RecordArgs,
    RecordDetailSchema,
    RecordPageSchema,
    SuspensionSchema,
)
from gateway.security import actor, unit_id
from gateway.services import rpc

blp = Blueprint("declarations", __name__, url_prefix="/api/declarations",
                description="Declarations of one person and the unit's records")

KEY_HEADER = "Idempotency-Key"
KEY_MAX = 100
IDEMPOTENCY_DOC = {"parameters": [{
    "in": "header", "name": KEY_HEADER, "required": False, "schema": {"type": "string", "maxLength": KEY_MAX},
    "description": "the same key from the same account returns the first answer and declares nothing more",
}]}


def _key():
    key = (request.headers.get(KEY_HEADER) or "").strip()
    if len(key) > KEY_MAX:
        raise InvalidInput("Idempotency-Key过长", {KEY_HEADER: [f"不能超过{KEY_MAX}个字符"]})
    return key or None


def _unit():
    unit = g.principal["unit"]
    return {"id": unit_id(), "name": unit["name"], "credit_code": unit["credit_code"]}


@blp.route("/enrolment", methods=["POST"])
@blp.secured("unit")
@blp.arguments(EnrolmentSchema)
@blp.response(201, DeclaredSchema)
@blp.errors(400, 401, 403, 409)
@blp.doc(**IDEMPOTENCY_DOC)
def enrol(args):
    """城乡居民参保: a new enrolment, a transfer-in from another unit, or the
    resumption of a person suspended here (`action` says which). 409 when
    the person is already insured in this unit."""
    return rpc().declarations.enrol(_unit(), actor(), args, _key())


@blp.route("/suspension", methods=["POST"])
@blp.secured("unit")
@blp.arguments(SuspensionSchema)
@blp.response(201, DeclaredSchema)
@blp.errors(400, 401, 403, 409)
@blp.doc(**IDEMPOTENCY_DOC)
def suspend(args):
    """城乡居民暂停参保 of a person insured in this unit, with a reason (a
    remark when the reason is 其他). 409 when the person is not insured
    here or already suspended."""
    return rpc().declarations.suspend(_unit(), actor(), args, _key())


@blp.route("/change", methods=["POST"])
@blp.secured("unit")
@blp.arguments(ChangeSchema)
@blp.response(201, ChangedSchema)
@blp.errors(400, 401, 403, 409)
@blp.doc(**IDEMPOTENCY_DOC)
def change(args):
    """城乡居民变更 of the personal data of a person of this unit (active or
    suspended); the answer keeps `before` and `after`. 409 when the person
    does not belong to this unit."""
    return rpc().declarations.change(_unit(), actor(), args, _key())


@blp.route("", methods=["GET"])
@blp.secured("unit")
@blp.arguments(RecordArgs, location="query")
@blp.response(200, RecordPageSchema)
@blp.errors(400, 401, 403)
def list_records(args):
    """The unit's records, newest first, filtered by `business_type`,
    申报日期 `from`/`to` (inclusive, business time zone), `name`, the full
    `cert_no` and `batch_no` (all exact). Each line shows `cert_no` masked
    and carries the person's `person_id`."""
    filters = {
        "business_type": args.get("business_type"),
        "from": args["date_from"].isoformat() if args.get("date_from") else None,
        "to": args["date_to"].isoformat() if args.get("date_to") else None,
        "name": args.get("name"), "cert_no": args.get("cert_no"), "batch_no": args.get("batch_no"),
    }
    filters = {k: v for k, v in filters.items() if v}
    page = rpc().declarations.list_records(unit_id(), filters, args["page"], args["size"])
    return {**page, "items": [masking.record(item) for item in page["items"]]}


@blp.route("/<record_id>", methods=["GET"])
@blp.secured("unit")
@blp.response(200, RecordDetailSchema)
@blp.errors(401, 403, 404)
def get_record(record_id):
    """One record of the unit with everything declared, in full; a change
    with its `before` and `after`. Another unit's record is 404."""
    return masking.record_detail(rpc().declarations.get_record(unit_id(), record_id))
