"""How the audit service takes records off its queue.

A managed green thread of the service consumes `audit.records` on a
connection of its own with a prefetch of AUDIT_PREFETCH messages, stores
what arrives within AUDIT_BATCH_WAIT seconds of a first message in one
transaction (trail.record:
chained, each record id once), and only then acknowledges those messages.
A crash or a database error before the commit leaves them unacknowledged:
the broker delivers them again and the ids already stored are dropped. The
queue is single-active-consumer, so of several audit instances one chains
while the others stand by."""
import logging
import os
import time

import eventlet
from kombu import Connection, Consumer
from nameko.extensions import DependencyProvider

from common.clock import utcnow
from common.db import Database
from common.queues import audit_queue
from services.audit import trail
from services.audit.store import AuditStore

log = logging.getLogger(__name__)


def records_of(body):
    """The records a message carries ({"records": [...]}, or one record)."""
    if isinstance(body, dict):
        if isinstance(body.get("records"), list):
            return body["records"]
        return [body]
    return []


class RecordQueue(DependencyProvider):
    heartbeat = 10

    def setup(self):
        url = str(self.container.config.get("DATABASE_URL") or "")
        if os.environ.get("EDT_ENV") == "production" and (not url or url.startswith("sqlite")):
            raise SystemExit("refusing to start in production with default settings: AUDIT_DATABASE_URL")
        self.prefetch = int(self.container.config.get("AUDIT_PREFETCH") or 500)
        self.batch_wait = float(self.container.config.get("AUDIT_BATCH_WAIT") or 0.1)
        self.running = False
        self.stored = 0

    def start(self):
        self.database = next(d for d in self.container.dependencies if isinstance(d, Database))
        self.running = True
        self.container.spawn_managed_thread(self._run, identifier="audit-records")

    def stop(self):
        self.running = False

    def kill(self):
        self.running = False

    def _run(self):
        backoff = 0.5
        while self.running:
            try:
                self._consume()
                backoff = 0.5
            except Exception:
                log.warning("audit consumer stopped; starting again", exc_info=True)
            if self.running:
                eventlet.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _consume(self):
        with Connection(self.container.config["AMQP_URI"], heartbeat=self.heartbeat, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.channel()
            channel.basic_qos(0, self.prefetch, False)
            queue = audit_queue()(channel)
            queue.declare()
            arrived = []
            with Consumer(channel, [queue], callbacks=[lambda body, message: arrived.append((body, message))],
                          accept=["json"]):
                log.info("audit consumer listening on %s", queue.name)
                while self.running:
                    try:
                        conn.drain_events(timeout=1)
                    except TimeoutError:
                        conn.heartbeat_check()
                        continue
                    # What arrives in the next BATCH_WAIT seconds joins the same
                    # transaction: a transaction costs ~3 ms of CPU, a record
                    # in it ~0.1 ms (storing is off the requests' path: their
                    # records are on the broker's disk already).
                    until = time.monotonic() + self.batch_wait
                    while len(arrived) < self.prefetch:
                        left = until - time.monotonic()
                        if left <= 0:
                            break
                        try:
                            conn.drain_events(timeout=left)
                        except TimeoutError:
                            break
                    self._store(arrived)
                    arrived.clear()

    def _store(self, arrived):
        records = [r for body, _message in arrived for r in records_of(body)]
        session = self.database.Session()
        try:
            self.stored += trail.record(AuditStore(session), records, utcnow())
        finally:
            session.close()
        arrived[-1][1].ack(multiple=True)
