"""Time as every service stores it (aware UTC), and the business days of
the business time zone (BUSINESS_TZ, Asia/Shanghai by default) in which
users name dates and months."""
from datetime import UTC, datetime, timedelta


def utcnow():
    return datetime.now(UTC)


def aware(dt):
    """SQLite returns naive datetimes; every time stored here is UTC."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


def utc(dt):
    """A stored time as an aware UTC datetime: SQLite gives it back naive
    (or as text), PostgreSQL in the session's zone."""
    if dt is None:
        return None
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def day_bounds(day_from, day_to, tz):
    """UTC instants [start, end) of the business-zone days `day_from` ..
    `day_to` (either may be None)."""
    start = end = None
    if day_from is not None:
        start = datetime.combine(day_from, datetime.min.time(), tz).astimezone(UTC)
    if day_to is not None:
        end = datetime.combine(day_to + timedelta(days=1), datetime.min.time(), tz).astimezone(UTC)
    return start, end
