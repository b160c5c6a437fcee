"""HTTP tests drive one running platform per test session (see tests/suite.py).
Each test that needs a clean slate makes its own units with `fresh_unit`."""
import pytest

from tests.suite import ADMIN_PASSWORD, DEMO_PASSWORD, start_suite


@pytest.fixture(scope="session")
def suite():
    with start_suite() as s:
        s.admin_token = s.login("admin", ADMIN_PASSWORD)
        s.demo_password = DEMO_PASSWORD
        yield s


@pytest.fixture
def admin_token(suite):
    return suite.admin_token


@pytest.fixture
def fresh_unit(suite):
    """A newly registered unit: {account, password, token, unit}."""
    return suite.new_unit(suite.admin_token)


@pytest.fixture
def other_unit(suite):
    """A second unit, for proving one unit cannot see another's data."""
    return suite.new_unit(suite.admin_token)
