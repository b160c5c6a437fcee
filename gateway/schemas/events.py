"""Shapes of the event feed for downstream systems (docs/events.md)."""
from marshmallow import fields, validate

from gateway.schemas.base import BaseSchema

MAX_LIMIT = 1000


class EventsArgs(BaseSchema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0), metadata={
        "description": "the last position the caller applied (0: from the beginning)"})
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=MAX_LIMIT))


class EventUnitSchema(BaseSchema):
    id = fields.Integer(required=True)
    name = fields.String(allow_none=True)
    credit_code = fields.String(allow_none=True)


class EventPersonSchema(BaseSchema):
    cert_type = fields.String(required=True)
    cert_no = fields.String(required=True)
    name = fields.String(required=True)


class EventSchema(BaseSchema):
    position = fields.Integer(required=True, metadata={"description": "gap-free, increasing"})
    event_id = fields.String(required=True)
    type = fields.String(required=True, metadata={
        "description": "resident_enrolled, resident_transferred, resident_suspended "
                       "or resident_info_changed"})
    schema_version = fields.Integer(required=True)
    occurred_at = fields.String(required=True)
    unit = fields.Nested(EventUnitSchema, required=True)
    person = fields.Nested(EventPersonSchema, required=True)
    data = fields.Dict(required=True, metadata={"description": "all declared fields and `action`"})
    batch_no = fields.String(allow_none=True)
    record_id = fields.String(allow_none=True)
    stream_version = fields.Integer()


class EventLogSchema(BaseSchema):
    log_id = fields.String(required=True, metadata={"description": "the log's identity, made with its database"})
    epoch = fields.Integer(required=True, metadata={"description": "advanced by every restore of the log"})
    forks = fields.List(fields.List(fields.Integer()), required=True, metadata={
        "description": "[epoch, last position shared with the epoch before] for every epoch"})
    head = fields.Integer(required=True, metadata={"description": "the log's last position"})


class EventFeedSchema(BaseSchema):
    items = fields.List(fields.Nested(EventSchema), required=True)
    next_after = fields.Integer(required=True, metadata={
        "description": "pass as `after` to read on; equals `after` when nothing is new"})
    log = fields.Nested(EventLogSchema, metadata={
        "description": "the log the items belong to: drop messages of another log_id or an older epoch"})
