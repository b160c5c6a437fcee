from marshmallow import fields, validate

from gateway.schemas.base import BaseSchema


class UnitInfoSchema(BaseSchema):
    name = fields.String(required=True)
    account = fields.String(required=True)
    credit_code = fields.String(required=True)
    insured_count = fields.Integer(required=True)
    month = fields.String(required=True, metadata={"description": "YYYY-MM, business time zone"})
    month_increase = fields.Integer(required=True)
    month_decrease = fields.Integer(required=True)


class StatsArgs(BaseSchema):
    months = fields.Integer(load_default=12, validate=validate.Range(min=1, max=120))


class MonthStatSchema(BaseSchema):
    month = fields.String(required=True)
    increase = fields.Integer(required=True)
    decrease = fields.Integer(required=True)
    insured_end = fields.Integer(required=True)


class StatsSchema(BaseSchema):
    months = fields.List(fields.Nested(MonthStatSchema), required=True)
