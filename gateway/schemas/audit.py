"""Shapes of the audit trail's endpoints (the auditor's search and export)."""
from marshmallow import fields, validate

from gateway.schemas.base import BaseSchema, PageArgs, PageSchema

OUTCOMES = ("success", "failure", "denied", "not_found", "locked", "rate_limited", "error", "withheld")


class AuditFilterArgs(BaseSchema):
    date_from = fields.Date(data_key="from", metadata={"description": "操作日期起（含），业务时区"})
    date_to = fields.Date(data_key="to", metadata={"description": "操作日期止（含），业务时区"})
    account = fields.String(validate=validate.Length(max=64), metadata={"description": "操作账号，精确匹配"})
    unit_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1), metadata={"description": "单位ID"})
    action = fields.String(validate=validate.Length(max=64), metadata={"description": "操作，如 roster.person"})
    cert_no = fields.String(validate=validate.Length(max=40), metadata={"description": "涉及人员的证件号码"})
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    request_id = fields.String(validate=validate.Length(max=64))


class AuditArgs(AuditFilterArgs, PageArgs):
    pass


class AuditRecordSchema(BaseSchema):
    seq = fields.Integer(required=True, metadata={"description": "position in the hash chain"})
    id = fields.String(required=True)
    at = fields.String(required=True, metadata={"description": "ISO 8601 with offset (business time zone)"})
    account = fields.String(allow_none=True)
    role = fields.String(allow_none=True)
    unit_id = fields.Integer(allow_none=True)
    address = fields.String(allow_none=True, metadata={"description": "client address"})
    request_id = fields.String(allow_none=True)
    action = fields.String(required=True)
    object = fields.Raw(metadata={"description": "the person's key or the filters used"})
    outcome = fields.String(required=True)


class AuditPageSchema(PageSchema):
    items = fields.List(fields.Nested(AuditRecordSchema), required=True)
