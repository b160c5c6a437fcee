"""Throwaway databases for storage tests: a SQLite file, or a fresh
PostgreSQL database created on the local server and dropped afterwards."""
import contextlib
import os
import uuid

from sqlalchemy import create_engine, text

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def postgres_database():
    name = "edt_test_" + uuid.uuid4().hex[:10]
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def sqlite_database(tmp_path):
    yield f"sqlite:///{tmp_path}/test-{uuid.uuid4().hex[:6]}.db"


@contextlib.contextmanager
def schema_engine(url, metadata):
    """An engine on `url` with the tables of `metadata` created, disposed after."""
    from common.db import make_engine

    engine = make_engine(url)
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()
