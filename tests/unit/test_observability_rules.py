"""deploy/observability/: the alert rules pass `promtool check rules` and
their own `promtool test rules`; the Grafana dashboard is JSON that
round-trips and has the shape Grafana imports (unique panel ids, a grid of
24 columns without overlaps, a Prometheus query in every target); every
metric the rules and panels name is defined by the code. (That the running
suite serves each of them: tests/http/test_observability_metrics.py.)

promtool is Debian's `prometheus` package, installed by `make test-setup`
(deploy/promtool.py)."""
import json
import os
import re
import shutil
import subprocess

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIR = os.path.join(ROOT, "deploy", "observability")
RULES = os.path.join(DIR, "alerts.yml")
RULE_TESTS = os.path.join(DIR, "alerts_test.yml")
DASHBOARD = os.path.join(DIR, "edt-dashboard.json")

# PromQL words that are not metric names.
PROMQL = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "group", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
    "offset", "rate", "irate", "increase", "delta", "idelta", "deriv", "histogram_quantile", "absent",
    "absent_over_time", "min_over_time", "max_over_time", "avg_over_time", "sum_over_time",
    "count_over_time", "last_over_time", "vector", "scalar", "time", "clamp_min", "clamp_max", "abs",
    "round", "ceil", "floor", "label_replace", "predict_linear", "changes", "resets", "timestamp", "inf", "nan",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def metric_names(expr):
    """The metric names an expression reads: its identifiers less label
    matchers, grouping labels, durations, strings and PromQL's own words."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    expr = re.sub(r"\$__\w+", "", expr)  # Grafana's variables
    names = set(re.findall(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*(?![\w(])", expr))
    return {n for n in names if n not in PROMQL and not re.fullmatch(r"\d+[smhdwy]", n)}


def rules():
    with open(RULES) as f:
        return yaml.safe_load(f)


def dashboard():
    with open(DASHBOARD, encoding="utf-8") as f:
        return json.load(f)


def used_metrics():
    """{metric name: [where]} over every alert and panel."""
    used = {}
    for group in rules()["groups"]:
        for rule in group["rules"]:
            for name in metric_names(rule["expr"]):
                used.setdefault(name, []).append(f"alert {rule['alert']}")
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            for name in metric_names(target["expr"]):
                used.setdefault(name, []).append(f"panel {panel['title']}")
    return used


def family(name):
    """The name a metric is defined under in prometheus_client."""
    for suffix in HISTOGRAM_SUFFIXES + ("_total",):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def promtool():
    path = shutil.which("promtool")
    assert path, "promtool is missing: `make test-setup` installs it (deploy/promtool.py)"
    return path


def test_promtool_checks_the_rules():
    r = subprocess.run([promtool(), "check", "rules", RULES], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_the_alerts_fire_on_made_up_series():
    r = subprocess.run([promtool(), "test", "rules", os.path.basename(RULE_TESTS)], cwd=DIR,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_alert_has_a_severity_and_says_what_to_do():
    for group in rules()["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
            assert rule["alert"].startswith("Edt"), rule["alert"]


def test_the_dashboard_round_trips_and_has_grafanas_shape():
    with open(DASHBOARD, encoding="utf-8") as f:
        text = f.read()
    board = json.loads(text)
    assert json.loads(json.dumps(board, ensure_ascii=False)) == board
    for key, kind in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list),
                      ("templating", dict), ("time", dict)):
        assert isinstance(board[key], kind), key
    assert board["templating"]["list"][0]["type"] == "datasource"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) and grid[k] >= 0 for k in "hwxy"), panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel["type"] in ("timeseries", "stat", "barchart", "table"), panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip() and metric_names(target["expr"]), (panel["title"], target["expr"])


def test_the_dashboard_shows_what_operations_asked_for():
    titles = " | ".join(p["title"] for p in dashboard()["panels"]).lower()
    for wanted in ("requests per second by route", "errors", "latency p99 by route",
                   "latency p99 by service and method", "relay lag", "consumer lag", "queue depths",
                   "batch throughput", "enrolments per day"):
        assert wanted in titles, wanted


def test_every_metric_named_is_defined_in_the_code():
    sources = ""
    for path in ("common/metrics.py", "gateway/observability.py"):
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            sources += f.read()
    defined = set(re.findall(r'(?:Counter|Gauge|Histogram|Summary)\(\s*"([a-z_:][a-z0-9_:]*)"', sources))
    defined |= {family(name) for name in defined}  # a Counter may be named with or without _total
    missing = {name: where for name, where in used_metrics().items()
               if name not in defined and family(name) not in defined}
    assert not missing, missing


def test_metric_names_are_read_out_of_promql():
    assert metric_names('histogram_quantile(0.99, sum by (le, service) (rate(x_bucket{a="b"}[5m])))') == {"x_bucket"}
    assert metric_names('(sum(y) or vector(0)) < 1') == {"y"}
    assert metric_names('min_over_time(max(z)[30m:1m]) > 0 and on(q) w offset 1h') == {"z", "w"}
