"""Request ids, access logging and Prometheus metrics for the gateway."""
import logging
import os
import re
import time
import uuid

from flask import Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from common import tracing
from common.logs import request_id_var

log = logging.getLogger("gateway.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")

HTTP_REQUESTS = Counter(
    "gateway_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
HTTP_LATENCY = Histogram(
    "gateway_http_request_duration_seconds", "HTTP request latency", ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


def _begin():
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
    request_id_var.set(g.request_id)
    g.started = time.perf_counter()
    if tracing.configure("gateway"):
        _begin_span()


def _begin_span():
    """The request's server span, current until the request ends (its RPC
    calls are children). A caller's traceparent header is its parent."""
    parent = request.headers.get("traceparent")
    span = tracing.start_span(f"{request.method} {request.url_rule.rule if request.url_rule else request.path}",
                              scope="gateway", kind="server", parent=parent or None,
                              attributes={"http.request.method": request.method, "url.path": request.path,
                                          "edt.request_id": g.request_id})
    g.trace_span, g.trace_token = span, tracing.attach(span)


def _end_span(error=None):
    span = g.pop("trace_span", None)
    if span is not None:
        tracing.detach(g.pop("trace_token"))
        status = g.pop("trace_status", None)
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        tracing.end(span, error if status is None or status >= 500 else None)


def _end(response):
    if "trace_span" in g:
        g.trace_status = response.status_code
    response.headers["X-Request-ID"] = g.get("request_id", "-")
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    HTTP_REQUESTS.labels(request.method, endpoint, response.status_code).inc()
    HTTP_LATENCY.labels(request.method, endpoint).observe(elapsed)
    log.info("%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed * 1000)
    return response


def metrics_view():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def register(app):
    app.before_request(_begin)
    app.after_request(_end)
    app.teardown_request(_end_span)
    app.add_url_rule("/metrics", "metrics", metrics_view)
