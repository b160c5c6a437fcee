"""The audit trail for the audit administrator (审计管理员): search and
export. Both are audited themselves (gateway/audit.py)."""
import base64
import os
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Response

from gateway import masking
from gateway.api import Blueprint
from gateway.routes.residents import content_disposition
from gateway.schemas.audit import AuditArgs, AuditFilterArgs, AuditPageSchema
from gateway.security import AUDITOR
from gateway.services import rpc

blp = Blueprint("audit", __name__, url_prefix="/api/audit", description="The audit trail (auditor only)")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILTERS = ("account", "unit_id", "action", "cert_no", "outcome", "request_id")


def _filters(args):
    out = {key: args[key] for key in FILTERS if args.get(key) not in (None, "")}
    if args.get("date_from"):
        out["from"] = args["date_from"].isoformat()
    if args.get("date_to"):
        out["to"] = args["date_to"].isoformat()
    return out


@blp.route("", methods=["GET"])
@blp.secured(AUDITOR)
@blp.arguments(AuditArgs, location="query")
@blp.response(200, AuditPageSchema)
@blp.errors(400, 401, 403)
def search(args):
    """Audit records, newest first, by 操作日期 `from`/`to` (inclusive,
    business time zone), `account`, `unit_id`, `action`, the person's
    `cert_no` (in full), `outcome` and `request_id`. The 证件号码 a record
    names is shown masked; the export has it whole."""
    return masking.audit_page(rpc().audit.search(_filters(args), args["page"], args["size"]))


@blp.route("/export", methods=["GET"])
@blp.secured(AUDITOR)
@blp.arguments(AuditFilterArgs, location="query")
@blp.response(200, description="the matching records as .xlsx (attachment)", content_type=XLSX)
@blp.doc(responses={"200": {
    "description": "the matching records as .xlsx (attachment), newest first, at most 100,000",
    "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
}})
@blp.errors(400, 401, 403)
def export(args):
    """The records the same filters find, as an Excel file."""
    result = rpc().audit.export(_filters(args))
    today = datetime.now(ZoneInfo(os.environ.get("BUSINESS_TZ", "Asia/Shanghai"))).date()
    response = Response(base64.b64decode(result["content"]), mimetype=XLSX)
    response.headers["Content-Disposition"] = content_disposition(
        f"审计记录_{today:%Y%m%d}.xlsx", f"audit-{today:%Y%m%d}.xlsx")
    response.headers["X-Row-Count"] = str(result["rows"])
    response.headers["X-Truncated"] = "1" if result.get("truncated") else "0"
    response.headers["Cache-Control"] = "no-store"
    return response
