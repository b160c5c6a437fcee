"""Audit: the platform's tamper-evident trail of security actions and of
every answer that carried personal data (docs/audit.md)."""
