import base64

from flask import Response, current_app, g

from common.errors import TooLarge
from gateway.api import Blueprint
from gateway.routes.batches import XLSX_DOC, upload_limit
from gateway.routes.residents import content_disposition
from gateway.schemas.admin import (
    AdminUnitPageSchema,
    AdminUnitSchema,
    DailyArgs,
    DailySchema,
    DashboardArgs,
    DashboardSchema,
    NewDivisionUnitSchema,
    TargetImportSchema,
    TargetResultSchema,
    TargetSchema,
    UnitHistorySchema,
    UnitImportSchema,
    UnitListArgs,
    UnitPatchSchema,
)
from gateway.schemas.auth import (
    AccountSchema,
    AccountsSchema,
    LoginRecordsSchema,
    NewAccountSchema,
    TemporaryPasswordSchema,
)
from gateway.schemas.batches import XLSX, UploadSchema
from gateway.security import ADMIN, SECADMIN
from gateway.services import rpc

blp = Blueprint("admin", __name__, url_prefix="/api/admin", description="Platform administration")


@blp.route("/units", methods=["POST"])
@blp.secured("admin")
@blp.arguments(NewDivisionUnitSchema)
@blp.response(201, AdminUnitSchema)
@blp.errors(400, 401, 403, 409)
def create_unit(args):
    """Register a community unit in its division and 乡镇/街道, and its
    account. Without `password` one is generated and answered once as
    `temporary_password`; the unit must change it at first sign-in."""
    unit = rpc().auth.admin_create_unit(args, g.principal["account"])
    _units_changed()
    return unit, 201


@blp.route("/units", methods=["GET"])
@blp.secured("admin")
@blp.arguments(UnitListArgs, location="query")
@blp.response(200, AdminUnitPageSchema)
@blp.errors(400, 401, 403)
def list_units(args):
    """Registered units in registration order, with division, 乡镇/街道 and
    state; filtered by division, street, disabled and `q` (any part of the
    name, credit code or account)."""
    filters = {k: args.get(k) for k in ("division", "street", "q", "disabled") if args.get(k) is not None}
    return rpc().auth.admin_list_units(filters, args["page"], args["size"])


@blp.route("/units/<int:unit_id>/logins", methods=["GET"])
@blp.secured("admin")
@blp.response(200, LoginRecordsSchema)
@blp.errors(401, 403, 404)
def unit_logins(unit_id):
    """A unit's login attempts, newest first: time, client address, success."""
    return {"items": rpc().auth.unit_logins(unit_id)}


# Accounts and credentials (docs/security.md): the system administrator and
# the security administrator may reset a unit's password and unlock it; only
# the security administrator manages administrative and downstream accounts.
@blp.route("/units/<int:unit_id>/password-reset", methods=["POST"])
@blp.secured(ADMIN, SECADMIN)
@blp.response(200, TemporaryPasswordSchema)
@blp.errors(401, 403, 404)
def reset_unit_password(unit_id):
    """A temporary password for the unit's account (shown once; changed at
    its next sign-in); its sessions end."""
    return rpc().auth.reset_unit_password(unit_id)


@blp.route("/units/<int:unit_id>/unlock", methods=["POST"])
@blp.secured(ADMIN, SECADMIN)
@blp.response(204)
@blp.errors(401, 403, 404)
def unlock_unit(unit_id):
    """End the lockout of the unit's account; earlier failures stop counting."""
    rpc().auth.unlock_unit(unit_id)


@blp.route("/accounts", methods=["GET"])
@blp.secured(SECADMIN)
@blp.response(200, AccountsSchema)
@blp.errors(401, 403)
def list_accounts():
    """Administrative and downstream accounts: role, lockout, second factor, password state."""
    return rpc().auth.list_accounts()


@blp.route("/accounts", methods=["POST"])
@blp.secured(SECADMIN)
@blp.arguments(NewAccountSchema)
@blp.response(201, AccountSchema)
@blp.errors(400, 401, 403, 409)
def create_account(args):
    """An administrative (admin, secadmin, auditor) or downstream account.
    Without `password` one is generated and answered once; either way the
    holder changes it at first sign-in."""
    return rpc().auth.create_managed_account(args["account"], args["role"], args.get("password"))


@blp.route("/accounts/<account>/password-reset", methods=["POST"])
@blp.secured(SECADMIN)
@blp.response(200, TemporaryPasswordSchema)
@blp.errors(401, 403, 404)
def reset_account_password(account):
    """A temporary password for an administrative or downstream account (shown once)."""
    return rpc().auth.reset_account_password(account, g.principal["account"])


