"""Sign-in (password, then a second factor when one is due), logout and
password change: docs/security.md."""
import segno
from flask import g, request

from common.errors import Unauthorized
from gateway.api import Blueprint
from gateway.schemas.auth import (
    LoginResultSchema,
    LoginSchema,
    MfaEnrolmentSchema,
    MfaEnrolSchema,
    MfaVerifySchema,
    PasswordChangeSchema,
    SessionSchema,
)
from gateway.security import EVERYONE, bearer_token, forget_account, forget_token
from gateway.services import rpc

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Login, second factor, logout, password")


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, LoginResultSchema)
@blp.errors(400, 401, 403, 423, 429)
@blp.doc(security=[])
def login(args):
    """Log in with account and password: a bearer token, or, when a second
    factor is due, an `mfa_token` for POST /api/auth/mfa (no session yet)."""
    return rpc().auth.login(args["account"], args["password"], request.remote_addr)


def qr_svg(uri):
    """The URI as a QR code, an SVG data URI (segno: pure Python, no image libraries)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#1f2937")


@blp.route("/mfa/enrol", methods=["POST"])
@blp.arguments(MfaEnrolSchema)
@blp.response(200, MfaEnrolmentSchema)
@blp.errors(400, 401, 409)
@blp.doc(security=[])
def mfa_enrol(args):
    """Enrol a second factor during a sign-in that needs one: the secret, its
    otpauth URI and QR code, and one-time recovery codes (shown once). The
    first code sent to POST /api/auth/mfa confirms it."""
    answer = rpc().auth.mfa_enrol(args["mfa_token"])
    return {**answer, "qr_svg": qr_svg(answer["otpauth_uri"])}


@blp.route("/mfa", methods=["POST"])
@blp.arguments(MfaVerifySchema)
@blp.response(200, SessionSchema)
@blp.errors(400, 401, 403, 423, 429)
@blp.doc(security=[])
def mfa_verify(args):
    """The second step of a sign-in: a 6-digit code (or a recovery code) gives
    the normal login answer. A wrong code counts towards the lockout."""
    if not args["mfa_token"]:
        raise Unauthorized("请先登录")
    return rpc().auth.mfa_verify(args["mfa_token"], args["code"], request.remote_addr)


@blp.route("/logout", methods=["POST"])
@blp.secured(*EVERYONE)
@blp.response(204)
@blp.errors(401)
def logout():
    """Revoke the calling token at once."""
    token = bearer_token()
    try:
        rpc().auth.logout(token)
    finally:
        forget_token(token)  # auth also broadcasts it to every gateway process


@blp.route("/password", methods=["PUT"])
@blp.secured(*EVERYONE)
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
@blp.errors(400, 401)
def change_password(args):
    """Change the password; the account's other tokens stop working, and
    this one may do everything again if the change was required."""
    token = bearer_token()
    try:
        rpc().auth.change_password(token, args["old_password"], args["new_password"])
    finally:
        forget_account(g.principal["account"], token)  # auth also broadcasts it
        forget_token(token)  # its cached principal may say a change is required
