"""Prometheus metrics of the Nameko services.

Every entrypoint call is counted and timed by the `EntrypointMetrics`
dependency (part of every PlatformService). Services have no HTTP port of
their own, so with METRICS_PORT set each instance serves /metrics on it
(k8s: a scrape annotation); without it, metrics are collected but not served.
Domain metrics (events appended, published, lag) are defined here too, so one
module lists everything a dashboard can read."""
import time
import weakref

from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge, Histogram, start_http_server

RPC_CALLS = Counter(
    "service_entrypoint_calls_total", "Entrypoint calls (RPC, events, timers)",
    ["service", "method", "outcome"])
RPC_LATENCY = Histogram(
    "service_entrypoint_duration_seconds", "Entrypoint duration", ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
EVENTS_APPENDED = Counter("declarations_events_appended_total", "Events appended to the log", ["type"])
EVENTS_PUBLISHED = Counter("declarations_events_published_total", "Events published by the relay", ["type"])
RELAY_LAG = Gauge(
    "declarations_relay_lag_events",
    "Events in the log not yet published (reported by the lease holder; 0 on a standby)")
RELAY_LEASE_HELD = Gauge(
    "declarations_relay_lease_held", "1 while this instance's relay holds the lease and publishes")
CONSUMER_LAG = Gauge(
    "consumer_lag_events",
    "Events published (the log head the relay announced) but not yet applied by this instance",
    ["consumer"])
LOG_EPOCH = Gauge(
    "declarations_log_epoch", "The epoch of the declaration log (advanced by a restore), as the relay last read it")
CONSUMER_DROPPED = Counter(
    "consumer_messages_dropped_total",
    "Messages a consumer dropped instead of applying: of another log, an older or newer epoch, unmarked, "
    "or before it knew which log it follows (it catches up from the log instead)",
    ["consumer", "reason"])
CONSUMER_RESETS = Counter(
    "consumer_log_resets_total",
    "Times a consumer emptied its projection to follow another log, or an epoch that does not share its state",
    ["consumer"])
CONSUMER_FOLLOWING = Gauge(
    "consumer_following_log",
    "1 while a consumer follows the log's current identity and epoch; 0 while it does not know it or "
    "catches up after a change of log or epoch", ["consumer"])
QUEUE_MESSAGES = Gauge(
    "broker_queue_messages",
    "Messages waiting in a queue fed by the relay (the platform's and RELAY_SUBSCRIBER_QUEUES), "
    "as the publishing relay last looked (every 10 s)", ["queue"])
QUEUE_CONSUMERS = Gauge(
    "broker_queue_consumers", "Consumers of a queue fed by the relay, as the publishing relay last looked", ["queue"])
SERVICE_UP = Gauge("service_instance_up", "1 in every running instance of a service", ["service"])
BATCHES_OPEN = Gauge("declarations_batches_open", "Batches queued or in work, as a batch worker last saw")
BATCHES_PROCESSED = Counter(
    "declarations_batches_processed_total", "Batches a batch worker ended (finished or failed), or lost",
    ["outcome"])
CONSUMER_DELAY = Histogram(
    "consumer_apply_delay_seconds", "From an event's commit until a consumer applied it", ["consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))

_served = False


class EntrypointMetrics(DependencyProvider):
    def __init__(self):
        self.started = weakref.WeakKeyDictionary()

    def setup(self):
        global _served
        SERVICE_UP.labels(self.container.service_name).set(1)
        port = self.container.config.get("METRICS_PORT")
        if port and not _served:
            start_http_server(int(port))
            _served = True

    def worker_setup(self, worker_ctx):
        self.started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        service = self.container.service_name
        method = worker_ctx.entrypoint.method_name
        outcome = "ok" if exc_info is None else type(exc_info[1]).__name__
        RPC_CALLS.labels(service, method, outcome).inc()
        started = self.started.pop(worker_ctx, None)
        if started is not None:
            RPC_LATENCY.labels(service, method).observe(time.perf_counter() - started)