@blp.route("/accounts/<account>/mfa-reset", methods=["POST"])
@blp.secured(SECADMIN)
@blp.response(204)
@blp.errors(401, 403, 404)
def reset_second_factor(account):
    """Remove the account's second factor and recovery codes: it enrols anew at its next sign-in."""
    rpc().auth.reset_second_factor(account, g.principal["account"])


@blp.route("/accounts/<account>/unlock", methods=["POST"])
@blp.secured(SECADMIN)
@blp.response(204)
@blp.errors(401, 403, 404)
def unlock_account(account):
    """End the lockout of an administrative or downstream account."""
    rpc().auth.unlock_account(account, g.principal["account"])


# -- the operator's workbench (docs/workbench.md) -----------------------------------

def _operator():
    return g.principal["account"]


def _xlsx(result, fallback):
    response = Response(base64.b64decode(result["content"]), mimetype=XLSX)
    response.headers["Content-Disposition"] = content_disposition(result["file_name"], fallback)
    response.headers["Cache-Control"] = "no-store"
    return response


def _upload(files):
    content = files["file"].read(current_app.config["MAX_UPLOAD_BYTES"] + 1)
    if len(content) > current_app.config["MAX_UPLOAD_BYTES"]:
        raise TooLarge("文件过大，请拆分后分别导入", {"file": ["文件过大"]})
    return base64.b64encode(content).decode("ascii")


def _units_changed():
    """Let declarations copy the change now (it also would on auth's event
    and before its next dashboard answer)."""
    try:
        rpc().declarations.sync_units()
    except Exception:  # noqa: BLE001 - never fails the operator's change
        pass


@blp.route("/units/<int:unit_id>", methods=["GET"])
@blp.secured("admin")
@blp.response(200, AdminUnitSchema)
@blp.errors(401, 403, 404)
def get_unit(unit_id):
    """One unit with its division, 乡镇/街道, contact and state."""
    return rpc().auth.admin_get_unit(unit_id)


@blp.route("/units/<int:unit_id>", methods=["PATCH"])
@blp.secured("admin")
@blp.arguments(UnitPatchSchema)
@blp.response(200, AdminUnitSchema)
@blp.errors(400, 401, 403, 404)
def update_unit(args, unit_id):
    """Rename a unit, move it to another division or 乡镇/街道, change its
    contact, disable or enable it. Disabling ends its live tokens at once
    (in every gateway process) and refuses its sign-in with 403
    `account_disabled`; its data stay. Every change is in its history."""
    unit = rpc().auth.admin_update_unit(unit_id, args, _operator())
    if args.get("disabled") and unit.get("account"):
        cache = current_app.extensions.get("principals")
        if cache is not None:
            cache.revoke({"account": unit["account"], "except": None})
    if {"division", "street", "name", "disabled"} & set(args):
        _units_changed()
    return unit


@blp.route("/units/<int:unit_id>/history", methods=["GET"])
@blp.secured("admin")
@blp.response(200, UnitHistorySchema)
@blp.errors(401, 403, 404)
def unit_history(unit_id):
    """Who changed what of the unit and when, newest first (creation included)."""
    return rpc().auth.unit_history(unit_id)


@blp.route("/units/template", methods=["GET"])
@blp.secured("admin")
@blp.response(200, description="the .xlsx template for units in bulk (attachment)", content_type=XLSX)
@blp.doc(responses={"200": {"description": "the .xlsx template", **XLSX_DOC}})
@blp.errors(401, 403)
def units_template():
    """单位名称, 统一社会信用代码, 所属区县, 乡镇/街道, 平台账号, 联系人, 联系电话."""
    return _xlsx(rpc().auth.units_template(), "units-template.xlsx")


@blp.route("/units/import", methods=["POST"])
@blp.secured("admin")
@upload_limit
@blp.arguments(UploadSchema, location="files")
@blp.response(201, UnitImportSchema)
@blp.errors(400, 401, 403)
@blp.alt_response(413, description="file larger than MAX_UPLOAD_BYTES")
@blp.alt_response(415, description="not an .xlsx")
def import_units(files):
    """Units from the template: each row accepted or refused on its own
    (row, account, reason; the refused rows as a file to correct and import
    again). Accepted units get a generated password, downloadable once from
    `credentials_url`; each must change it at first sign-in."""
    result = rpc().auth.import_units(_upload(files), _operator())
    if result["succeeded"]:
        _units_changed()
    base = f"/api/admin/units/imports/{result['import_id']}"
    return {**result, "credentials_url": f"{base}/credentials" if result["has_credentials"] else None,
            "failures_url": f"{base}/failures" if result["failed"] else None}, 201


