"""Fixtures shared by all test folders, and the Hypothesis profile of the suite."""
import os

import pytest
from hypothesis import HealthCheck, Phase, settings

from tests.databases import postgres_database, sqlite_database

# `make test` must give the same answer on every run, on a loaded machine:
# the "ci" profile (the default) draws the same examples every time
# (derandomize: a seed fixed per test), has no per-example deadline and no
# time-based health check (a slow machine is not a failing test), keeps no
# example database between runs (which would change what is drawn), and
# prints the blob that reproduces a failure. HYPOTHESIS_PROFILE=explore
# searches with fresh random examples instead (run it by hand, not in CI).
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore",
    derandomize=False,
    deadline=None,
    print_blob=True,
    max_examples=500,
    phases=list(Phase),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that ran a suite gets the end of each of its processes'
    logs in its report: the suite's temporary directory, logs included, is
    deleted when the test ends, and a failure seen once on a loaded machine
    must be explainable from CI's output alone."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    from tests.suite import Suite  # imported late: the unit tests need no broker client

    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, Suite):
            tails = "\n".join(value.log_tail(name, 30) for name in sorted(value.commands))
            report.sections.append((f"suite process logs ({report.when})", tails))
