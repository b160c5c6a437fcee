from flask import g

from gateway.api import Blueprint
from gateway.schemas.unit import StatsArgs, StatsSchema, UnitInfoSchema
from gateway.security import unit_id
from gateway.services import rpc

blp = Blueprint("unit", __name__, url_prefix="/api/unit", description="The calling unit")


@blp.route("", methods=["GET"])
@blp.secured("unit")
@blp.response(200, UnitInfoSchema)
@blp.errors(401, 403)
def unit_info():
    """Name, account, credit code, insured count and this month's figures."""
    unit = g.principal["unit"]
    summary = rpc().declarations.unit_summary(unit_id())
    return {
        "name": unit["name"], "account": g.principal["account"],
        "credit_code": unit["credit_code"], **summary,
    }


@blp.route("/stats", methods=["GET"])
@blp.secured("unit")
@blp.arguments(StatsArgs, location="query")
@blp.response(200, StatsSchema)
@blp.errors(400, 401, 403)
def unit_stats(args):
    """The last N months, oldest first, with increase, decrease and insured_end."""
    return {"months": rpc().declarations.unit_stats(unit_id(), args["months"])}
