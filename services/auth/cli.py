"""Operator commands of the auth service.

    python -m services.auth.cli create-admin ACCOUNT   (password asked, or ADMIN_PASSWORD)
    python -m services.auth.cli create-account ACCOUNT --role downstream|secadmin|auditor|admin
    python -m services.auth.cli set-totp ACCOUNT        (secret from ADMIN_TOTP_SECRET)
"""
import argparse
import getpass
import os
import sys

from sqlalchemy.orm import Session

from common.config import service_config
from common.db import make_engine
from common.errors import DomainError
from services.auth import accounts, rules
from services.auth.models import Base
from services.auth.store import AuthStore


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m services.auth.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    admin = sub.add_parser("create-admin", help="create an admin account")
    admin.add_argument("account")
    other = sub.add_parser("create-account", help="create an administrative or downstream account")
    other.add_argument("account")
    other.add_argument("--role", choices=rules.ACCOUNT_ROLES, required=True)
    totp = sub.add_parser("set-totp", help="give an account the second factor in ADMIN_TOTP_SECRET")
    totp.add_argument("account")
    args = parser.parse_args(argv)
    if args.command == "set-totp":
        return _set_totp(args.account)
    role = "admin" if args.command == "create-admin" else args.role

    password = os.environ.get("ADMIN_PASSWORD") if role == "admin" else None
    if not password:
        password = getpass.getpass("密码 / password: ")
        if getpass.getpass("再次输入 / again: ") != password:
            print("两次输入的密码不一致", file=sys.stderr)
            return 2
    engine = make_engine(service_config("auth")["DATABASE_URL"])
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        try:
            accounts.create_account(AuthStore(session), args.account, password, role)
        except DomainError as exc:
            print(f"{exc.message} {exc.details or ''}", file=sys.stderr)
            return 1
    print(f"created {role} account {args.account}")
    return 0


def _set_totp(account):
    secret = (os.environ.get("ADMIN_TOTP_SECRET") or "").replace(" ", "")
    if not secret:
        print("ADMIN_TOTP_SECRET is not set", file=sys.stderr)
        return 2
    engine = make_engine(service_config("auth")["DATABASE_URL"])
    with Session(engine) as session:
        try:
            accounts.set_totp_secret(AuthStore(session), account, secret)
        except DomainError as exc:
            print(exc.message, file=sys.stderr)
            return 1
    print(f"second factor set for {account}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
