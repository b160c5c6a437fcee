from gateway.api import Blueprint
from gateway.schemas.auth import LoginRecordsSchema, NewUnitSchema, UnitSchema
from gateway.schemas.base import PageArgs, page_of
from gateway.services import rpc

blp = Blueprint("admin", __name__, url_prefix="/api/admin", description="Platform administration")


@blp.route("/units", methods=["POST"])
@blp.secured("admin")
@blp.arguments(NewUnitSchema)
@blp.response(201, UnitSchema)
@blp.errors(400, 401, 403, 409)
def create_unit(args):
    """Register a community unit and its account."""
    return rpc().auth.create_unit(args["name"], args["account"], args["credit_code"], args["password"])


@blp.route("/units", methods=["GET"])
@blp.secured("admin")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(UnitSchema))
@blp.errors(401, 403)
def list_units(args):
    """Every registered unit, in registration order."""
    return rpc().auth.list_units(args["page"], args["size"])


@blp.route("/units/<int:unit_id>/logins", methods=["GET"])
@blp.secured("admin")
@blp.response(200, LoginRecordsSchema)
@blp.errors(401, 403, 404)
def unit_logins(unit_id):
    """A unit's login attempts, newest first: time, client address, success."""
    return {"items": rpc().auth.unit_logins(unit_id)}
