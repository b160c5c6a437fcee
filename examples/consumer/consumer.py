"""An example downstream consumer of the declaration events (docs/events.md).

It keeps a small table of insured persons (who is insured where, active or
suspended) in its own SQLite file, and shows the three things every consumer
of `declarations.events` needs:

1. its own durable queue, bound to the exchange, so nothing published while
   it is down is lost (the broker keeps the messages for it);
2. idempotent, in-order application: the last applied position is stored in
   the same transaction as the effects; a message at or below it is a
   duplicate and is acknowledged without effect; a message beyond it + 1
   reveals a gap, filled from `GET /api/events?after=` before applying;
3. catch-up from `GET /api/events` on start, after every reconnection to the
   broker, and every CATCHUP_SECONDS while idle (so even a lost last message
   is found).

Only the standard library, kombu and requests. Run from the repository root:

    EDT_API=http://localhost:8000 EDT_ACCOUNT=insurer EDT_PASSWORD=... \\
    python -m examples.consumer
"""
import json
import logging
import os
import signal
import sqlite3
import time
from datetime import UTC, datetime

import requests
from kombu import Connection, Exchange, Queue, binding
from kombu.mixins import ConsumerMixin

log = logging.getLogger("example-consumer")

EXCHANGE = Exchange("declarations.events", type="topic", durable=True)
PAGE = 500


