"""Shapes of the residents API: the roster, one person, the lookup of the
enrolment form. Certificate numbers and names are normalised by the residents
service (common/identity.py, common/person.py), not here.

Lists are de-identified (docs/protection.md): `cert_no` and `phone` masked,
the person's opaque `person_id` to open the person with full values."""
from marshmallow import fields, validate

from common.protect import PERSON_ID
from gateway.schemas.base import BaseSchema, PageArgs, page_of

PERSON_ID_PATTERN = "^" + PERSON_ID.pattern + "$"
MASKED_CERT_NO = ("证件号码, masked: first 6 and last 4 characters of an 18-character number "
                  "(350502********123X), first 6 and last 3 of a 15-digit one, at least half "
                  "hidden of any other (E*****678)")
MASKED_PHONE = "联系电话, masked: first 3 and last 4 (138****5678), at least a third hidden"


def person_id_field(**kwargs):
    return fields.String(validate=validate.Regexp(PERSON_ID_PATTERN), metadata={
        "description": "the person's opaque id: GET /api/residents/p/{person_id} opens the person "
                       "(for the unit that holds the person)"}, **kwargs)

STATUSES = ("active", "suspended")


class RosterFilterArgs(BaseSchema):
    cert_no = fields.String(validate=validate.Length(max=40), metadata={
        "description": "exact 证件号码; spaces, full-width digits, a lower-case x and "
                       "15-digit ID numbers are accepted"})
    name = fields.String(validate=validate.Length(max=50), metadata={"description": "exact 姓名"})
    status = fields.String(validate=validate.OneOf(STATUSES))
    cert_type = fields.String(validate=validate.Length(max=40), metadata={
        "description": "证件类型 code, to narrow a cert_no search"})


class RosterArgs(PageArgs, RosterFilterArgs):
    pass


class LookupArgs(BaseSchema):
    cert_type = fields.String(required=True, validate=validate.Length(min=1, max=40))
    cert_no = fields.String(required=True, validate=validate.Length(min=1, max=40))
    name = fields.String(validate=validate.Length(max=50), metadata={
        "description": "the name on the form: the person's data is returned only when it matches"})


class ResidentSchema(BaseSchema):
    """A roster line. No birth date: next to the masked number it would give
    back the digits the mask hides."""
    person_id = person_id_field(required=True)
    cert_type = fields.String(required=True)
    cert_no = fields.String(required=True, metadata={"description": MASKED_CERT_NO})
    name = fields.String(required=True)
    gender = fields.String(allow_none=True)
    nation = fields.String(allow_none=True)
    phone = fields.String(allow_none=True, metadata={"description": MASKED_PHONE})
    category = fields.String(allow_none=True)
    status = fields.String(required=True, metadata={"description": "active or suspended"})
    since = fields.String(required=True, metadata={"description": "when the status began"})
    cert_type_label = fields.String(allow_none=True)
    gender_label = fields.String(allow_none=True)
    nation_label = fields.String(allow_none=True)
    category_label = fields.String(allow_none=True)
    status_label = fields.String(allow_none=True)


RosterPageSchema = page_of(ResidentSchema, "RosterPageSchema")


class HistoryItemSchema(BaseSchema):
    position = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={
        "description": "new_enrolment, transfer_in, resume, suspension, change or "
                       "transfer_out (the person enrolled in another unit)"})
    event_type = fields.String(required=True)
    occurred_at = fields.String(required=True)
    record_id = fields.String(allow_none=True)
    batch_no = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    remark = fields.String(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)


class PersonSchema(BaseSchema):
    """One person of the unit, with full values."""
    person_id = person_id_field(required=True)
    cert_type = fields.String(required=True)
    cert_no = fields.String(required=True)
    name = fields.String(required=True)
    gender = fields.String(allow_none=True)
    birth_date = fields.String(allow_none=True)
    nation = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    hukou_address = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    remark = fields.String(allow_none=True)
    status = fields.String(required=True)
    since = fields.String(required=True)
    suspension_reason = fields.String(allow_none=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))
    history = fields.List(fields.Nested(HistoryItemSchema), required=True, metadata={
        "description": "what happened to the person in this unit, newest first"})


class LookupPersonSchema(BaseSchema):
    person_id = person_id_field(required=True)
    cert_type = fields.String(required=True)
    cert_no = fields.String(required=True, metadata={
        "description": "证件号码: in full for a person of this unit, masked for one of another unit"})
    name = fields.String(required=True)
    gender = fields.String(allow_none=True)
    birth_date = fields.String(allow_none=True)
    nation = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    hukou_address = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    remark = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    since = fields.String(allow_none=True)
    suspension_reason = fields.String(allow_none=True)


class DerivedSchema(BaseSchema):
    gender = fields.String(allow_none=True)
    birth_date = fields.String(allow_none=True)


class LookupSchema(BaseSchema):
    status = fields.String(required=True, metadata={
        "description": "none, active_here, suspended_here, active_elsewhere or suspended_elsewhere"})
    action = fields.String(allow_none=True, metadata={
        "description": "new_enrolment, transfer_in, resume, or null when enrolment is refused"})
    person = fields.Nested(LookupPersonSchema, allow_none=True, metadata={
        "description": "only when the name matches; of a person of another unit only "
                       "who the person is, the number masked (no phone, addresses or unit)"})
    message = fields.String(required=True)
    name_matches = fields.Boolean(allow_none=True)
    derived = fields.Nested(DerivedSchema, allow_none=True, metadata={
        "description": "for a new person: gender and birth date the ID number carries"})
