"""Shapes of the batch API (批量城乡居民参保 / 批量暂停参保, 批量提交记录)."""
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from gateway.schemas.base import BaseSchema, PageArgs, page_of
from gateway.schemas.residents import MASKED_CERT_NO, person_id_field

BATCH_TYPES = ("enrolment", "suspension")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def business_type(required):
    return fields.String(
        required=required, validate=validate.OneOf(BATCH_TYPES),
        metadata={"description": "enrolment（城乡居民参保）or suspension（城乡居民暂停参保）"})


class BatchTypeArgs(BaseSchema):
    business_type = business_type(True)


class UploadSchema(BaseSchema):
    file = Upload(required=True, error_messages={"required": "请选择要上传的文件"}, metadata={
        "description": "the filled-in template (.xlsx, at most MAX_UPLOAD_BYTES = 10 MB and "
                       "MAX_UPLOAD_ROWS = 20,000 data rows by default)"})


class BatchListArgs(PageArgs):
    business_type = business_type(False)
    date_from = fields.Date(data_key="from", metadata={"description": "申报日期 from (inclusive), YYYY-MM-DD"})
    date_to = fields.Date(data_key="to", metadata={"description": "申报日期 to (inclusive), YYYY-MM-DD"})
    batch_no = fields.String(validate=validate.Length(max=40),
                             metadata={"description": "批次号, or any part of it"})


STATUSES = ("queued", "reading", "deciding", "done", "failed")


class ProgressSchema(BaseSchema):
    rows_read = fields.Integer(required=True, metadata={"description": "data rows read from the file"})
    rows_decided = fields.Integer(required=True, metadata={"description": "rows decided so far"})
    total = fields.Integer(allow_none=True, metadata={"description": "data rows of the file, once read"})


class BatchSchema(BaseSchema):
    batch_no = fields.String(required=True, metadata={"description": "e.g. PL20261127-000001"})
    business_type = fields.String(required=True)
    submitted_at = fields.String(required=True, metadata={"description": "ISO 8601 with offset"})
    submitted_date = fields.String(metadata={"description": "申报日期, business time zone"})
    file_name = fields.String(required=True)
    status = fields.String(validate=validate.OneOf(STATUSES), metadata={
        "description": "queued (waiting for a batch worker), reading, deciding, done or failed"})
    status_label = fields.String(metadata={"description": "the status in Chinese"})
    total = fields.Integer(allow_none=True, metadata={"description": "non-blank data rows (when done)"})
    succeeded = fields.Integer(allow_none=True, metadata={"description": "提交成功条数 (when done)"})
    failed = fields.Integer(allow_none=True, metadata={"description": "提交失败条数 (when done)"})
    progress = fields.Nested(ProgressSchema, metadata={"description": "while queued, reading or deciding"})
    message = fields.String(allow_none=True, metadata={
        "description": "why the file was refused as a whole (status failed); nothing of it was declared"})
    error = fields.String(allow_none=True, metadata={
        "description": "failed: unsupported_file, too_large, invalid_input or interrupted"})
    reason = fields.String(allow_none=True, metadata={
        "description": "failed, a file that is not the current template: no_rows, wrong_template "
                       "or outdated_template"})


class FailureSchema(BaseSchema):
    """A rejected row: its number masked (the failures file has it whole)."""
    row = fields.Integer(required=True, metadata={"description": "the row number Excel shows"})
    person_id = person_id_field(allow_none=True)
    cert_type = fields.String(allow_none=True, metadata={
        "description": "证件类型 code of the row, null when what was typed names none"})
    cert_no = fields.String(allow_none=True, metadata={"description": MASKED_CERT_NO + "; as typed when unreadable"})
    name = fields.String(allow_none=True)
    reason = fields.String(required=True, metadata={"description": "why, in Chinese"})


class BatchResultSchema(BatchSchema):
    failures = fields.List(fields.Nested(FailureSchema), metadata={"description": "when done"})
    duplicate = fields.Boolean(metadata={
        "description": "true when this byte-identical file (or Idempotency-Key) was already "
                       "imported by the unit: the answer is that first batch, nothing was declared"})


BatchPageSchema = page_of(BatchSchema, "BatchPageSchema")
