"""Shapes of the declarations API. The schemas only bound types and sizes:
the rules of each field (ID check character, phone shapes, code tables, age
of a category...) are judged by the declarations service with
common/person.py, which answers per field in Chinese; so the person fields
here are optional text, and a missing one gets the service's own reason."""
from marshmallow import fields, validate

from common.codes import BUSINESS_TYPES
from common.person import CHANGEABLE_FIELDS, FIELD_LABELS
from gateway.schemas.base import BaseSchema, PageArgs, page_of
from gateway.schemas.residents import MASKED_CERT_NO, person_id_field


class Text(fields.String):
    """Text, also accepting a JSON number (a phone or ID number sent as one)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


def text(label, maximum, required=False, description=""):
    note = ("必填。" if required else "") + description
    return Text(allow_none=True, validate=validate.Length(max=maximum),
                metadata={"description": f"{label}。{note}".rstrip("。")})


def coded(label, table):
    return text(label, 60, description=f"代码、名称或“代码 名称”均可（见 GET /api/codes 的 {table}）")


class EnrolmentSchema(BaseSchema):
    cert_type = coded(FIELD_LABELS["cert_type"] + "（必填）", "cert_types")
    cert_no = text(FIELD_LABELS["cert_no"], 40, True, "居民身份证按GB 11643校验，15位旧号自动升为18位")
    name = text(FIELD_LABELS["name"], 100, True)
    gender = coded(FIELD_LABELS["gender"] + "（证件不含性别时必填）", "genders")
    birth_date = text(FIELD_LABELS["birth_date"], 20, description="YYYY-MM-DD；证件不含出生日期时必填")
    nation = coded(FIELD_LABELS["nation"], "nations")
    category = coded(FIELD_LABELS["category"] + "（必填）", "categories")
    phone = text(FIELD_LABELS["phone"], 40, True)
    hukou_address = text(FIELD_LABELS["hukou_address"], 400)
    address = text(FIELD_LABELS["address"], 400)
    remark = text(FIELD_LABELS["remark"], 1000)


class SuspensionSchema(BaseSchema):
    cert_type = coded(FIELD_LABELS["cert_type"] + "（必填）", "cert_types")
    cert_no = text(FIELD_LABELS["cert_no"], 40, True)
    name = text(FIELD_LABELS["name"], 100, True, "须与参保登记的姓名一致")
    reason = coded(FIELD_LABELS["reason"] + "（必填）", "suspension_reasons")
    remark = text(FIELD_LABELS["remark"], 1000, description="暂停原因为其他时必填")


class ChangeSchema(BaseSchema):
    cert_type = coded(FIELD_LABELS["cert_type"] + "（必填）", "cert_types")
    cert_no = text(FIELD_LABELS["cert_no"], 40, True, "证件号码本身不可变更")
    name = text(FIELD_LABELS["name"], 100, True, "现登记的姓名")
    changes = fields.Dict(
        keys=fields.String(validate=validate.Length(max=40)),
        values=Text(allow_none=True, validate=validate.Length(max=400)),
        metadata={"description": "需要变更的项及新值，可变更：" + "、".join(
            f"{f}（{FIELD_LABELS[f]}）" for f in CHANGEABLE_FIELDS)
            + "；证件已含性别和出生日期时二者不可变更"},
    )


class DeclaredSchema(BaseSchema):
    record_id = fields.String(required=True)
    business_type = fields.String(required=True, metadata={"description": "enrolment, suspension or change"})
    action = fields.String(required=True, metadata={
        "description": "new_enrolment, transfer_in or resume for an enrolment; suspend; change"})
    declared_at = fields.String(required=True, metadata={"description": "ISO 8601, business time zone"})
    cert_type = fields.String()
    cert_no = fields.String()
    name = fields.String()


class ChangedSchema(DeclaredSchema):
    before = fields.Dict(required=True, metadata={"description": "the changed fields' old values"})
    after = fields.Dict(required=True, metadata={"description": "the changed fields' new values"})


class RecordArgs(PageArgs):
    business_type = fields.String(validate=validate.OneOf(tuple(BUSINESS_TYPES)))
    date_from = fields.Date(data_key="from", metadata={"description": "申报日期起（含），业务时区"})
    date_to = fields.Date(data_key="to", metadata={"description": "申报日期止（含），业务时区"})
    name = fields.String(validate=validate.Length(max=100), metadata={"description": "姓名，精确匹配"})
    cert_no = fields.String(validate=validate.Length(max=40), metadata={"description": "完整证件号码，精确匹配"})
    batch_no = fields.String(validate=validate.Length(max=40))


class RecordSchema(BaseSchema):
    """A line of the records list: `cert_no` masked, the person's `person_id`."""
    record_id = fields.String(required=True)
    business_type = fields.String(required=True)
    action = fields.String(required=True)
    person_id = person_id_field(required=True)
    cert_type = fields.String(required=True)
    cert_no = fields.String(required=True, metadata={"description": MASKED_CERT_NO})
    name = fields.String(required=True)
    declared_at = fields.String(required=True)
    batch_no = fields.String(allow_none=True)


RecordPageSchema = page_of(RecordSchema, "RecordPageSchema")


class RecordDetailSchema(RecordSchema):
    """One record, with full values (a details answer)."""
    cert_no = fields.String(required=True, metadata={"description": "证件号码 in full"})
    declared_by = fields.String(allow_none=True, metadata={"description": "the account that declared"})
    data = fields.Dict(required=True, metadata={"description": "everything declared, normalised"})
    before = fields.Dict(metadata={"description": "a change: the old values"})
    after = fields.Dict(metadata={"description": "a change: the new values"})
