"""Logging shared by services and gateway: the request id on every line, and
personal data (ID numbers, phone numbers) masked before anything is written."""
import contextvars
import json
import logging
import re

from common.protect.masking import mask_cert_no, mask_phone

request_id_var = contextvars.ContextVar("request_id", default="-")

# Where personal data hides in free text: 18-character ID numbers (the last
# may be X), 15-digit legacy IDs, mobile phones. How each is masked is
# common.protect.masking's rule, the one the lists use.
_ID18 = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
_ID15 = re.compile(r"(?<![0-9A-Za-z])\d{15}(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def _cert_no(match):
    return mask_cert_no(match.group(0))


def _phone(match):
    return mask_phone(match.group(0))


def mask(text):
    """Mask ID numbers and mobile numbers in free text."""
    text = _ID18.sub(_cert_no, text)
    text = _ID15.sub(_cert_no, text)
    return _MOBILE.sub(_phone, text)


class ContextFilter(logging.Filter):
    """Adds `request_id` to every record and masks personal data in it."""

    def filter(self, record):
        record.request_id = request_id_var.get()
        if isinstance(record.msg, str) and not getattr(record, "_masked", False):
            try:
                msg = record.getMessage()
            except Exception:  # a bad format string must not hide the line
                msg = str(record.msg)
            record.msg, record.args = mask(msg), ()
            record._masked = True
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record):
        out = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


def logging_config(level="INFO", json_logs=False):
    """A dictConfig for services and gateway alike."""
    fmt = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
    formatter = {"()": "common.logs.JsonFormatter"} if json_logs else {"format": fmt}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "common.logs.ContextFilter"}},
        "formatters": {"default": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["context"],
            }
        },
        "root": {"level": level, "handlers": ["console"]},
    }
