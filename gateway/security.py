"""Who is calling: the bearer token is checked by the auth service, and the
answer kept for a short time by the process's principal cache
(gateway/auth_cache.py), which revocations evict at once, so logout and
password changes still take effect at once."""
from functools import wraps

from flask import current_app, g, request

from common.errors import Forbidden, Unauthorized
from gateway.services import rpc

# Roles (separation of duties, docs/security.md): no account holds two.
UNIT, DOWNSTREAM, ADMIN, SECADMIN, AUDITOR = "unit", "downstream", "admin", "secadmin", "auditor"
ADMIN_ROLES = (ADMIN, SECADMIN, AUDITOR)
EVERYONE = (UNIT, DOWNSTREAM, *ADMIN_ROLES)
# What a token may do while its account must change its password first.
PASSWORD_CHANGE_ENDPOINTS = {"auth.change_password", "auth.logout"}


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"


def bearer_token():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("请先登录")
    return token.strip()


def authenticate(token):
    """The principal of `token`: from the cache, or asked of auth."""
    cache = current_app.extensions.get("principals")
    if cache is None:
        return rpc().auth.authenticate(token)
    return cache.lookup(token, lambda t: rpc().auth.authenticate(t))


def forget_token(token):
    """This process stops trusting `token` at once (after a logout)."""
    cache = current_app.extensions.get("principals")
    if cache is not None:
        cache.revoke_token(token)


def forget_account(account, keep_token):
    """This process stops trusting every token of `account` but `keep_token`
    (after a password change)."""
    cache = current_app.extensions.get("principals")
    if cache is not None:
        cache.revoke_account(account, keep_token)


def requires(*roles):
    """Allow the view only to a logged-in caller with one of `roles`.
    Sets `g.principal` = {account, role, unit_id, unit} and `g.token`."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            token = bearer_token()
            principal = authenticate(token)
            if principal["role"] not in roles:
                raise Forbidden("当前账号无权进行此操作")
            if principal.get("must_change_password") and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
                raise PasswordChangeRequired("密码为初始密码、临时密码或已过期，请先修改密码")
            g.principal, g.token = principal, token
            return view(*args, **kwargs)

        # Recorded for the OpenAPI document and the tenant-isolation tests.
        wrapper._roles = roles
        return wrapper

    return decorate


def unit_id():
    """The calling unit: always from the token, never from the request."""
    return g.principal["unit_id"]


def actor():
    """What services record about who acted."""
    return {
        "account": g.principal["account"],
        "request_id": g.get("request_id"),
        "address": request.remote_addr,
    }
