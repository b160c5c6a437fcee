"""Schema migrations, one Alembic history per service, applied explicitly:

    python -m deploy.migrate upgrade [service ...]      apply every pending migration
    python -m deploy.migrate current [service ...]      show each database's revision
    python -m deploy.migrate revision SERVICE -m MSG    autogenerate a migration from models.py
    python -m deploy.migrate check                      exit 1 if models and migrations differ

Each service's revisions live in services/<name>/migrations/; the database is
the service's DATABASE_URL (services/<name>/config.yaml, env <NAME>_DATABASE_URL).
"""
import argparse
import importlib
import os
import sys
import tempfile

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from common.config import service_config  # noqa: E402
from common.db import make_engine  # noqa: E402

SERVICES = ("auth", "declarations", "residents", "notices", "audit")


def metadata(service):
    return importlib.import_module(f"services.{service}.models").Base.metadata


def alembic_config(service, connection):
    cfg = Config()
    cfg.set_main_option("script_location", os.path.join(ROOT, "deploy", "alembic"))
    cfg.set_main_option("version_locations", os.path.join(ROOT, "services", service, "migrations"))
    cfg.set_main_option("version_table", "alembic_version")
    cfg.attributes["metadata"] = metadata(service)
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(service, url=None, revision="head"):
    engine = make_engine(url or service_config(service)["DATABASE_URL"])
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(service, conn), revision)
    finally:
        engine.dispose()


def current(service, url=None):
    engine = make_engine(url or service_config(service)["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def differences(service, url):
    """What the models have that the migrated database `url` lacks (or v.v.)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, metadata(service))
    finally:
        engine.dispose()


def revision(service, message):
    os.makedirs(os.path.join(ROOT, "services", service, "migrations"), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/scratch.db"
        upgrade(service, url)
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                command.revision(alembic_config(service, conn), message=message, autogenerate=True)
        finally:
            engine.dispose()


def check():
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for service in SERVICES:
            url = f"sqlite:///{tmp}/{service}.db"
            upgrade(service, url)
            diff = differences(service, url)
            if diff:
                bad += 1
                print(f"{service}: models differ from migrations: {diff}")
    return 1 if bad else 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m deploy.migrate")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("upgrade", "current"):
        p = sub.add_parser(name)
        p.add_argument("services", nargs="*", default=list(SERVICES))
    rev = sub.add_parser("revision")
    rev.add_argument("service", choices=SERVICES)
    rev.add_argument("-m", "--message", required=True)
    sub.add_parser("check")
    args = parser.parse_args(argv)
    if args.cmd == "upgrade":
        for s in args.services:
            upgrade(s)
            print(f"{s}: at {current(s)}")
    elif args.cmd == "current":
        for s in args.services:
            print(f"{s}: {current(s)}")
    elif args.cmd == "revision":
        revision(args.service, args.message)
    elif args.cmd == "check":
        return check()
    return 0


if __name__ == "__main__":
    sys.exit(main())
