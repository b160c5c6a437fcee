"""The code tables, served from common.codes (the one source of truth) so
the portal's dropdowns and the validation never disagree."""
from marshmallow import fields

from common import codes, divisions
from gateway.api import Blueprint
from gateway.schemas.base import BaseSchema

blp = Blueprint("codes", __name__, url_prefix="/api/codes", description="Code tables")


class CodeItemSchema(BaseSchema):
    code = fields.String(required=True)
    label = fields.String(required=True)


class CodeTablesSchema(BaseSchema):
    cert_types = fields.List(fields.Nested(CodeItemSchema), required=True)
    genders = fields.List(fields.Nested(CodeItemSchema), required=True)
    nations = fields.List(fields.Nested(CodeItemSchema), required=True)
    categories = fields.List(fields.Nested(CodeItemSchema), required=True)
    suspension_reasons = fields.List(fields.Nested(CodeItemSchema), required=True)
    statuses = fields.List(fields.Nested(CodeItemSchema), required=True)
    business_types = fields.List(fields.Nested(CodeItemSchema), required=True)
    actions = fields.List(fields.Nested(CodeItemSchema), required=True)
    divisions = fields.List(fields.Nested(CodeItemSchema), required=True, metadata={
        "description": "Quanzhou's county-level divisions (GB/T 2260) of units; 000000 未分区 last"})


def _items(table, only=None):
    return [{"code": c, "label": text} for c, text in table.items() if only is None or c in only]


@blp.route("", methods=["GET"])
@blp.doc(security=[])
@blp.response(200, CodeTablesSchema)
def code_tables():
    """Every code table of the declarations (public reference data)."""
    return {
        "cert_types": _items(codes.CERT_TYPES),
        "genders": _items(codes.GENDERS, codes.DECLARABLE_GENDERS),
        "nations": _items(codes.NATIONS),
        "categories": _items(codes.CATEGORIES),
        "suspension_reasons": _items(codes.SUSPENSION_REASONS),
        "statuses": _items(codes.STATUS),
        "business_types": _items(codes.BUSINESS_TYPES),
        "actions": _items(codes.ACTIONS),
        "divisions": _items(divisions.ALL_DIVISIONS),
    }
