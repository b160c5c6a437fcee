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
   is found);
4. the log's identity: every message carries the log's id and epoch
   (headers `log_id`, `log_epoch`), every `/api/events` answer its `log`.
   The consumer stores the identity it follows with its checkpoint, drops
   (and counts) messages of another log or an older epoch, and when the log
   changes (a database created anew, a restore) adopts the new one from the
   API, emptying its tables first when they hold positions the new log does
   not share. With METRICS_PORT set it serves `/metrics` and `/readyz`.

Only the standard library, kombu and requests. Run from the repository root:

    EDT_API=http://localhost:8000 EDT_ACCOUNT=insurer EDT_PASSWORD=... \\
    python -m examples.consumer
"""
import json
import logging
import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
-- The log (and its epoch) the checkpoint is a position of.
CREATE TABLE IF NOT EXISTS followed_log (
    id INTEGER PRIMARY KEY CHECK (id = 1), log_id TEXT NOT NULL, epoch INTEGER NOT NULL
);
"""


class Store:
    def __init__(self, path):
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def checkpoint(self):
        return self.db.execute("SELECT position FROM checkpoint WHERE id = 1").fetchone()[0]

    def followed(self):
        """(log_id, epoch) of the log the checkpoint belongs to, or None."""
        row = self.db.execute("SELECT log_id, epoch FROM followed_log WHERE id = 1").fetchone()
        return None if row is None else (row[0], row[1])

    def follow(self, log_id, epoch, empty=False):
        """Follow `log_id` at `epoch` from now on; `empty`: forget everything
        applied first (it came from another log, or from positions the log
        no longer has)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if empty:
                self.db.execute("DELETE FROM insured")
                self.db.execute("DELETE FROM applied")
                self.db.execute("UPDATE checkpoint SET position = 0 WHERE id = 1")
            self.db.execute("INSERT INTO followed_log VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE "
                            "SET log_id = excluded.log_id, epoch = excluded.epoch", (log_id, epoch))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

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

    def feed(self, after, limit=PAGE):
        """The answer of GET /api/events: {items, next_after, log}."""
        for _ in range(2):
            if self.token is None:
                self._login()
            r = requests.get(f"{self.base_url}/api/events", params={"after": after, "limit": limit},
                             headers={"Authorization": f"Bearer {self.token}"}, timeout=self.timeout)
            if r.status_code == 401:  # expired or revoked: log in again
                self.token = None
                continue
            r.raise_for_status()
            return r.json()
        raise RuntimeError("could not log in to the events API")

    def events_after(self, after, limit=PAGE):
        return self.feed(after, limit)["items"]


# -- following the log ---------------------------------------------------------------

class LogChanged(Exception):
    """The API answered for another log, or another epoch, than the one followed."""


def shared_prefix(log, epoch):
    """The last position the log's current epoch shares with `epoch` of the
    same log; None when `epoch` is not in the log's history."""
    if epoch == log["epoch"]:
        return float("inf")
    forks = [(int(e), int(p)) for e, p in log.get("forks") or ()]
    if epoch not in dict(forks):
        return None
    return min(p for e, p in forks if e > epoch)


