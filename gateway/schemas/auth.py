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


class SessionSchema(BaseSchema):
    """A signed-in session (after the second factor, when one is due)."""
    token = fields.String(required=True)
    expires_at = fields.String(required=True, metadata={"description": "absolute end of the session"})
    role = fields.String(required=True)
    account = fields.String(required=True)
    unit = fields.Nested(UnitSchema, allow_none=True)
    must_change_password = fields.Boolean(
        metadata={"description": "true: this token serves only PUT /api/auth/password and logout"})


class LoginResultSchema(SessionSchema):
    """A session, or, when a second factor is due, only `mfa_token` with
    `mfa_required` or `mfa_enrolment_required`."""
    token = fields.String()
    expires_at = fields.String()
    role = fields.String()
    account = fields.String()
    mfa_required = fields.Boolean()
    mfa_enrolment_required = fields.Boolean()
    mfa_token = fields.String(metadata={"description": "for POST /api/auth/mfa and /api/auth/mfa/enrol"})


class MfaEnrolSchema(BaseSchema):
    mfa_token = fields.String(required=True, validate=validate.Length(min=1, max=100))


class MfaEnrolmentSchema(BaseSchema):
    secret = fields.String(required=True, metadata={"description": "base32 TOTP secret"})
    otpauth_uri = fields.String(required=True)
    qr_svg = fields.String(metadata={"description": "the otpauth URI as a QR code: an SVG data URI"})
    recovery_codes = fields.List(fields.String(), required=True, metadata={"description": "one-time codes"})


class MfaVerifySchema(BaseSchema):
    mfa_token = fields.String(required=True, validate=validate.Length(min=1, max=100))
    code = fields.String(required=True, validate=validate.Length(min=1, max=32),
                         metadata={"description": "a 6-digit TOTP code or a recovery code"})


SECADMIN_ROLES = ("admin", "secadmin", "auditor", "downstream")


class NewAccountSchema(BaseSchema):
    account = fields.String(required=True, validate=validate.Length(min=1, max=50))
    role = fields.String(required=True, validate=validate.OneOf(SECADMIN_ROLES))
    password = fields.String(validate=validate.Length(min=1, max=128),
                             metadata={"description": "generated and answered once when absent"})


class AccountSchema(BaseSchema):
    account = fields.String(required=True)
    role = fields.String(required=True)
    created_at = fields.String()
    locked = fields.Boolean()
    mfa_enrolled = fields.Boolean()
    recovery_codes_left = fields.Integer()
    must_change_password = fields.Boolean()
    password_changed_at = fields.String(allow_none=True)
    temporary_password = fields.String(metadata={"description": "shown once"})


class AccountsSchema(BaseSchema):
    items = fields.List(fields.Nested(AccountSchema), required=True)


class TemporaryPasswordSchema(BaseSchema):
    account = fields.String()
    temporary_password = fields.String(required=True, metadata={"description": "shown once"})


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
