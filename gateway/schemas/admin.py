"""Schemas of the operator's workbench (gateway/routes/admin.py): units with
their division and 乡镇/街道, their history, units and targets from Excel,
and the campaign dashboard."""
from marshmallow import fields, validate

from common.divisions import ALL_DIVISIONS, DIVISIONS, STREET_MAX
from gateway.schemas.base import BaseSchema, PageArgs, PageSchema

DIVISION_DOC = "county-level division code (GB/T 2260): " + ", ".join(f"{c} {n}" for c, n in DIVISIONS.items())


class NewDivisionUnitSchema(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    account = fields.String(required=True, validate=validate.Length(min=1, max=50))
    credit_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    password = fields.String(validate=validate.Length(min=1, max=128),
                             metadata={"description": "generated and answered once as temporary_password when absent"})
    division = fields.String(required=True, validate=validate.OneOf(list(DIVISIONS)),
                             metadata={"description": DIVISION_DOC})
    street = fields.String(required=True, validate=validate.Length(min=1, max=STREET_MAX),
                           metadata={"description": "乡镇/街道, as entered"})
    contact = fields.String(allow_none=True, validate=validate.Length(max=50))
    phone = fields.String(allow_none=True, validate=validate.Length(max=30))


class UnitPatchSchema(BaseSchema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    division = fields.String(validate=validate.OneOf(list(DIVISIONS)), metadata={"description": DIVISION_DOC})
    street = fields.String(validate=validate.Length(min=1, max=STREET_MAX))
    contact = fields.String(allow_none=True, validate=validate.Length(max=50))
    phone = fields.String(allow_none=True, validate=validate.Length(max=30))
    disabled = fields.Boolean(metadata={"description": "true ends the unit's live tokens at once and refuses "
                                                       "its sign-in (403 account_disabled); false enables it"})


class AdminUnitSchema(BaseSchema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    account = fields.String(allow_none=True)
    credit_code = fields.String(required=True)
    division = fields.String(required=True)
    division_name = fields.String(required=True)
    street = fields.String(required=True)
    contact = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    disabled = fields.Boolean(required=True)
    locked = fields.Boolean(required=True)
    created_at = fields.String()
    temporary_password = fields.String(metadata={"description": "only when generated: shown once"})


class AdminUnitPageSchema(PageSchema):
    items = fields.List(fields.Nested(AdminUnitSchema), required=True)


class UnitListArgs(PageArgs):
    division = fields.String(validate=validate.OneOf(list(ALL_DIVISIONS)))
    street = fields.String(validate=validate.Length(max=STREET_MAX))
    q = fields.String(validate=validate.Length(max=100),
                      metadata={"description": "any part of the name, credit code or account"})
    disabled = fields.Boolean()


class UnitChangeSchema(BaseSchema):
    field = fields.String(required=True)
    label = fields.String(required=True)
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)


class UnitHistoryItemSchema(BaseSchema):
    at = fields.String(required=True)
    actor = fields.String(allow_none=True, metadata={"description": "the operator's account"})
    action = fields.String(required=True, metadata={"description": "created, imported, updated or migrated"})
    changes = fields.List(fields.Nested(UnitChangeSchema), required=True)


class UnitHistorySchema(BaseSchema):
    items = fields.List(fields.Nested(UnitHistoryItemSchema), required=True)


class RowFailureSchema(BaseSchema):
    row = fields.Integer(required=True)
    account = fields.String(allow_none=True)
    reason = fields.String(required=True)


class UnitImportSchema(BaseSchema):
    total = fields.Integer(required=True)
    succeeded = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    failures = fields.List(fields.Nested(RowFailureSchema), required=True)
    credentials_url = fields.String(allow_none=True, metadata={
        "description": "the generated initial passwords (.xlsx): downloadable once, within 24 hours"})
    failures_url = fields.String(allow_none=True, metadata={
        "description": "the refused rows in the template with 失败原因 (.xlsx), to correct and import again"})


class TargetSchema(BaseSchema):
    target = fields.Integer(required=True, validate=validate.Range(min=0, max=1_000_000))


class TargetResultSchema(BaseSchema):
    year = fields.Integer(required=True)
    unit_id = fields.Integer(required=True)
    target = fields.Integer(required=True)
    set_by = fields.String(allow_none=True)
    set_at = fields.String()


class TargetImportSchema(BaseSchema):
    year = fields.Integer(required=True)
    total = fields.Integer(required=True)
    succeeded = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    failures = fields.List(fields.Nested(RowFailureSchema), required=True)
    failures_file = fields.String(allow_none=True, metadata={
        "description": "base64 of the refused rows with 失败原因 (.xlsx), to correct and import again"})


class DashboardArgs(BaseSchema):
    year = fields.Integer(validate=validate.Range(min=2000, max=2100))
    level = fields.String(load_default="city", validate=validate.OneOf(["city", "division", "street", "unit"]),
                          metadata={"description": "city: the divisions; division: its streets; street: its "
                                                   "units; unit: every unit of the city (or of division/street)"})
    division = fields.String(validate=validate.OneOf(list(ALL_DIVISIONS)))
    street = fields.String(validate=validate.Length(max=STREET_MAX))
    as_of = fields.Date(metadata={"description": "figures as of the end of this day (business time zone)"})
    idle_days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=366))
    sort = fields.String(validate=validate.Length(max=40),
                         metadata={"description": "a field of the items, `-` first for descending"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=5000))


