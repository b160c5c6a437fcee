"""Every metric that an alert rule or a dashboard panel of
deploy/observability/ names is served by the running suite: the gateway's
/metrics and each Nameko process's METRICS_PORT (labelled metrics count
from their first # TYPE line, before any sample)."""
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.test_observability_rules import HISTOGRAM_SUFFIXES, used_metrics

pytestmark = pytest.mark.http


def served_names(text):
    """Every name a scrape of `text` gives Prometheus: sample names, and for
    a family without samples yet the names its type implies."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names |= {sample.name for sample in family.samples}
        if family.type == "counter":
            names |= {family.name + "_total", family.name + "_created"}
        elif family.type == "histogram":
            names |= {family.name + suffix for suffix in HISTOGRAM_SUFFIXES}
    return names


def test_every_metric_of_the_alerts_and_the_dashboard_is_served(suite, fresh_unit):
    # One declaration, so that the flow's metrics have moved at least once.
    from tests.factories import enrolment

    r = suite.api("POST", "/api/declarations/enrolment", fresh_unit["token"], json=enrolment(8_300_001))
    assert r.status_code == 201, r.text
    served = served_names(requests.get(f"{suite.url}/metrics", timeout=30).text)
    for port in suite.metrics_ports.values():
        served |= served_names(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text)
    missing = {name: where for name, where in used_metrics().items() if name not in served}
    assert not missing, f"named by alerts or panels but served by no process: {missing}"