# -- storage: effects and checkpoint in one transaction ------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER NOT NULL);
INSERT OR IGNORE INTO checkpoint (id, position) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS insured (
    cert_type TEXT NOT NULL, cert_no TEXT NOT NULL, name TEXT NOT NULL,
    unit_id INTEGER NOT NULL, unit_name TEXT, status TEXT NOT NULL,
    since TEXT NOT NULL, position INTEGER NOT NULL,
    PRIMARY KEY (cert_type, cert_no)
);
-- Every event applied, once: the unique position proves it.
CREATE TABLE IF NOT EXISTS applied (
    position INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
    applied_at TEXT NOT NULL
);
"""


class Store:
    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def checkpoint(self):
        return self.db.execute("SELECT position FROM checkpoint WHERE id = 1").fetchone()[0]

    def apply_run(self, events):
        """Apply the consecutive run of `events` that follows the checkpoint,
        in one transaction. Returns the number applied."""
        applied = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            position = self.checkpoint()
            for event in sorted(events, key=lambda e: e["position"]):
                if event["position"] <= position:
                    continue  # a duplicate: already applied
                if event["position"] != position + 1:
                    break  # a gap: the caller fills it first
                self._apply(event)
                position = event["position"]
                applied += 1
            self.db.execute("UPDATE checkpoint SET position = ? WHERE id = 1", (position,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return applied

    def _apply(self, event):
        person, data, unit = event["person"], event["data"], event["unit"]
        key = (person["cert_type"], person["cert_no"])
        kind = event["type"]
        if kind in ("resident_enrolled", "resident_transferred"):
            self.db.execute(
                "INSERT INTO insured VALUES (?, ?, ?, ?, ?, 'active', ?, ?) "
                "ON CONFLICT (cert_type, cert_no) DO UPDATE SET name = excluded.name, "
                "unit_id = excluded.unit_id, unit_name = excluded.unit_name, status = 'active', "
                "since = excluded.since, position = excluded.position",
                (*key, person["name"], unit["id"], unit.get("name"), event["occurred_at"], event["position"]))
        elif kind == "resident_suspended":
            self.db.execute(
                "UPDATE insured SET status = 'suspended', since = ?, position = ? "
                "WHERE cert_type = ? AND cert_no = ?", (event["occurred_at"], event["position"], *key))
        elif kind == "resident_info_changed":
            name = (data.get("after") or {}).get("name") or person["name"]
            self.db.execute("UPDATE insured SET name = ?, position = ? WHERE cert_type = ? AND cert_no = ?",
                            (name, event["position"], *key))
        # Any other type: nothing to do here, but its position is taken.
        self.db.execute("INSERT INTO applied VALUES (?, ?, ?, ?)", (
            event["position"], event["event_id"], kind, datetime.now(UTC).isoformat()))


# -- the log over HTTP -----------------------------------------------------------

class EventsApi:
    """GET /api/events with a downstream (or admin) account."""

    def __init__(self, base_url, account, password, timeout=30):
        self.base_url = base_url.rstrip("/")
        self.account, self.password = account, password
        self.timeout = timeout
        self.token = None

    def _login(self):
        r = requests.post(f"{self.base_url}/api/auth/login", timeout=self.timeout,
                          json={"account": self.account, "password": self.password})
        r.raise_for_status()
        self.token = r.json()["token"]

    def events_after(self, after, limit=PAGE):
        for _ in range(2):
            if self.token is None:
                self._login()
            r = requests.get(f"{self.base_url}/api/events", params={"after": after, "limit": limit},
                             headers={"Authorization": f"Bearer {self.token}"}, timeout=self.timeout)
            if r.status_code == 401:  # expired or revoked: log in again
                self.token = None
                continue
            r.raise_for_status()
            return r.json()["items"]
        raise RuntimeError("could not log in to the events API")


# -- following the log ---------------------------------------------------------------

class Follower:
    def __init__(self, store, api):
        self.store, self.api = store, api

    def catch_up(self):
        total = 0
        while True:
            events = self.api.events_after(self.store.checkpoint())
            if not events:
                return total
            applied = self.store.apply_run(events)
            total += applied
            if not applied:
                raise RuntimeError("the events API returned no event after the checkpoint")

    def receive(self, event):
        """One message from the broker; returns how many events it applied."""
        position = self.store.checkpoint()
        if event["position"] <= position:
            log.info("duplicate %s (checkpoint %s), acknowledged", event["position"], position)
            return 0
        events = [event]
        if event["position"] > position + 1:
            log.info("gap before %s (checkpoint %s): filling from the API", event["position"], position)
            events = self._range(position, event["position"] - 1) + [event]
        return self.store.apply_run(events)

    def _range(self, after, upto):
        events = []
        while after < upto:
            batch = [e for e in self.api.events_after(after, min(PAGE, upto - after)) if e["position"] <= upto]
            if not batch:
                break
            events += batch
            after = batch[-1]["position"]
        return events


class Consumer(ConsumerMixin):
    def __init__(self, connection, queue, follower, catchup_seconds=30):
        self.connection = connection
        self.queue = queue
        self.follower = follower
        self.catchup_seconds = catchup_seconds
        self.last_catch_up = 0.0

    def get_consumers(self, consumer_cls, channel):
        return [consumer_cls(queues=[self.queue], callbacks=[self.on_message],
                             accept=["json"], prefetch_count=100)]

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        # After every (re)connection: whatever the queue missed, the log has.
        self._catch_up()

    def on_iteration(self):
        if time.monotonic() - self.last_catch_up > self.catchup_seconds:
            self._catch_up()

    def _catch_up(self):
        try:
            applied = self.follower.catch_up()
            if applied:
                log.info("caught up %s events from the API", applied)
        except Exception as error:  # the gateway may be down: the broker still works
            log.warning("catch-up failed: %s", error)
        self.last_catch_up = time.monotonic()

    def on_message(self, body, message):
        event = body if isinstance(body, dict) else json.loads(body)
        if not isinstance(event.get("position"), int):
            log.error("not an event, dropped: %r", str(body)[:200])
            message.ack()
            return
        try:
            self.follower.receive(event)
        except Exception as error:
            # Not applied: leave it to the queue (and the next catch-up).
            log.warning("could not apply %s: %s", event["position"], error)
            message.requeue()
            time.sleep(1)
            return
        message.ack()


def consumer_queue(name):
    """The consumer's own durable queue, bound to every event type."""
    return Queue(name, durable=True, auto_delete=False, bindings=[binding(EXCHANGE, routing_key="#")])


def main():
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    store = Store(os.environ.get("CONSUMER_DB", "var/example-consumer.db"))
    api = EventsApi(os.environ.get("EDT_API", "http://localhost:8000"),
                    os.environ["EDT_ACCOUNT"], os.environ["EDT_PASSWORD"])
    follower = Follower(store, api)
    queue = consumer_queue(os.environ.get("CONSUMER_QUEUE", "downstream.example"))
    with Connection(os.environ.get("AMQP_URI", "amqp://guest:guest@localhost:5672/"),
                    heartbeat=30) as connection:
        consumer = Consumer(connection, queue, follower,
                            float(os.environ.get("CATCHUP_SECONDS", "30")))

        def stop(*_):
            consumer.should_stop = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("following declarations.events on queue %s from position %s",
                 queue.name, store.checkpoint())
        consumer.run()


if __name__ == "__main__":
    main()
