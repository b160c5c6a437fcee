"""Integration tests run Nameko containers on the real RabbitMQ, each test on
a fresh virtual host (Nameko's `rabbit_config` fixture)."""
import pytest
from sqlalchemy.orm import Session

from common.db import make_engine


@pytest.fixture
def service_config(rabbit_config, sqlite_url):
    """Config for one service container: a private vhost and a fresh SQLite file."""
    return {**rabbit_config, "DATABASE_URL": sqlite_url, "serializer": "json"}


@pytest.fixture
def tables():
    """Create a service's tables: `tables(models.Base, url)` → an open Session."""
    engines, sessions = [], []

    def create(base, url):
        engine = make_engine(url)
        base.metadata.create_all(engine)
        engines.append(engine)
        sessions.append(Session(engine))
        return sessions[-1]

    yield create
    for s in sessions:
        s.close()
    for e in engines:
        e.dispose()
