"""Fixtures shared by all test folders."""
import pytest

from tests.databases import postgres_database, sqlite_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh empty database URL; each test using it runs on both engines."""
    if request.param == "sqlite":
        with sqlite_database(tmp_path) as url:
            yield url
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def sqlite_url(tmp_path):
    with sqlite_database(tmp_path) as url:
        yield url


@pytest.fixture
def postgres_url():
    with postgres_database() as url:
        yield url
