"""The outbox relay: publishes the declaration log on the broker.

The log is the outbox. The relay reads the events after its checkpoint,
publishes each on the topic exchange `declarations.events` (the exchange
Nameko's `@event_handler("declarations", type)` binds to) with the event type
as routing key, as a persistent JSON message with publisher confirms and the
`mandatory` flag, and advances its checkpoint only over events the broker
confirmed. A crash between publish and checkpoint publishes an event again:
delivery is at least once, and consumers drop what they already applied.

One instance publishes at a time, however many declarations instances run:
the relay holds a lease (a row of `relay_state`); the others wait until it
lapses. Before publishing, the relay declares the durable queues of the
platform's own consumers (PLATFORM_QUEUES), so an event published while a
consumer is down, or before it ever started, waits in its queue.

Runs in the declarations process, beside DeclarationsService:

    nameko run ... services.declarations.service:DeclarationsService \\
                   services.declarations.relay:OutboxRelay
"""
import logging
import os
import socket
import time
import uuid
from datetime import timedelta

from kombu import Connection
from kombu.exceptions import ChannelError
from nameko.amqp.publish import UndeliverableMessage
from nameko.constants import PERSISTENT
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from common import tracing
from common.db import Database
from common.metrics import (
    EVENTS_PUBLISHED,
    LOG_EPOCH,
    QUEUE_CONSUMERS,
    QUEUE_MESSAGES,
    RELAY_LAG,
    RELAY_LEASE_HELD,
)
from common.queues import (  # noqa: F401 (re-exported)
    ALL_TYPES,
    EVENT_TYPE_HEADER,
    EXCHANGE_NAME,
    LOG_EPOCH_HEADER,
    LOG_HEAD_HEADER,
    LOG_ID_HEADER,
    PLATFORM_QUEUES,
    POSITION_HEADER,
    PUBLISHER_HEADER,
    SINGLE_ACTIVE_CONSUMER,
    event_exchange,
    platform_queue,
    subscriber_queue,
)
from services.declarations.models import Event
from services.declarations.relay_store import RelayStore, utcnow

log = logging.getLogger(__name__)

# The exchange, the platform's queues (PLATFORM_QUEUES: durable,
# single-active-consumer, declared before publishing) and the message headers
# are shared with the consumers: common/queues.py. Downstream systems may have
# theirs declared too with the RELAY_SUBSCRIBER_QUEUES setting (comma-separated
# names of plain durable queues bound with "#").

DEFAULTS = {
    "RELAY_INTERVAL": 0.02,  # seconds between looks at the log (one small query when idle)
    "RELAY_BATCH": 500,  # events read per query
    "RELAY_LEASE_SECONDS": 15,  # how long a silent publisher keeps the lease
    "RELAY_CONFIRM_WINDOW": 500,  # messages published before their confirms are awaited together
}


def _setting(config, key):
    value = config.get(key)
    if value in (None, ""):
        value = os.environ.get(key, DEFAULTS.get(key))
    return value


class LeaseLost(Exception):
    """Another relay instance holds the lease now."""


# A publisher stops publishing while this share of its lease is still left,
# and publishes again only after renewing it (claim renews when half is
# left): a holder that stalls (a long pause, a slow broker) finds it too
# late before its next publish, not after another instance took over.
LEASE_MARGIN = 1 / 3


def relay_pending(store, publish, clock, lease, batch=500, budget=10.0):
    """Publish what the log holds after the checkpoint, in position order.

    `store` is a RelayStore, `clock()` gives the UTC time, `lease` is a
    timedelta. `publish` is either a callable, `publish(event)`, that
    returns once the broker confirmed one event, or an object with
    `publish_many(events, confirmed)` that publishes a window of events and
    returns once the broker confirmed them all, calling `confirmed(event)`
    in position order as their confirms arrive (BatchPublisher).

    Before each publish (or window) the lease must have more than
    LEASE_MARGIN of it left; otherwise the checkpoint moves over what was
    confirmed and the lease is claimed again (renewed, or lost to another
    instance: then nothing more is published). Stops after `budget` seconds.
    Returns the number of events published; raises what publishing raised,
    after moving the checkpoint over what was confirmed."""
    publish_many = getattr(publish, "publish_many", None) or _one_at_a_time(publish)
    window = getattr(publish, "window", 1)
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < budget:
        position = store.claim(clock(), lease)
        if position is None:
            return sent
        events = store.events_after(position, batch)
        if not events:
            return sent
        done = [position]
        confirmed = _recorder(done)
        cut_short = False
        try:
            for start in range(0, len(events), window):
                if store.lease_until is None or store.lease_until - clock() <= lease * LEASE_MARGIN:
                    cut_short = True  # renew before publishing more
                    break
                publish_many(events[start:start + window], confirmed)
        finally:
            sent += sum(1 for e in events if position < e["position"] <= done[0])
            if done[0] > position and not store.advance(done[0], clock()):
                raise LeaseLost(f"relay {store.holder}: lease lost after publishing up to {done[0]}")
        if len(events) < batch and not cut_short:
            return sent
    return sent


