"""Publishing audit records to the audit service, with publisher confirms.

One AuditPublisher per process (the gateway makes one per gunicorn worker,
started after the fork on first use). Callers hand it records; a background
thread of its own sends what has gathered as one persistent message
({"records": [...]}) on the `audit` exchange, waits for the broker's
confirm, and then tells every caller of that message: so concurrent
requests share one publish and one confirm, and a caller who waits knows
that its record is on the broker's disk (the queue is durable).

    ticket = publisher.submit(record)   # never blocks
    ticket.wait(5)                      # True once confirmed, False if not (yet)
    publisher.ready()                   # connected, and the audit service consumes

What a caller does with a failure is its business (the gateway refuses
answers that carry personal data, see gateway/audit.py). A record that was
not confirmed stays in the publisher's memory and is sent again once the
broker is back (each record has an id; the audit service stores an id
once), up to `max_pending` records, beyond which the oldest are dropped
and logged. `ready()` also asks the broker, every `check_interval`
seconds, whether the audit queue has a consumer: while the audit service
is down the gateway fails closed even though the queue would keep the
records.

Use `record(...)` to build a record in the shape the audit service stores
(services/audit/chain.py)."""
import atexit
import collections
import itertools
import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime

import orjson
from amqp import Message
from kombu import Connection

from common.queues import (  # noqa: F401 (re-exported)
    AUDIT_EXCHANGE_NAME,
    AUDIT_QUEUE_NAME,
    AUDIT_ROUTING_KEY,
    audit_exchange,
    audit_queue,
)

log = logging.getLogger(__name__)

PERSISTENT = 2


def record(action, outcome="success", *, account=None, role=None, unit_id=None, address=None,
           request_id=None, object=None, at=None):  # noqa: A002 (the record's field is called object)
    """An audit record: a fresh id, the time now (UTC) unless given."""
    return {
        "id": uuid.uuid4().hex,
        "at": (at or datetime.now(UTC)).isoformat(),
        "account": account, "role": role, "unit_id": unit_id, "address": address,
        "request_id": request_id, "action": action, "object": object or {}, "outcome": outcome,
    }


_INT_RANGE = (-(2 ** 63), 2 ** 64)  # what orjson encodes as a number


