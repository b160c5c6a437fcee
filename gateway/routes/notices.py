"""Notices: admins publish, edit and withdraw; units (and admins) read.

Withdrawing is `POST /api/admin/notices/{id}/withdraw`, not DELETE: the notice
is kept (admins still list it, with its read count), only hidden from units."""
from flask import g, request

from gateway.api import Blueprint
from gateway.hardening import max_body
from gateway.schemas.notices import (
    AdminNoticeListArgs,
    AdminNoticePageSchema,
    AdminNoticeSchema,
    NewNoticeSchema,
    NoticeChangesSchema,
    NoticeListArgs,
    NoticePageSchema,
    NoticeSchema,
    UnreadCountSchema,
)
from gateway.security import unit_id
from gateway.services import rpc

# A notice's body is up to 20,000 characters; JSON may escape each as \uXXXX
# (12 bytes for a character outside the BMP), so its bodies get more room.
NOTICE_BODY_BYTES = 256 * 1024

blp = Blueprint("notices", __name__, url_prefix="/api", description="Platform notices")


def reader():
    """The unit whose read marks apply: the caller's unit, None for an admin."""
    return unit_id() if g.principal["role"] == "unit" else None


@blp.route("/notices", methods=["GET"])
@blp.secured("unit", "admin")
@blp.arguments(NoticeListArgs, location="query")
@blp.response(200, NoticePageSchema)
@blp.errors(400, 401, 403)
def list_notices(args):
    """Published notices, pinned first, then newest, each with the calling
    unit's `read` flag; `unread` counts the unit's unread notices.
    `?unread=true` lists only those."""
    return rpc().notices.notices_for_unit(reader(), args["page"], args["size"], args["unread"])


@blp.route("/notices/unread_count", methods=["GET"])
@blp.secured("unit", "admin")
@blp.response(200, UnreadCountSchema)
@blp.errors(401, 403)
def unread_count():
    """How many published notices the calling unit has not read yet."""
    return rpc().notices.unread_count(reader())


@blp.route("/notices/<int:notice_id>", methods=["GET"])
@blp.secured("unit", "admin")
@blp.response(200, NoticeSchema)
@blp.errors(401, 403, 404)
def read_notice(notice_id):
    """One published notice; it becomes read for the calling unit (an admin
    reading it marks nothing). Withdrawn notices are 404."""
    return rpc().notices.read_notice(notice_id, reader())


@blp.route("/admin/notices", methods=["POST"])
@blp.secured("admin")
@blp.arguments(NewNoticeSchema)
@blp.response(201, AdminNoticeSchema)
@blp.errors(400, 401, 403)
@max_body(NOTICE_BODY_BYTES)
def publish_notice(args):
    """Publish a notice to every unit now. With an `Idempotency-Key` header,
    repeating the request returns the first notice and publishes nothing more."""
    key = (request.headers.get("Idempotency-Key") or "").strip()[:100] or None
    return rpc().notices.publish(args["title"], args["body"], args["pinned"],
                                 g.principal["account"], key)


@blp.route("/admin/notices", methods=["GET"])
@blp.secured("admin")
@blp.arguments(AdminNoticeListArgs, location="query")
@blp.response(200, AdminNoticePageSchema)
@blp.errors(400, 401, 403)
def list_all_notices(args):
    """Every notice, withdrawn ones included (`?state=` filters), pinned first,
    then newest, with state and read count; bodies are left out."""
    return rpc().notices.all_notices(args["page"], args["size"], args.get("state"))


@blp.route("/admin/notices/<int:notice_id>", methods=["GET"])
@blp.secured("admin")
@blp.response(200, AdminNoticeSchema)
@blp.errors(401, 403, 404)
def get_notice(notice_id):
    """One notice with its body, whatever its state."""
    return rpc().notices.notice_for_admin(notice_id)


@blp.route("/admin/notices/<int:notice_id>", methods=["PUT"])
@blp.secured("admin")
@blp.arguments(NoticeChangesSchema)
@blp.response(200, AdminNoticeSchema)
@blp.errors(400, 401, 403, 404)
@max_body(NOTICE_BODY_BYTES)
def edit_notice(args, notice_id):
    """Change the title, body and/or pin (fields left out stay as they are).
    The publish time and the units' read marks are kept."""
    return rpc().notices.edit(notice_id, args)


@blp.route("/admin/notices/<int:notice_id>/withdraw", methods=["POST"])
@blp.secured("admin")
@blp.response(200, AdminNoticeSchema)
@blp.errors(401, 403, 404)
def withdraw_notice(notice_id):
    """Withdraw a notice: units no longer see it (list, count, or by id);
    admins still do. Withdrawing twice changes nothing more."""
    return rpc().notices.withdraw(notice_id)
