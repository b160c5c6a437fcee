from flask import g, request

from gateway.api import Blueprint
from gateway.schemas.auth import LoginResultSchema, LoginSchema, PasswordChangeSchema
from gateway.security import bearer_token, forget_account, forget_token
from gateway.services import rpc

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Login, logout, password")


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, LoginResultSchema)
@blp.errors(400, 401, 423, 429)
@blp.doc(security=[])
def login(args):
    """Log in with account and password; returns a bearer token."""
    return rpc().auth.login(args["account"], args["password"], request.remote_addr)


@blp.route("/logout", methods=["POST"])
@blp.secured("unit", "admin", "downstream")
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
@blp.secured("unit", "admin", "downstream")
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
@blp.errors(400, 401)
def change_password(args):
    """Change the password; the account's other tokens stop working."""
    token = bearer_token()
    try:
        rpc().auth.change_password(token, args["old_password"], args["new_password"])
    finally:
        forget_account(g.principal["account"], token)  # auth also broadcasts it
