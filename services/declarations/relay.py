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
from nameko.amqp.publish import Publisher, UndeliverableMessage
from nameko.constants import PERSISTENT
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from common.db import Database
from common.metrics import EVENTS_PUBLISHED, RELAY_LAG, RELAY_LEASE_HELD
from common.queues import (  # noqa: F401 (re-exported)
    ALL_TYPES,
    EXCHANGE_NAME,
    PLATFORM_QUEUES,
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

    `store` is a RelayStore, `publish(event)` returns once the broker
    confirmed, `clock()` gives the UTC time, `lease` is a timedelta. Before
    each publish the lease must have more than LEASE_MARGIN of it left;
    otherwise the checkpoint moves over what was confirmed and the lease is
    claimed again (renewed, or lost to another instance: then nothing more
    is published). Stops after `budget` seconds. Returns the number of
    events published; raises what publishing raised, after moving the
    checkpoint over what was confirmed."""
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < budget:
        position = store.claim(clock(), lease)
        if position is None:
            return sent
        events = store.events_after(position, batch)
        if not events:
            return sent
        confirmed = position
        cut_short = False
        try:
            for event in events:
                if store.lease_until is None or store.lease_until - clock() <= lease * LEASE_MARGIN:
                    cut_short = True  # renew before publishing more
                    break
                publish(event)
                confirmed = event["position"]
                sent += 1
        finally:
            if confirmed > position and not store.advance(confirmed, clock()):
                raise LeaseLost(f"relay {store.holder}: lease lost after publishing up to {confirmed}")
        if len(events) < batch and not cut_short:
            return sent
    return sent


class EventPublisher(DependencyProvider):
    """`publish(event)`: one confirmed, persistent, mandatory message on
    `declarations.events`, the platform's queues declared first."""

    retry_policy = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}

    def setup(self):
        config = self.container.config
        extra = [q.strip() for q in str(_setting(config, "RELAY_SUBSCRIBER_QUEUES") or "").split(",")]
        self.extra = [subscriber_queue(name) for name in extra if name]
        self.extra_declared = not self.extra
        self.exchange = event_exchange()
        self.holder = next((d.holder for d in self.container.dependencies if isinstance(d, RelayDatabase)), None)
        self.publisher = Publisher(
            config["AMQP_URI"], use_confirms=True, mandatory=True,
            serializer="json", delivery_mode=PERSISTENT,
            declare=[self.exchange] + [platform_queue(name) for name in PLATFORM_QUEUES],
            retry=True, retry_policy=self.retry_policy,
            transport_options={**self.retry_policy, "confirm_publish": True},
        )

    def get_dependency(self, worker_ctx):
        return self.publish

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

    def publish(self, event, log_head=None):
        """`log_head`: the last position of the log as the relay knew it
        (at least the event's own); consumers tell their lag by it. The
        `publisher` header names the relay instance (its lease holder id)."""
        if not self.extra_declared:
            self.declare_extra()
        self.publisher.publish(
            event, exchange=self.exchange, routing_key=event["type"],
            message_id=str(event["event_id"]),
            headers={"position": event["position"], "event_type": event["type"],
                     "log_head": max(log_head or 0, event["position"]),
                     "publisher": self.holder},
        )
        EVENTS_PUBLISHED.labels(event["type"]).inc()


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
        super().__init__(RelayStore, **kwargs)
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
        return latest > memory.published

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
        head = self.store.memory.latest

        def publish(event):
            self.publish(event, log_head=head)

        try:
            sent = relay_pending(self.store, publish, utcnow, lease, batch)
            _health.ok(sent)
        except LeaseLost as error:
            log.warning("%s", error)
        except UndeliverableMessage:
            _health.failed("an event could not be routed to any queue")
        except Exception as error:  # the broker is down or went away
            _health.failed(f"{type(error).__name__}: {error}")
        finally:
            self.store.memory.note(self.store)


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
