"""Time as every service stores it: aware UTC."""
from datetime import datetime, timezone


def utcnow():
    return datetime.now(timezone.utc)


def aware(dt):
    """SQLite returns naive datetimes; every time stored here is UTC."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt
