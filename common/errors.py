"""Errors that cross the RPC boundary.

A service raises one of these; Nameko serialises it; the gateway (which imports
this module, and so registers every class with Nameko's deserialiser) receives
the same class back and maps it to an HTTP status with `status`.
Each takes a Chinese `message` for the user and optional per-field `details`.
"""
from nameko.exceptions import deserialize_to_instance


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message, details=None, extra=None):
        # args are what Nameko serialises; None would arrive as "None".
        details, extra = details or {}, extra or {}
        super().__init__(message, details, extra)
        self.message = message
        self.details = details
        self.extra = extra

    def __str__(self):
        return f"{self.code}: {self.message}"


def _register(cls):
    return deserialize_to_instance(cls)


@_register
class InvalidInput(DomainError):
    code = "invalid_input"
    status = 400


@_register
class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


@_register
class Forbidden(DomainError):
    code = "forbidden"
    status = 403


@_register
class NotFound(DomainError):
    code = "not_found"
    status = 404


@_register
class Conflict(DomainError):
    code = "conflict"
    status = 409


@_register
class TooLarge(DomainError):
    code = "too_large"
    status = 413


@_register
class UnsupportedFile(DomainError):
    code = "unsupported_file"
    status = 415


@_register
class Locked(DomainError):
    code = "account_locked"
    status = 423


@_register
class TooManyRequests(DomainError):
    code = "too_many_requests"
    status = 429


@_register
class AccountDisabled(Forbidden):
    """Sign-in of a unit the operator disabled (services/auth/units.py)."""
    code = "account_disabled"
    status = 403


EXPECTED = (DomainError,)