def _recorder(done):
    def confirmed(event):
        done[0] = event["position"]
    return confirmed


def _one_at_a_time(publish):
    def publish_many(events, confirmed):
        for event in events:
            publish(event)
            confirmed(event)
    return publish_many


class BatchPublisher:
    """Publishes windows of events on one confirm-mode channel: every
    message of a window is sent, then the confirms of the window are
    awaited together (instead of one round trip to the broker's disk per
    event). Messages are persistent, mandatory JSON, as Nameko's Publisher
    sends them. The connection is kept between windows and made again after
    a failure (the exchange and the platform's queues declared on it first).

    A message the broker cannot route comes back (basic.return) before its
    confirm: the window then ends with UndeliverableMessage, the events
    confirmed before it counted. A nack or a lost connection raises too."""

    def __init__(self, amqp_uri, declare, window=500, confirm_timeout=30.0):
        self.amqp_uri = amqp_uri
        self.declare = declare
        self.window = window
        self.confirm_timeout = confirm_timeout
        self.connection = self.channel = self.producer = None
        self.unsettled = set()  # delivery tags published, neither acked nor nacked yet
        self.acked = set()  # delivery tags confirmed
        self.nacked = set()
        self.returned = set()  # message ids that came back unroutable
        self.tag = 0

    def _connect(self):
        from kombu import Producer

        connection = Connection(self.amqp_uri, connect_timeout=5)
        try:
            connection.connect()
            channel = connection.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            channel.events["basic_return"].add(self._on_return)
            for entity in self.declare:
                entity(channel).declare()
        except BaseException:
            _close_quietly(connection)
            raise
        self.connection, self.channel = connection, channel
        self.producer = Producer(channel, serializer="json")
        self.tag = 0
        self.unsettled.clear(), self.acked.clear(), self.nacked.clear(), self.returned.clear()

    def close(self):
        connection, self.connection, self.channel, self.producer = self.connection, None, None, None
        if connection is not None:
            _close_quietly(connection)

    def _on_ack(self, delivery_tag, multiple):
        self._settle(self.acked, delivery_tag, multiple)

    def _on_nack(self, delivery_tag, multiple):
        self._settle(self.nacked, delivery_tag, multiple)

    def _settle(self, into, tag, multiple):
        settled = [t for t in self.unsettled if t <= tag] if multiple else [tag]
        self.unsettled.difference_update(settled)
        into.update(settled)

    def _on_return(self, exc, exchange, routing_key, message):
        self.returned.add(message.properties.get("message_id"))

    def publish_many(self, messages, confirmed):
        """`messages`: (event, headers) pairs, or events (then headers are
        the event's position and type). Calls `confirmed(event)` in order."""
        if self.connection is None or not self.connection.connected:
            self.close()
            self._connect()
        outstanding = []
        try:
            for item in messages:
                event, headers = item if isinstance(item, tuple) else (item, None)
                self.producer.publish(
                    event, exchange=EXCHANGE_NAME, routing_key=event["type"],
                    message_id=str(event["event_id"]), delivery_mode=PERSISTENT, mandatory=True,
                    headers=headers or {"position": event["position"], "event_type": event["type"]},
                    retry=False,
                )
                self.tag += 1
                self.unsettled.add(self.tag)
                outstanding.append((self.tag, event))
            deadline = time.monotonic() + self.confirm_timeout
            while outstanding:
                while outstanding and outstanding[0][0] in self.acked:
                    tag, event = outstanding.pop(0)
                    self.acked.discard(tag)
                    if str(event["event_id"]) in self.returned:
                        raise UndeliverableMessage()
                    confirmed(event)
                if not outstanding:
                    break
                if outstanding[0][0] in self.nacked:
                    raise ConnectionError(f"the broker refused (nack) event {outstanding[0][1]['position']}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConnectionError(f"no confirm of {len(outstanding)} events after {self.confirm_timeout}s")
                try:
                    self.connection.drain_events(timeout=min(left, 1.0))
                except TimeoutError:  # nothing within the second: look again
                    pass
        except BaseException:
            self.close()  # a channel that missed confirms or failed is not reused
            raise


def _close_quietly(connection):
    try:
        connection.release()
    except Exception:  # already gone
        pass


class EventPublisher(DependencyProvider):
    """The relay's publisher: windows of confirmed, persistent, mandatory
    messages on `declarations.events` (BatchPublisher), the platform's
    queues declared first. The dependency is a `Relaying` for one run."""

    def setup(self):
        config = self.container.config
        tracing.configure("declarations")  # the relay's process is declarations'
        extra = [q.strip() for q in str(_setting(config, "RELAY_SUBSCRIBER_QUEUES") or "").split(",")]
        self.extra = [subscriber_queue(name) for name in extra if name]
        self.extra_declared = not self.extra
        self.holder = next((d.holder for d in self.container.dependencies if isinstance(d, RelayDatabase)), None)
        self.publisher = BatchPublisher(
            config["AMQP_URI"], [event_exchange()] + [platform_queue(name) for name in PLATFORM_QUEUES],
            window=int(_setting(config, "RELAY_CONFIRM_WINDOW")))

    def stop(self):
        self.publisher.close()

    def kill(self):
        self.publisher.close()

    def get_dependency(self, worker_ctx):
        return Relaying(self)

    queue_interval = 10.0  # seconds between looks at the queues' depths

    def report_queues(self, holding):
        """Every queue_interval, while this instance publishes: how many
        messages wait in the queues the relay feeds, and how many consumers
        each has (broker_queue_messages, broker_queue_consumers): a passive
        declare of each, on a connection of its own. A standby says nothing."""
        if not holding:
            QUEUE_MESSAGES.clear()
            QUEUE_CONSUMERS.clear()
            return
        now = time.monotonic()
        if now < getattr(self, "queues_due", 0.0):
            return
        self.queues_due = now + self.queue_interval
        names = list(PLATFORM_QUEUES.values()) + [queue.name for queue in self.extra]
        try:
            with Connection(self.container.config["AMQP_URI"], connect_timeout=5) as conn:
                for name in names:
                    try:
                        _, messages, consumers = conn.channel().queue_declare(name, passive=True)
                    except ChannelError:  # not declared (yet)
                        continue
                    QUEUE_MESSAGES.labels(name).set(messages)
                    QUEUE_CONSUMERS.labels(name).set(consumers)
        except Exception as error:  # the broker is away: publishing says so
            log.debug("relay: could not look at the queues: %s", error)

    def declare_extra(self):
        """Declare the downstream queues of RELAY_SUBSCRIBER_QUEUES, once. A
        queue that exists with other arguments is the downstream's business:
        it is reported, and must not stop publishing for everyone else."""
        with Connection(self.container.config["AMQP_URI"], connect_timeout=5) as conn:
            for queue in self.extra:
                try:
                    queue(conn.channel()).declare()
                except ChannelError as error:
                    log.error("relay: could not declare the queue %s: %s", queue.name, error)
        self.extra_declared = True


class Relaying:
    """One run's publishing: `publish_many(events, confirmed)` with the
    headers of every message (docs/events.md): the position, the type, the
    log head (the log's last position as the relay knew it, at least the
    event's own: consumers tell their lag by it), the publisher (the relay
    instance's lease holder id), the log's identity and epoch (consumers
    drop messages of another log or an older epoch) and, when tracing is
    on, the trace context of the publish."""

    def __init__(self, provider, log_head=0, identity=None):
        self.provider = provider
        self.window = provider.publisher.window
        self.log_head = log_head
        self.identity = identity

    def headers(self, event):
        headers = {POSITION_HEADER: event["position"], EVENT_TYPE_HEADER: event["type"],
                   LOG_HEAD_HEADER: max(self.log_head or 0, event["position"]),
                   PUBLISHER_HEADER: self.provider.holder}
        if self.identity is not None:
            headers[LOG_ID_HEADER], headers[LOG_EPOCH_HEADER] = self.identity
        return headers

    def publish_many(self, events, confirmed):
        if not self.provider.extra_declared:
            self.provider.declare_extra()
        messages = []
        spans = []
        for event in events:
            headers = self.headers(event)
            span = tracing.start_publish_span(event.get("_trace"), event, headers)
            if span is not None:
                spans.append(span)
            messages.append(({k: v for k, v in event.items() if k != "_trace"}, headers))

        def done(event):
            EVENTS_PUBLISHED.labels(event["type"]).inc()
            confirmed(event)

        try:
            self.provider.publisher.publish_many(messages, done)
        finally:
            for span in spans:
                span.end()


# Asked every tick: as plain SQL, so an idle tick costs a few microseconds.
LATEST_POSITION = f"SELECT max(position) FROM {Event.__tablename__}"


class RelayMemory:
    """What a relay instance knows between runs, so that an idle tick costs
    one small query and no worker: the checkpoint it last published up to,
    the end of its lease (None when another instance holds it), and when a
    standby instance tries to take the lease again."""

    standby_recheck = 1.0  # seconds

    def __init__(self, holder=None):
        self.holder = holder
        self.published = None
        self.lease_until = None
        self.standby_until = 0.0
        self.latest = 0  # the log's last position at the last look

    def note(self, store):
        self.published, self.lease_until = store.position, store.lease_until
        if self.lease_until is None:
            self.standby_until = time.monotonic() + self.standby_recheck
            RELAY_LAG.set(0)  # the holder reports the backlog, not a standby
        RELAY_LEASE_HELD.set(1 if self.lease_until is not None else 0)


class RelayDatabase(Database):
    """The declarations database, seen by the relay as a RelayStore that
    knows this instance's lease holder id; says whether a run is due; gives
    the lease up on stop."""

    def __init__(self, **kwargs):
        # Protected: the relay opens the events' personal fields to publish
        # them in full, so its keys are checked at start-up.
        super().__init__(RelayStore, protected=True, **kwargs)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.memory = RelayMemory(self.holder)

    def get_dependency(self, worker_ctx):
        session = self.Session()
        self.sessions[worker_ctx] = session
        store = RelayStore(session, self.holder)
        store.memory = self.memory
        # What the last run knew, so that claim can say when the lease changes hands.
        store.position, store.lease_until = self.memory.published, self.memory.lease_until
        return store

    def due(self, lease):
        """Whether the relay should run now: the log grew past what this
        instance published, its lease needs renewing, or (standby) it is
        time to try to take the lease."""
        memory = self.memory
        if memory.lease_until is None or memory.published is None:
            return time.monotonic() >= memory.standby_until
        if memory.lease_until - utcnow() <= lease / 2:
            return True
        try:
            with self.engine.connect() as conn:
                latest = conn.exec_driver_sql(LATEST_POSITION).scalar() or 0
        except Exception:  # let a run find out, and say so
            return True
        memory.latest = latest
        RELAY_LAG.set(max(latest - memory.published, 0))
        # Below what was published: the database was restored (a run starts a new epoch).
        return latest != memory.published

    def stop(self):
        session = self.Session()
        try:
            RelayStore(session, self.holder).release(utcnow())
            if self.memory.lease_until is not None:
                log.info("relay %s: released the lease at position %s", self.holder, self.memory.published)
            RELAY_LEASE_HELD.set(0)
        except Exception:  # the database may be gone; the lease then lapses
            log.warning("could not release the relay lease", exc_info=True)
        finally:
            session.close()
        super().stop()


class RelayTimer(Timer):
    """Ticks at start, then every RELAY_INTERVAL seconds after the previous
    tick ended; a tick runs the relay (a worker) only when it is due."""

    def __init__(self, **kwargs):
        super().__init__(interval=DEFAULTS["RELAY_INTERVAL"], eager=True, **kwargs)

    def setup(self):
        config = self.container.config
        self.interval = float(_setting(config, "RELAY_INTERVAL"))
        self.lease = timedelta(seconds=float(_setting(config, "RELAY_LEASE_SECONDS")))
        self.database = next(d for d in self.container.dependencies if isinstance(d, RelayDatabase))
        super().setup()

    def handle_timer_tick(self):
        if self.database.due(self.lease):
            super().handle_timer_tick()
        else:
            self.worker_complete.send()


class OutboxRelay:
    name = "declarations_relay"
    store = RelayDatabase()
    publish = EventPublisher()
    config = Config()

    @RelayTimer.decorator
    def relay(self):
        lease = timedelta(seconds=float(_setting(self.config, "RELAY_LEASE_SECONDS")))
        batch = int(_setting(self.config, "RELAY_BATCH"))
        memory = self.store.memory
        try:
            identity = self.store.identity(utcnow(), memory.published if memory.lease_until else None)
            LOG_EPOCH.set(identity.epoch)
            self.publish.log_head = memory.latest
            self.publish.identity = (identity.log_id, identity.epoch)
            sent = relay_pending(self.store, self.publish, utcnow, lease, batch)
            _health.ok(sent)
        except LeaseLost as error:
            log.warning("%s", error)
        except UndeliverableMessage:
            _health.failed("an event could not be routed to any queue")
        except Exception as error:  # the broker is down or went away
            _health.failed(f"{type(error).__name__}: {error}")
        finally:
            memory.note(self.store)
            self.publish.provider.report_queues(memory.lease_until is not None)


class _Health:
    """Says once that publishing fails and once that it works again, not
    every tick."""

    def __init__(self):
        self.failing_since = None

    def failed(self, reason):
        if self.failing_since is None:
            self.failing_since = time.monotonic()
            log.warning("relay: publishing failed (%s); retrying until it works", reason)

    def ok(self, sent):
        if self.failing_since is not None:
            log.info("relay: publishing again after %.1fs (%s events sent)",
                     time.monotonic() - self.failing_since, sent)
            self.failing_since = None


_health = _Health()