class ReasonSchema(BaseSchema):
    reason = fields.String(required=True)
    rows = fields.Integer(required=True)


class FiguresSchema(BaseSchema):
    code = fields.String()
    name = fields.String()
    unit_id = fields.Integer()
    division = fields.String()
    division_name = fields.String()
    street = fields.String()
    insured = fields.Integer(required=True)
    target = fields.Integer(required=True)
    completion = fields.Float(allow_none=True, metadata={"description": "insured ÷ target; null: no target (未下达)"})
    month_increase = fields.Integer(required=True)
    month_decrease = fields.Integer(required=True)
    year_new = fields.Integer(required=True)
    year_transfer_in = fields.Integer(required=True)
    year_transfer_out = fields.Integer(required=True)
    year_suspended = fields.Integer(required=True)
    batches = fields.Integer(required=True)
    batch_rows = fields.Integer(required=True)
    batch_failed_rows = fields.Integer(required=True)
    batch_failure_rate = fields.Float(allow_none=True)
    top_failure_reasons = fields.List(fields.Nested(ReasonSchema), required=True)
    last_declared_at = fields.String(allow_none=True)


class IdleUnitSchema(BaseSchema):
    unit_id = fields.Integer(required=True)
    name = fields.String(required=True)
    division = fields.String(required=True)
    division_name = fields.String(required=True)
    street = fields.String(required=True)
    last_declared_at = fields.String(allow_none=True)
    idle_days = fields.Integer(allow_none=True, metadata={"description": "null: never declared"})
    insured = fields.Integer(required=True)
    target = fields.Integer(allow_none=True)


class DashboardSchema(BaseSchema):
    as_of = fields.String(required=True)
    year = fields.Integer(required=True)
    level = fields.String(required=True)
    division = fields.String(allow_none=True)
    division_name = fields.String(allow_none=True)
    street = fields.String(allow_none=True)
    sort = fields.String(required=True)
    page = fields.Integer(required=True)
    size = fields.Integer(required=True)
    total_items = fields.Integer(required=True)
    totals = fields.Nested(FiguresSchema, required=True)
    items = fields.List(fields.Nested(FiguresSchema), required=True)
    idle_days = fields.Integer(required=True)
    idle_units = fields.List(fields.Nested(IdleUnitSchema), required=True,
                             metadata={"description": "at most 200, longest idle first"})
    idle_total = fields.Integer(required=True)


class DailyArgs(BaseSchema):
    year = fields.Integer(validate=validate.Range(min=2000, max=2100))
    division = fields.String(validate=validate.OneOf(list(ALL_DIVISIONS)))


class DaySchema(BaseSchema):
    date = fields.String(required=True)
    enrolments = fields.Integer(required=True)
    last_year = fields.Integer(required=True, metadata={"description": "the same day of the year before"})


class DailySchema(BaseSchema):
    year = fields.Integer(required=True)
    division = fields.String(allow_none=True)
    days = fields.List(fields.Nested(DaySchema), required=True)