@blp.route("/units/imports/<import_id>/credentials", methods=["GET"])
@blp.secured("admin")
@blp.response(200, description="the initial passwords (.xlsx), once", content_type=XLSX)
@blp.doc(responses={"200": {"description": "the initial passwords", **XLSX_DOC}})
@blp.errors(401, 403, 404)
def import_credentials(import_id):
    """The generated passwords of an import: the first download takes them
    (then 404); gone after 24 hours."""
    return _xlsx(rpc().auth.unit_import_credentials(import_id), "credentials.xlsx")


@blp.route("/units/imports/<import_id>/failures", methods=["GET"])
@blp.secured("admin")
@blp.response(200, description="the refused rows with 失败原因 (.xlsx)", content_type=XLSX)
@blp.doc(responses={"200": {"description": "the refused rows with 失败原因", **XLSX_DOC}})
@blp.errors(401, 403, 404)
def import_failures(import_id):
    """The refused rows of an import in the template plus 失败原因."""
    return _xlsx(rpc().auth.unit_import_failures(import_id), "failures.xlsx")


@blp.route("/targets/<int:year>/<int:unit_id>", methods=["PUT"])
@blp.secured("admin")
@blp.arguments(TargetSchema)
@blp.response(200, TargetResultSchema)
@blp.errors(400, 401, 403, 404)
def set_target(args, year, unit_id):
    """A unit's enrolment target (参保任务数) for the year."""
    return rpc().declarations.set_target(year, unit_id, args["target"], _operator())


@blp.route("/targets/<int:year>/template", methods=["GET"])
@blp.secured("admin")
@blp.response(200, description="the targets template (.xlsx) with every unit", content_type=XLSX)
@blp.doc(responses={"200": {"description": "the targets template", **XLSX_DOC}})
@blp.errors(400, 401, 403, 404)
def targets_template(year):
    """单位名称, 统一社会信用代码, 平台账号, 参保任务数: every enabled unit, with
    the year's targets set so far."""
    return _xlsx(rpc().declarations.targets_template(year), "targets.xlsx")


@blp.route("/targets/<int:year>/import", methods=["POST"])
@blp.secured("admin")
@upload_limit
@blp.arguments(UploadSchema, location="files")
@blp.response(200, TargetImportSchema)
@blp.errors(400, 401, 403, 404)
@blp.alt_response(413, description="file larger than MAX_UPLOAD_BYTES")
@blp.alt_response(415, description="not an .xlsx")
def import_targets(files, year):
    """Targets from Excel, each row matched by 统一社会信用代码 or 平台账号;
    refused rows come back with their reasons and as a file."""
    return rpc().declarations.import_targets(year, _upload(files), _operator())


def _dashboard_params(args):
    params = {k: v for k, v in args.items() if v is not None}
    if "as_of" in params:
        params["as_of"] = params["as_of"].isoformat()
    return params


@blp.route("/dashboard", methods=["GET"])
@blp.secured("admin")
@blp.arguments(DashboardArgs, location="query")
@blp.response(200, DashboardSchema)
@blp.errors(400, 401, 403)
def dashboard(args):
    """The enrolment campaign as of a day: insured, target, completion,
    this month's increase and decrease, this year's new enrolments,
    transfers and suspensions, batches, failure reasons and last declaration,
    by division (level=city), 乡镇/街道 (level=division), unit (level=street,
    or level=unit for every unit); units without a declaration for
    `idle_days`. Projected from the event log."""
    return rpc().declarations.campaign_dashboard(_dashboard_params(args))


@blp.route("/dashboard/export", methods=["GET"])
@blp.secured("admin")
@blp.arguments(DashboardArgs, location="query")
@blp.response(200, description="the dashboard's table and idle units (.xlsx)", content_type=XLSX)
@blp.doc(responses={"200": {"description": "the dashboard's table", **XLSX_DOC}})
@blp.errors(400, 401, 403)
def dashboard_export(args):
    """The same table as GET /api/admin/dashboard (every row), with a sheet of the idle units."""
    return _xlsx(rpc().declarations.campaign_export(_dashboard_params(args)), "dashboard.xlsx")


@blp.route("/dashboard/daily", methods=["GET"])
@blp.secured("admin")
@blp.arguments(DailyArgs, location="query")
@blp.response(200, DailySchema)
@blp.errors(400, 401, 403)
def dashboard_daily(args):
    """Enrolments of each day of the campaign (1 September – 31 December)
    beside the same days of the year before."""
    return rpc().declarations.campaign_daily(args.get("year"), args.get("division"))
