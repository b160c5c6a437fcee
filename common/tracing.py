"""OpenTelemetry tracing of a request's path through the platform: the
gateway's HTTP request, its RPC calls (the context travels as the
`nameko.traceparent` header, so Nameko's context data carries it on), the
service's entrypoint and its SQL statements, the event appended (its
context stored in the event's metadata), the relay's publish (a child of
the append, its own context in the message's `traceparent` header) and a
consumer's apply of the message.

Off by default, and then free: nothing is imported from the SDK, `span()`
hands back one shared no-op context manager, nothing is put in headers or
metadata and no SQLAlchemy listener is installed. It is switched on by the
standard variables of the OpenTelemetry SDK:

- `OTEL_TRACES_EXPORTER=otlp` (or `console`), or an
  `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
  (OTLP over HTTP/protobuf; the endpoint, headers, timeout and the rest are
  read by the exporter from the usual `OTEL_EXPORTER_OTLP_*` variables);
- `OTEL_SDK_DISABLED=true` keeps it off whatever else is set;
- `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` name the process
  (default: the service's name), `OTEL_TRACES_SAMPLER(_ARG)` sample,
  `OTEL_BSP_*` tune the batch span processor.
"""
import contextlib
import logging
import os
import threading

log = logging.getLogger(__name__)

TRACEPARENT = "traceparent"  # the W3C header, in message headers and stored metadata

_lock = threading.Lock()
_configured = False
_enabled = False
_NOOP = contextlib.nullcontext()


def wanted(environ=None):
    """Whether the OTEL_* variables ask for traces (without configuring)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def configure(service_name=None):
    """Set up the SDK once per process if the environment asks for it.
    Returns whether tracing is on. Safe to call often (after a fork too:
    the SDK's span processor restarts its thread in the child)."""
    global _configured, _enabled
    if _configured:
        return _enabled
    with _lock:
        if _configured:
            return _enabled
        _configured = True
        if not wanted():
            return False
        try:
            _enabled = _set_up(service_name)
        except Exception:  # tracing must never stop a process from working
            log.exception("tracing: could not be set up; running without it")
            _enabled = False
        return _enabled


def _set_up(service_name):
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    exporters = [e.strip() for e in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",")]
    attributes = {"service.name": service_name} if service_name and not os.environ.get("OTEL_SERVICE_NAME") else {}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in exporters:
        if name == "otlp":
            protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                                      os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"))
            if protocol != "http/protobuf":
                log.warning("tracing: OTLP protocol %s is not installed; using http/protobuf", protocol)
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif name != "none":
            log.warning("tracing: unknown exporter %r ignored", name)
    trace.set_tracer_provider(provider)
    _instrument_sqlalchemy()
    log.info("tracing: on (%s), service %s", ",".join(exporters),
             provider.resource.attributes.get("service.name"))
    return True


def enabled():
    return _enabled


def shutdown():
    """Export what is buffered (at a process's end)."""
    if _enabled:
        from opentelemetry import trace

        provider = trace.get_tracer_provider()
        getattr(provider, "shutdown", lambda: None)()


def flush():
    """Export what is buffered now (a container stopping)."""
    if _enabled:
        from opentelemetry import trace

        getattr(trace.get_tracer_provider(), "force_flush", lambda: None)()


def tracer(scope):
    from opentelemetry import trace

    return trace.get_tracer(scope)


def _kind(name):
    from opentelemetry.trace import SpanKind

    return getattr(SpanKind, name.upper())


def span(name, scope="edt", kind="internal", attributes=None, parent=None):
    """A context manager: a span as a child of the current one (or of
    `parent`, a traceparent string or a carrier dict), current inside the
    block. The no-op context when tracing is off."""
    if not _enabled:
        return _NOOP
    return tracer(scope).start_as_current_span(
        name, context=context_of(parent) if parent is not None else None,
        kind=_kind(kind), attributes=attributes)


def context_of(parent):
    """An OpenTelemetry Context from a traceparent string or a carrier dict
    (None when tracing is off or nothing is there)."""
    if not _enabled or not parent:
        return None
    from opentelemetry.propagate import extract

    carrier = {TRACEPARENT: parent} if isinstance(parent, str) else parent
    return extract(carrier)


def traceparent():
    """The current span's context as a traceparent string, or None."""
    if not _enabled:
        return None
    from opentelemetry.propagate import inject

    carrier = {}
    inject(carrier)
    return carrier.get(TRACEPARENT)


def inject(carrier, key=TRACEPARENT):
    """Put the current context in `carrier[key]` (when tracing is on and a
    span is current). Returns the carrier."""
    if _enabled:
        value = traceparent()
        if value:
            carrier[key] = value
    return carrier


def start_span(name, scope="edt", kind="internal", parent=None, attributes=None):
    """A started span (the caller ends it), not made current; None when
    tracing is off."""
    if not _enabled:
        return None
    return tracer(scope).start_span(name, context=context_of(parent), kind=_kind(kind), attributes=attributes)


def attach(span_):
    """Make `span_` current; returns the token for `detach`."""
    from opentelemetry import context, trace

    return context.attach(trace.set_span_in_context(span_))


def detach(token):
    from opentelemetry import context

    context.detach(token)


def end(span_, error=None):
    if span_ is None:
        return
    if error is not None:
        from opentelemetry.trace import Status, StatusCode

        span_.record_exception(error)
        span_.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span_.end()


def start_publish_span(stored, event, headers):
    """The relay's span for publishing `event`: a child of the context its
    append stored (`stored`, a traceparent), whose own context goes in the
    message's headers, so the consumer's apply joins the trace. None when
    tracing is off or the event has no stored context (appended while
    tracing was off)."""
    if not _enabled or not stored:
        return None
    span_ = start_span("declarations.events publish", scope="services.declarations.relay", kind="producer",
                       parent=stored, attributes={
                           "messaging.system": "rabbitmq", "messaging.destination.name": "declarations.events",
                           "messaging.rabbitmq.destination.routing_key": event["type"],
                           "edt.log.position": event["position"], "edt.event.type": event["type"]})
    from opentelemetry import trace
    from opentelemetry.propagate import inject as inject_

    inject_(headers, context=trace.set_span_in_context(span_))
    return span_


def _instrument_sqlalchemy():
    """A span per SQL statement run while a span is current (those of a
    traced request, entrypoint or apply; not the relay's idle polls)."""
    from opentelemetry import trace
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    sql_tracer = trace.get_tracer("sqlalchemy")

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        if context is None or not trace.get_current_span().get_span_context().is_valid:
            return
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        context._edt_span = sql_tracer.start_span(
            f"db {verb}", kind=trace.SpanKind.CLIENT,
            attributes={"db.system": conn.dialect.name, "db.statement": statement[:500]})

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        span_ = getattr(context, "_edt_span", None)
        if span_ is not None:
            context._edt_span = None
            span_.end()

    @event.listens_for(Engine, "handle_error")
    def _error(exception_context):
        span_ = getattr(exception_context.execution_context, "_edt_span", None)
        if span_ is not None:
            exception_context.execution_context._edt_span = None
            end(span_, exception_context.original_exception)
