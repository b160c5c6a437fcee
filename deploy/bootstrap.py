"""Prepare the embedded databases and seed the demo data, once.

Creates every service's tables (SQLite files under var/ by default) and, if
they do not exist yet, the demo community unit `demo` and the admin `admin`,
plus anything each service seeds (see `SEEDERS`). Safe to run again."""
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sqlalchemy.orm import Session  # noqa: E402

from common.config import service_config  # noqa: E402
from common.credit_code import check_character  # noqa: E402
from common.db import make_engine  # noqa: E402
from gateway.settings import SERVICES  # noqa: E402

DEMO_UNIT = "泉州市丰泽区东海街道东海社区居民委员会"
DEMO_CREDIT_17 = "57350503MA2Y8K3Q0"
DEMO_CREDIT = DEMO_CREDIT_17 + check_character(DEMO_CREDIT_17)
DEFAULT_DEMO_PASSWORD = "Demo@2026"
DEFAULT_ADMIN_PASSWORD = "Admin@2026"


def engine_for(service):
    return make_engine(service_config(service)["DATABASE_URL"])


def create_schemas():
    for service in SERVICES:
        models = importlib.import_module(f"services.{service}.models")
        engine = engine_for(service)
        models.Base.metadata.create_all(engine)
        engine.dispose()


def seed_auth(demo_password, admin_password):
    from services.auth import accounts
    from services.auth.store import AuthStore

    engine = engine_for("auth")
    created = []
    with Session(engine) as session:
        store = AuthStore(session)
        if store.account("demo") is None:
            accounts.create_unit(store, DEMO_UNIT, "demo", DEMO_CREDIT, demo_password)
            created.append("demo")
        if store.account("admin") is None:
            accounts.create_account(store, "admin", admin_password, "admin")
            created.append("admin")
    engine.dispose()
    return created


def run_seeders():
    """Each service may offer `seed.seed(engine)`; it must be idempotent."""
    for service in SERVICES:
        try:
            seed = importlib.import_module(f"services.{service}.seed")
        except ModuleNotFoundError:
            continue
        engine = engine_for(service)
        seed.seed(engine)
        engine.dispose()


def main():
    demo_password = os.environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD
    admin_password = os.environ.get("ADMIN_PASSWORD") or DEFAULT_ADMIN_PASSWORD
    create_schemas()
    created = seed_auth(demo_password, admin_password)
    run_seeders()
    port = os.environ.get("PORT", "8000")
    print("=" * 64)
    print(f" 泉州居民E点通 portal:   http://localhost:{port}/")
    print(f" API document:          http://localhost:{port}/api/openapi.json")
    if "demo" in created:
        shown = "(from DEMO_PASSWORD)" if os.environ.get("DEMO_PASSWORD") else demo_password
        print(f" demo unit login:       account demo, password {shown}")
    else:
        print(" demo unit login:       account demo (already seeded; password unchanged)")
    if "admin" in created:
        shown = "(from ADMIN_PASSWORD)" if os.environ.get("ADMIN_PASSWORD") else admin_password
        print(f" admin login:           account admin, password {shown}")
    else:
        print(" admin login:           account admin (already seeded)")
    print(" Stop everything with Ctrl-C.")
    print("=" * 64)


if __name__ == "__main__":
    main()
