"""One enrolment is one trace (issue 20 point 1): the suite runs with the
OTLP exporter switched on by the standard OTEL_* variables, pointed at a
collector in this test (OTLP over HTTP/protobuf, kept in memory), and the
spans of the gateway's request, the declarations entrypoint and its SQL, the
append, the relay's publish and residents' apply share one trace id. A batch
is one trace too, with a span per phase. And with the variables unset,
nothing is set up."""
import gzip
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from common import tracing
from tests import fixtures_xlsx as fx, waiting
from tests.factories import enrolment
from tests.suite import ADMIN_PASSWORD, start_suite

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Collector:
    """An OTLP/HTTP trace receiver: every span exported, with its process's
    service.name and its instrumentation scope."""

    def __init__(self):
        self.spans = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = self.headers.get("Content-Encoding")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                collector.receive(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def receive(self, body):
        request = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            for resource_spans in request.resource_spans:
                service = next((a.value.string_value for a in resource_spans.resource.attributes
                                if a.key == "service.name"), None)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append({
                            "service": service, "scope": scope_spans.scope.name, "name": span.name,
                            "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "attributes": {a.key: a.value for a in span.attributes}})

    def trace(self, trace_id):
        with self.lock:
            return [s for s in self.spans if s["trace_id"] == trace_id]

    def find(self, **wanted):
        with self.lock:
            return [s for s in self.spans if all(s[k] == v for k, v in wanted.items())]

    def close(self):
        self.server.shutdown()


def wait_for(check, message, cap=120):
    return waiting.wait_until(check, message, cap)


@pytest.fixture(scope="module")
def traced():
    collector = Collector()
    env = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
           "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_BSP_SCHEDULE_DELAY": "200"}
    try:
        with start_suite(env) as suite:
            suite.admin_token = suite.login("admin", ADMIN_PASSWORD)
            yield suite, collector
    finally:
        collector.close()


def summary(spans):
    return sorted(f"{s['service']}/{s['scope']}/{s['name']}" for s in spans)


def test_one_enrolment_is_one_trace_from_the_gateway_to_residents(traced):
    suite, collector = traced
    unit = suite.new_unit(suite.admin_token)
    body = enrolment(8_100_001)
    r = suite.api("POST", "/api/declarations/enrolment", unit["token"], json=body)
    assert r.status_code == 201, r.text

    request = wait_for(lambda: collector.find(service="gateway", name="POST /api/declarations/enrolment"),
                       "no span of the gateway's request")[0]
    trace_id = request["trace_id"]

    def whole():
        spans = collector.trace(trace_id)
        names = {(s["service"], s["name"]) for s in spans}
        wanted = {("gateway", "declarations.enrol"), ("declarations", "declarations.enrol"),
                  ("declarations", "eventlog append"), ("declarations", "declarations.events publish"),
                  ("residents", "residents.on_declaration_event")}
        return spans if wanted <= names else None

    spans = wait_for(whole, lambda: "the trace is not whole: " + "; ".join(summary(collector.trace(trace_id))))
    services = {s["service"] for s in spans}
    assert {"gateway", "declarations", "residents"} <= services
    assert any(s["scope"] == "sqlalchemy" and s["service"] == "declarations" for s in spans)  # its SQL
    # Parent links: each step a child of the one before it, across processes.
    by_id = {s["span_id"]: s for s in spans}

    def parent_of(span):
        return by_id.get(span["parent"])

    entry = next(s for s in spans if s["service"] == "declarations" and s["name"] == "declarations.enrol")
    assert parent_of(entry)["name"] == "declarations.enrol" and parent_of(entry)["service"] == "gateway"
    assert parent_of(parent_of(entry))["span_id"] == request["span_id"]
    append = next(s for s in spans if s["name"] == "eventlog append")
    publish = next(s for s in spans if s["name"] == "declarations.events publish")
    apply = next(s for s in spans if s["name"] == "residents.on_declaration_event")
    assert publish["parent"] == append["span_id"]
    assert apply["parent"] == publish["span_id"]
    assert publish["scope"] == "services.declarations.relay"
    assert publish["attributes"]["edt.log.position"].int_value >= 1


def test_a_batch_is_one_trace_with_a_span_per_phase(traced):
    suite, collector = traced
    unit = suite.new_unit(suite.admin_token)
    content = fx.filled("enrolment", [fx.enrolment_row(fx.id_number(i, region="350582")) for i in range(5)])
    r = suite.api("POST", "/api/batches?business_type=enrolment", unit["token"],
                  files={"file": ("参保名单.xlsx", content, XLSX)})
    assert r.status_code == 202, r.text
    done = suite.wait_batch(unit["token"], r.json()["batch_no"])
    assert done["succeeded"] == 5, done

    upload = wait_for(lambda: collector.find(service="gateway", name="POST /api/batches"), "no upload span")[0]

    def whole():
        spans = collector.trace(upload["trace_id"])
        names = {s["name"] for s in spans}
        wanted = {"batch", "batch read", "batch decide", "batch commit", "eventlog append",
                  "declarations.events publish", "residents.on_declaration_event"}
        return spans if wanted <= names and sum(s["name"] == "residents.on_declaration_event"
                                                 for s in spans) == 5 else None

    spans = wait_for(whole, lambda: "the batch's trace is not whole: "
                     + "; ".join(summary(collector.trace(upload["trace_id"]))))
    batch = next(s for s in spans if s["name"] == "batch")
    phases = [s for s in spans if s["name"] in ("batch read", "batch decide", "batch commit")]
    assert len(phases) == 3 and all(p["parent"] == batch["span_id"] for p in phases)
    assert sum(s["name"] == "declarations.events publish" for s in spans) == 5


def test_tracing_is_off_unless_the_variables_ask_for_it(monkeypatch):
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                 "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing.wanted()
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing.wanted({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"})
    # Off in this process: the no-op context, nothing injected.
    assert not tracing.enabled()
    assert tracing.span("x") is tracing.span("y")
    assert tracing.inject({}) == {} and tracing.traceparent() is None
