"""Time as every service stores it: aware UTC."""
from datetime import UTC, datetime


def utcnow():
    return datetime.now(UTC)


def aware(dt):
    """SQLite returns naive datetimes; every time stored here is UTC."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt
