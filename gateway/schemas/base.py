"""Base schema with Chinese validation messages, and shapes used everywhere:
the error body and paged lists."""
from marshmallow import Schema, fields, validate

# Marshmallow's built-in messages, in the users' language. Field classes keep
# their defaults in class dicts; updating them here covers every schema.
_FIELD_MESSAGES = {
    fields.Field: {"required": "此项为必填项", "null": "此项不能为空", "validator_failed": "取值不正确"},
    fields.String: {"invalid": "应为文本"},
    fields.Integer: {"invalid": "应为整数", "too_large": "数值过大"},
    fields.Boolean: {"invalid": "应为 true 或 false"},
    fields.Date: {"invalid": "日期格式应为YYYY-MM-DD", "format": "日期格式应为YYYY-MM-DD"},
    fields.DateTime: {"invalid": "时间格式不正确"},
    fields.Dict: {"invalid": "格式不正确"},
    fields.List: {"invalid": "应为列表"},
    fields.Nested: {"type": "格式不正确"},
}
for _cls, _messages in _FIELD_MESSAGES.items():
    _cls.default_error_messages = {**_cls.default_error_messages, **_messages}

validate.Length.message_min = "长度不能少于{min}"
validate.Length.message_max = "长度不能超过{max}"
validate.Length.message_all = "长度应在{min}至{max}之间"
# Range formats its messages twice (bound operator first), hence the braces.
validate.Range.message_min = "不能小于{{min}}"
validate.Range.message_max = "不能大于{{max}}"
validate.Range.message_all = "应在{{min}}至{{max}}之间"
validate.OneOf.default_message = "取值应为：{choices}"


class BaseSchema(Schema):
    error_messages = {"unknown": "不支持的字段", "type": "数据格式不正确"}


class ErrorSchema(BaseSchema):
    error = fields.String(required=True, metadata={"description": "machine-readable code"})
    message = fields.String(required=True, metadata={"description": "Chinese message for the user"})
    details = fields.Dict(metadata={"description": "reasons per field"})
    # Extras some refusals carry (gateway/errors.py adds a DomainError's extra).
    reason = fields.String(metadata={"description": "why a whole batch file was refused "
                                                   "(wrong_template, outdated_template, no_rows)"})
    locked_until = fields.String(metadata={"description": "423: when the account unlocks (ISO 8601)"})


class PageArgs(BaseSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))


class PageSchema(BaseSchema):
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    size = fields.Integer(required=True)


def page_of(item_schema, name=None):
    """A paged list schema `{items, total, page, size}` of `item_schema`."""
    return type(name or f"{item_schema.__name__.removesuffix('Schema')}PageSchema", (PageSchema,), {
        "items": fields.List(fields.Nested(item_schema), required=True),
    })
