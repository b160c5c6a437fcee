"""Shapes of the notices API. Lengths and the Markdown subset are checked by
the notices service (services/notices/rules.py), which answers per field."""
from marshmallow import fields, validate

from gateway.schemas.base import BaseSchema, PageArgs, page_of

STATES = ("published", "withdrawn")


class NewNoticeSchema(BaseSchema):
    title = fields.String(required=True, metadata={"description": "one line, at most 100 characters"})
    body = fields.String(required=True, metadata={
        "description": "at most 20,000 characters, plain text or a small Markdown subset; "
                       "stored and returned as given, never rendered as HTML by the server"})
    pinned = fields.Boolean(load_default=False)


class NoticeChangesSchema(BaseSchema):
    """An edit: any of the fields, at least one."""
    title = fields.String()
    body = fields.String()
    pinned = fields.Boolean()


class NoticeListArgs(PageArgs):
    unread = fields.Boolean(load_default=False, metadata={"description": "only the unread ones"})


class AdminNoticeListArgs(PageArgs):
    state = fields.String(validate=validate.OneOf(STATES))


class NoticeItemSchema(BaseSchema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    published_at = fields.String(required=True, metadata={"description": "ISO 8601 with offset"})
    pinned = fields.Boolean(required=True)
    read = fields.Boolean(required=True, metadata={"description": "read by the calling unit"})


class NoticePageSchema(page_of(NoticeItemSchema)):
    unread = fields.Integer(required=True, metadata={"description": "notices the unit has not read"})


class NoticeSchema(NoticeItemSchema):
    body = fields.String(required=True)


class UnreadCountSchema(BaseSchema):
    unread = fields.Integer(required=True)


class AdminNoticeSchema(BaseSchema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    body = fields.String()
    published_at = fields.String(required=True)
    pinned = fields.Boolean(required=True)
    state = fields.String(required=True, metadata={"description": "published or withdrawn"})
    updated_at = fields.String(required=True)
    withdrawn_at = fields.String(allow_none=True)
    published_by = fields.String(allow_none=True)
    read_count = fields.Integer(required=True, metadata={"description": "units that have read it"})


AdminNoticePageSchema = page_of(AdminNoticeSchema, "AdminNoticePageSchema")
