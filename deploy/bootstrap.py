"""Prepare the embedded databases and seed the demo data, once.

Creates every service's tables (SQLite files under var/ by default) and, if
they do not exist yet, the demo community unit `demo` (placed in 丰泽区
东海街道, as a unit registered through the API is placed) and the three
administrative accounts `admin`, `secadmin` and `auditor` (docs/security.md),
plus anything each service seeds (see `SEEDERS`). Safe to run again.

An administrative account's password comes from ADMIN_PASSWORD,
SECADMIN_PASSWORD or AUDITOR_PASSWORD; when that is unset a random one is
generated, printed once, and must be changed at first sign-in. With
ADMIN_TOTP_SECRET (base32) all three share that second-factor secret;
otherwise each enrols one at first sign-in."""
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
DEFAULT_DEMO_PASSWORD = "Donghai@2026"
# Where the demo unit is placed: its division (its credit code's region) and 乡镇/街道.
DEMO_DIVISION, DEMO_STREET = "350503", "东海街道"
# The administrative accounts seeded, with the variable of each one's password.
ADMINISTRATORS = (("admin", "ADMIN_PASSWORD", "系统管理员"), ("secadmin", "SECADMIN_PASSWORD", "安全管理员"),
                  ("auditor", "AUDITOR_PASSWORD", "审计管理员"))


def engine_for(service):
    return make_engine(service_config(service)["DATABASE_URL"])


def create_schemas():
    """Every service's tables; an existing database made by an older
    version (a table lacking a column the code now reads) stops make run
    with what to do, rather than failing later inside a service."""
    stale = []
    for service in SERVICES:
        models = importlib.import_module(f"services.{service}.models")
        engine = engine_for(service)
        models.Base.metadata.create_all(engine)
        stale += [(service, engine.url.render_as_string(hide_password=True), table, columns)
                  for table, columns in missing_columns(engine, models.Base.metadata)]
        engine.dispose()
    if stale:
        for service, url, table, columns in stale:
            print(f"{service}: {url}: table {table} lacks {', '.join(columns)}", file=sys.stderr)
        sys.exit("These databases were made by an older version of the suite. For the embedded "
                 "defaults, `make clean` removes them (the demo data is seeded again at the next "
                 "`make run`); a database to keep is upgraded with `python -m deploy.migrate upgrade`.")


def missing_columns(engine, metadata):
    """[(table, [column, ...])] of the tables in `metadata` that exist in
    the database without some of their columns (create_all adds tables,
    never columns)."""
    from sqlalchemy import inspect

    inspector = inspect(engine)
    existing = set(inspector.get_table_names())
    found = []
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        lacking = [c.name for c in table.columns if c.name not in have]
        if lacking:
            found.append((table.name, lacking))
    return found


def seed_auth(demo_password, admin_passwords, totp_secret=None):
    """Seeds what is missing; returns {account: generated password or None}."""
    from services.auth import accounts
    from services.auth.store import AuthStore

    engine = engine_for("auth")
    created = {}
    with Session(engine) as session:
        store = AuthStore(session)
        if store.account("demo") is None:
            accounts.create_unit(store, DEMO_UNIT, "demo", DEMO_CREDIT, demo_password)
            created["demo"] = None
        place_demo_unit(store)
        for account, _, _ in ADMINISTRATORS:
            if store.account(account) is None:
                password = admin_passwords.get(account)
                # a generated password (None) is shown once and must be changed at first sign-in
                answer = accounts.create_account(store, account, password, account, must_change=password is None)
                created[account] = answer.get("temporary_password")
                if totp_secret:
                    accounts.set_totp_secret(store, account, totp_secret)
    engine.dispose()
    return created


def place_demo_unit(store):
    """Give the demo unit its division and 乡镇/街道 where it has none, as a
    recorded change of the unit (who: bootstrap), as a unit registered
    through the API has them: the declarations service copies placements
    from auth's feed of unit changes, so the dashboard shows the unit under
    丰泽区 rather than 未分区. An operator's placement is left alone (a unit
    the division migration placed in 丰泽区 by its credit code gets its
    street)."""
    from common.clock import utcnow
    from common.divisions import UNASSIGNED
    from services.auth import units
    from services.auth.models import Unit

    with store.reading():
        unit_id = store.account("demo").unit_id
        unit = store.session.get(Unit, unit_id)
        division, street = unit.division or UNASSIGNED, unit.street or ""
    if division == UNASSIGNED:
        units.update_unit(store, unit_id, {"division": DEMO_DIVISION, "street": DEMO_STREET}, "bootstrap", utcnow())
    elif division == DEMO_DIVISION and not street:
        units.update_unit(store, unit_id, {"street": DEMO_STREET}, "bootstrap", utcnow())


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
    admin_passwords = {account: os.environ.get(variable) or None for account, variable, _ in ADMINISTRATORS}
    totp_secret = (os.environ.get("ADMIN_TOTP_SECRET") or "").replace(" ", "") or None
    create_schemas()
    created = seed_auth(demo_password, admin_passwords, totp_secret)
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
    for account, variable, title in ADMINISTRATORS:
        label = f"{account} login:".ljust(23)
        if account not in created:
            print(f" {label}account {account} ({title}), already seeded")
        elif created[account] is None:
            print(f" {label}account {account} ({title}), password from {variable}")
        else:
            print(f" {label}account {account} ({title}), password {created[account]} "
                  "(shown once; change it at first sign-in)")
    if any(a in created for a, _, _ in ADMINISTRATORS):
        print(" second factor:         " + ("ADMIN_TOTP_SECRET (all three)" if totp_secret
                                          else "enrolled in the portal at first sign-in"))
    print(" Stop everything with Ctrl-C.")
    print("=" * 64)


if __name__ == "__main__":
    main()
