"""`make test` runs Hypothesis derandomized (tests/conftest.py): the same
examples on every run, no deadline, no time-based health check."""
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st


@pytest.mark.skipif(os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci", reason="another profile was asked for")
def test_the_ci_profile_is_loaded_by_default():
    assert settings.default.derandomize is True
    assert settings.default.deadline is None
    assert settings.default.database is None
    assert settings.default.print_blob is True
    assert HealthCheck.too_slow in settings.default.suppress_health_check


DRAWN = []


@settings(max_examples=10)
@given(st.integers())
def _draw(value):
    DRAWN.append(value)


@pytest.mark.skipif(os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci", reason="another profile was asked for")
def test_two_runs_draw_the_same_examples():
    DRAWN.clear()
    _draw()
    first = list(DRAWN)
    DRAWN.clear()
    _draw()
    assert DRAWN == first and first
