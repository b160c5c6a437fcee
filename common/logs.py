"""Logging shared by services and gateway: the request id on every line, and
personal data (ID numbers, phone numbers) masked before anything is written."""
import contextvars
import json
import logging
import re

request_id_var = contextvars.ContextVar("request_id", default="-")

# 18-character ID numbers (last may be X), 15-digit legacy IDs, mobile phones.
_ID18 = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_ID15 = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{6}(\d{3})(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask(text):
    """Mask ID numbers and mobile numbers in free text."""
    text = _ID18.sub(lambda m: m.group(1) + "********" + m.group(2)[-4:], text)
    text = _ID15.sub(lambda m: m.group(1) + "******" + m.group(2), text)
    return _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


def mask_cert_no(cert_no):
    if not cert_no:
        return cert_no
    s = str(cert_no)
    if len(s) <= 4:
        return "*" * len(s)
    return s[:3] + "*" * (len(s) - 7 if len(s) > 7 else 1) + s[-4:]


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