class Follower:
    def __init__(self, store, api):
        self.store, self.api = store, api
        self.dropped = Counter()  # reason -> messages dropped
        self.resets = 0  # times the tables were emptied for a new log or epoch
        self.rebuilding = False  # emptied, not caught up yet
        self.catch_up_due = False  # a dropped message says the log moved on

    # the log's identity
    def judge(self, headers):
        """None if a message with these headers is of the log followed, at
        its epoch; else why it is dropped."""
        log_id, epoch = (headers or {}).get("log_id"), (headers or {}).get("log_epoch")
        if not log_id or not isinstance(epoch, int):
            return "unmarked"  # not published by the platform's relay (or by a release before it)
        followed = self.store.followed()
        if followed is None:
            return "unverified"  # the first catch-up tells which log this is
        if log_id != followed[0]:
            return "other_log"
        if epoch < followed[1]:
            return "old_epoch"
        if epoch > followed[1]:
            return "new_epoch"
        return None

    def drop(self, reason):
        self.dropped[reason] += 1
        if reason in ("unverified", "new_epoch"):
            self.catch_up_due = True  # learn the log's identity from the API now
        if sum(self.dropped.values()) % 1000 == 1:
            log.warning("dropped a message (%s); dropped so far: %s", reason, dict(self.dropped))

    def _feed(self, after, limit=PAGE):
        """Items after `after`, checking that the log is the one followed."""
        feed = getattr(self.api, "feed", None)
        if feed is None:  # an API without identities (tests, old gateways)
            return self.api.events_after(after, limit)
        answer = feed(after, limit)
        log_ = answer.get("log")
        if log_ and (log_["log_id"], log_["epoch"]) != self.store.followed():
            raise LogChanged(log_)
        return answer["items"]

    def adopt(self, log_):
        """Follow `log_` (the API's `log`): keep the tables if they hold only
        positions the log shares, else empty them and rebuild from 0."""
        followed, checkpoint = self.store.followed(), self.store.checkpoint()
        if checkpoint == 0:
            empty = False
        elif followed is None:
            empty = checkpoint > int(log_.get("head") or 0)  # tables from before identities
        elif followed[0] != log_["log_id"]:
            empty = True
        else:
            shared = shared_prefix(log_, followed[1])
            empty = shared is None or checkpoint > shared
        self.store.follow(log_["log_id"], log_["epoch"], empty)
        if empty:
            self.resets += 1
            self.rebuilding = True
            log.warning("the log is now %s epoch %s; the tables (checkpoint %s, %s) were emptied and are "
                        "rebuilt from the API", log_["log_id"], log_["epoch"], checkpoint, followed)
        else:
            log.info("following log %s epoch %s from position %s", log_["log_id"], log_["epoch"], checkpoint)

    # applying
    def catch_up(self):
        total = 0
        self.catch_up_due = False
        while True:
            try:
                events = self._feed(self.store.checkpoint())
            except LogChanged as change:
                self.adopt(change.args[0])
                continue
            if not events:
                self.rebuilding = False
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
            batch = [e for e in self._feed(after, min(PAGE, upto - after)) if e["position"] <= upto]
            if not batch:
                break
            events += batch
            after = batch[-1]["position"]
        return events

    def ready(self):
        return self.store.followed() is not None and not self.rebuilding

    def metrics(self):
        """Prometheus text of what the follower did."""
        lines = ["# TYPE example_consumer_messages_dropped_total counter"]
        lines += [f'example_consumer_messages_dropped_total{{reason="{r}"}} {n}'
                  for r, n in sorted(self.dropped.items())]
        lines += ["# TYPE example_consumer_log_resets_total counter",
                  f"example_consumer_log_resets_total {self.resets}",
                  "# TYPE example_consumer_following_log gauge",
                  f"example_consumer_following_log {1 if self.ready() else 0}",
                  "# TYPE example_consumer_checkpoint gauge",
                  f"example_consumer_checkpoint {self.store.checkpoint()}"]
        return "\n".join(lines) + "\n"


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
        if self.follower.catch_up_due or time.monotonic() - self.last_catch_up > self.catchup_seconds:
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
        reason = self.follower.judge(message.headers)
        if reason is not None:
            # Not the log followed, or not its current epoch: the API has
            # what the tables need, and the next catch-up takes it from there.
            self.follower.drop(reason)
            message.ack()
            return
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


def serve_status(follower, port):
    """/metrics and /readyz on `port` (a thread; SQLite is read on a connection of its own)."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            view = Follower(Store(follower.store.path), None)
            view.dropped, view.resets, view.rebuilding = follower.dropped, follower.resets, follower.rebuilding
            if self.path == "/metrics":
                status, body, kind = 200, view.metrics(), "text/plain; version=0.0.4"
            elif self.path == "/readyz":
                ready = view.ready()
                status, kind = (200 if ready else 503), "application/json"
                body = json.dumps({"status": "ok" if ready else "catching_up", "checkpoint": view.store.checkpoint(),
                                   "log": view.store.followed(), "dropped": dict(view.dropped)})
            else:
                status, body, kind = 404, "", "text/plain"
            view.store.db.close()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    store = Store(os.environ.get("CONSUMER_DB", "var/example-consumer.db"))
    api = EventsApi(os.environ.get("EDT_API", "http://localhost:8000"),
                    os.environ["EDT_ACCOUNT"], os.environ["EDT_PASSWORD"])
    follower = Follower(store, api)
    if os.environ.get("METRICS_PORT"):
        serve_status(follower, int(os.environ["METRICS_PORT"]))
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
