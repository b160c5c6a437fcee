"""Every service's Alembic history builds exactly the tables of its models."""
import pytest

from deploy import migrate


@pytest.mark.parametrize("service", migrate.SERVICES)
def test_migrations_match_the_models(service, tmp_path):
    url = f"sqlite:///{tmp_path}/{service}.db"
    migrate.upgrade(service, url)
    assert migrate.differences(service, url) == []
