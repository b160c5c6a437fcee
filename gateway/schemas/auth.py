from marshmallow import fields, validate

from gateway.schemas.base import BaseSchema


class LoginSchema(BaseSchema):
    account = fields.String(required=True, validate=validate.Length(min=1, max=50))
    password = fields.String(required=True, validate=validate.Length(min=1, max=128))


class UnitSchema(BaseSchema):
    id = fields.Integer()
    name = fields.String(required=True)
    credit_code = fields.String(required=True)
    account = fields.String(allow_none=True)
    created_at = fields.String()


class LoginResultSchema(BaseSchema):
    token = fields.String(required=True)
    expires_at = fields.String(required=True)
    role = fields.String(required=True)
    account = fields.String(required=True)
    unit = fields.Nested(UnitSchema, allow_none=True)


class PasswordChangeSchema(BaseSchema):
    old_password = fields.String(required=True, validate=validate.Length(min=1, max=128))
    new_password = fields.String(required=True, validate=validate.Length(min=1, max=128))


class NewUnitSchema(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    account = fields.String(required=True, validate=validate.Length(min=1, max=50))
    credit_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    password = fields.String(required=True, validate=validate.Length(min=1, max=128))


class LoginRecordSchema(BaseSchema):
    at = fields.String(required=True)
    address = fields.String(allow_none=True)
    success = fields.Boolean(required=True)


class LoginRecordsSchema(BaseSchema):
    items = fields.List(fields.Nested(LoginRecordSchema), required=True)