def encodable(value):
    """`value` as orjson can encode it: an integer beyond 64 bits (a query
    parameter of a hostile request, say) becomes its text, and so does a
    dict key that is not a string. Without this one such record would be
    refused by the encoder at every attempt and hold back every record
    queued behind it (and with them every read of personal data)."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return value if _INT_RANGE[0] <= value < _INT_RANGE[1] else str(value)
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): encodable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encodable(v) for v in value]
    return value


class Ticket:
    """A submitted record's fate: `wait(timeout)` is True once the broker
    confirmed its message, False when publishing failed or time ran out."""

    __slots__ = ("record", "_done", "ok")

    def __init__(self, record_):
        self.record = record_
        self._done = threading.Event()
        self.ok = False

    def settle(self, ok):
        self.ok = ok
        self._done.set()

    def wait(self, timeout):
        self._done.wait(timeout)
        return self.ok


class AuditPublisher:
    def __init__(self, amqp_uri, batch=500, max_pending=100_000, check_interval=1.0,
                 confirm_timeout=10.0, heartbeat=10):
        self.amqp_uri = amqp_uri
        self.batch = batch
        self.max_pending = max_pending
        self.check_interval = check_interval
        self.confirm_timeout = confirm_timeout
        self.heartbeat = heartbeat
        self._pending = collections.deque()  # tickets not yet confirmed
        self._cond = threading.Condition()
        self._connected = False
        self._consumers = 0
        self._checked = 0.0  # monotonic time of the last consumer check
        self._checks = 0  # consumer checks made since the thread started
        self._failures = 0  # connections lost or refused since the thread started
        self._pid = None
        self._thread = None
        self._stop = threading.Event()
        self.published = 0  # records confirmed by this process (tests, metrics)
        self.dropped = 0

    # callers
    def submit(self, record_):
        """Queue `record_` for publishing; returns its Ticket at once. While
        the broker is unreachable the ticket fails at once (the record
        stays queued and is sent when the broker is back)."""
        self._ensure_thread()
        ticket = Ticket(encodable(record_))
        with self._cond:
            if len(self._pending) >= self.max_pending:
                lost = self._pending.popleft()
                lost.settle(False)
                self.dropped += 1
                log.error("audit: %s records waiting for the broker; dropped record %s (%s)",
                          self.max_pending, lost.record.get("id"), lost.record.get("action"))
            self._pending.append(ticket)
            connected = self._connected
            self._cond.notify()
        if not connected:
            ticket.ok = False
            ticket._done.set()
        return ticket

    def publish(self, record_, timeout):
        """Submit and wait: True once confirmed."""
        return self.submit(record_).wait(timeout)

    def ready(self):
        """Whether a record published now would be confirmed and consumed:
        the connection is up, and the audit queue had a consumer at a
        check made in the last few check intervals."""
        self._ensure_thread()
        fresh = time.monotonic() - self._checked < max(3 * self.check_interval, 3.0)
        return self._connected and self._consumers > 0 and fresh

    def wait_ready(self, timeout):
        """ready(), waiting up to `timeout` seconds while the publisher is
        starting (a fresh process's first connection and consumer check),
        so the first reads after a start are not refused for that alone."""
        self._ensure_thread()
        deadline = time.monotonic() + timeout
        while not self.ready() and self._checks == 0 and self._failures == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.ready()

    def withhold(self, ticket, outcome="withheld"):
        """Change the outcome of a record that is still waiting to be sent
        (its caller refused the answer it was about)."""
        with self._cond:
            if not ticket.ok:
                ticket.record["outcome"] = outcome

    def pending(self):
        return len(self._pending)

    def drain(self, timeout):
        """Wait up to `timeout` seconds for every queued record to be sent
        (a process that exits gives its last records that long)."""
        deadline = time.monotonic() + timeout
        while self._pending and self._connected and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self._pending

    # the publishing thread
    def _ensure_thread(self):
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._cond:
            if self._pid == pid:
                return
            # first use in this process (gunicorn forks workers after the app is made)
            self._pid = pid
            self._connected = False
            self._checks = self._failures = 0
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, name="audit-publisher", daemon=True)
            self._thread.start()
            atexit.register(self.drain, 5)

    def start(self):
        self._ensure_thread()
        return self

    def stop(self, timeout=5):
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pid = None

    def _run(self):
        backoff = 0.2
        while not self._stop.is_set():
            try:
                self._serve()
                backoff = 0.2
            except Exception as exc:  # the broker went away, or never came
                self._failures += 1
                log.warning("audit publisher lost the broker (%s: %s); retrying", type(exc).__name__, exc)
            finally:
                with self._cond:
                    self._connected = False
                    self._consumers = 0
                    for ticket in self._pending:  # callers waiting now learn it failed
                        if not ticket._done.is_set():
                            ticket.settle(False)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 3.0)

    def _serve(self):
        with Connection(self.amqp_uri, heartbeat=self.heartbeat, connect_timeout=5,
                        transport_options={"confirm_publish": True}) as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.channel()
            audit_queue()(channel).declare()
            self._check_consumers(channel)
            with self._cond:
                self._connected = True
            log.info("audit publisher connected")
            while not self._stop.is_set():
                with self._cond:
                    if not self._pending:
                        self._cond.wait(self.check_interval)
                    tickets = list(itertools.islice(self._pending, self.batch))
                if tickets:
                    self._send(channel, tickets)
                if time.monotonic() - self._checked >= self.check_interval:
                    self._check_consumers(channel)
                    conn.heartbeat_check()

    def _send(self, channel, tickets):
        # py-amqp directly (kombu's Producer costs more per message than the
        # record itself); the connection's confirm_publish makes basic_publish
        # wait for the broker's confirm, raising on a nack or a timeout.
        with self._cond:
            body = orjson.dumps({"records": [t.record for t in tickets]}, default=str)
        message = Message(body, content_type="application/json", content_encoding="utf-8",
                          delivery_mode=PERSISTENT, message_id=uuid.uuid4().hex,
                          application_headers={"records": len(tickets)})
        channel.basic_publish(message, exchange=AUDIT_EXCHANGE_NAME, routing_key=AUDIT_ROUTING_KEY,
                              confirm_timeout=self.confirm_timeout)
        sent = {id(t) for t in tickets}
        with self._cond:
            # They are the front of the queue (less any a full queue dropped meanwhile).
            while self._pending and id(self._pending[0]) in sent:
                self._pending.popleft()
            for ticket in tickets:
                ticket.settle(True)
            self.published += len(tickets)

    def _check_consumers(self, channel):
        _name, _messages, consumers = channel.queue_declare(queue=AUDIT_QUEUE_NAME, passive=True)
        self._consumers = consumers
        self._checked = time.monotonic()
        self._checks += 1
