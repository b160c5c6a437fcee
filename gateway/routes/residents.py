"""The unit's roster (人员列表): list and search, one person with history
(by the opaque `person_id` a list gives, or by certificate), the lookup the
enrolment form asks first, and the roster as Excel. The unit is always the
caller's (from the token), never a parameter.

The list is de-identified (docs/protection.md): `cert_no` and `phone`
masked, with each person's `person_id`; full values only in one person's
details and in the Excel file, both audited (gateway/audit.py)."""
import base64
import os
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask import Response, current_app, g

from common.protect import mask_cert_no, mask_phone
from gateway.api import Blueprint
from gateway.schemas.residents import (
    PERSON_ID_PATTERN,
    LookupArgs,
    LookupSchema,
    PersonSchema,
    ResidentSchema,
    RosterArgs,
    RosterFilterArgs,
    RosterPageSchema,
)
from gateway.security import unit_id
from gateway.services import rpc

blp = Blueprint("residents", __name__, url_prefix="/api/residents", description="The unit's roster")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILTERS = ("cert_no", "name", "status", "cert_type")


def _filters(args):
    return {key: args[key] for key in FILTERS if args.get(key)}


# The roster page is the hottest read: marshmallow's dump of 20 items took
# ~0.9 ms of the gateway's ~3.5 ms per request (py-spy). Its items are all
# strings or null as the residents service sends them, so the page is
# written directly, keeping only the fields ResidentSchema declares (what
# the dump would keep). tests/unit/test_gateway_roster_page.py holds it
# equal to RosterPageSchema().dump().
ITEM_FIELDS = tuple(ResidentSchema().dump_fields)
# The service masks these already; masked again here (a masked value masks to
# itself, ~1 µs each) so that no list leaves the gateway unmasked, whatever
# version of the service answered.
MASKED = {"cert_no": mask_cert_no, "phone": mask_phone}


def _str(value):
    return value if value is None or isinstance(value, str) else str(value)


def _line(item):
    out = {k: _str(item[k]) for k in ITEM_FIELDS if k in item}
    for key, mask in MASKED.items():
        if out.get(key):
            out[key] = mask(out[key])
    return out


def roster_page(result):
    return {
        "items": [_line(item) for item in result["items"]],
        "total": int(result["total"]), "page": int(result["page"]), "size": int(result["size"]),
    }


@blp.route("", methods=["GET"])
@blp.secured("unit")
@blp.arguments(RosterArgs, location="query")
@blp.response(200, RosterPageSchema)
@blp.errors(400, 401, 403)
def list_residents(args):
    """The unit's roster, newest first: exact search by the full 证件号码
    (`cert_no`) and 姓名 (`name`), filter by `status` (active, suspended),
    paged. Each line shows `cert_no` and `phone` masked and carries the
    person's `person_id` (open it with `GET /api/residents/p/{person_id}`)."""
    result = rpc().residents.roster(unit_id(), _filters(args), args["page"], args["size"])
    return current_app.json.response(roster_page(result))


@blp.route("/lookup", methods=["GET"])
@blp.secured("unit")
@blp.arguments(LookupArgs, location="query")
@blp.response(200, LookupSchema)
@blp.errors(400, 401, 403)
def lookup(args):
    """What enrolling this person would be: new enrolment, transfer-in,
    resume, or refused (action null, with the reason). The person's data
    only when `name` matches; of a person of another unit only who the
    person is, `cert_no` masked; never another unit's contact data."""
    return rpc().residents.lookup(unit_id(), args["cert_type"], args["cert_no"], args.get("name"))


def export_file_name(unit_name, today):
    return f"{unit_name}_参保人员名单_{today:%Y%m%d}.xlsx"


def content_disposition(file_name, fallback):
    """attachment with an ASCII `filename` and the real name as RFC 5987
    `filename*` (UTF-8, percent-encoded), which browsers prefer."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


@blp.route("/export", methods=["GET"])
@blp.secured("unit")
@blp.arguments(RosterFilterArgs, location="query")
@blp.response(200, description="the roster as .xlsx (attachment)", content_type=XLSX)
@blp.doc(responses={"200": {
    "description": "the roster as .xlsx (attachment)",
    "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
}})
@blp.errors(400, 401, 403)
def export(args):
    """The filtered roster as an Excel file (same filters as the list)."""
    result = rpc().residents.export_roster(unit_id(), _filters(args))
    today = datetime.now(ZoneInfo(os.environ.get("BUSINESS_TZ", "Asia/Shanghai"))).date()
    name = export_file_name(g.principal["unit"]["name"], today)
    response = Response(base64.b64decode(result["content"]), mimetype=XLSX)
    response.headers["Content-Disposition"] = content_disposition(name, f"residents-{today:%Y%m%d}.xlsx")
    response.headers["X-Row-Count"] = str(result["rows"])
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/p/<person_id>", methods=["GET"])
@blp.secured("unit")
@blp.response(200, PersonSchema)
@blp.errors(401, 403, 404)
@blp.doc(parameters=[{"in": "path", "name": "person_id", "required": True,
                      "schema": {"type": "string", "pattern": PERSON_ID_PATTERN},
                      "description": "the `person_id` of a list answer"}])
def person_by_id(person_id):
    """One person of the unit opened by the `person_id` a list gave, with
    full values and the history in this unit (as
    `GET /api/residents/{cert_type}/{cert_no}`). A person of another unit,
    or an id that names nobody, is 404: the id alone opens nothing."""
    return rpc().residents.person_by_id(unit_id(), person_id)


@blp.route("/<cert_type>/<cert_no>", methods=["GET"])
@blp.secured("unit")
@blp.response(200, PersonSchema)
@blp.errors(401, 403, 404)
def person(cert_type, cert_no):
    """One person of the unit: personal data with full values and history in this unit."""
    return rpc().residents.person(unit_id(), cert_type, cert_no)
