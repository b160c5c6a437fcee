"""How the residents service follows the declaration log: its durable queue
on the `declarations.events` exchange, the `events_after` RPC it fills gaps
and catches up from, and the lock that applies one event at a time.

The queue's name is stable and listed in PLATFORM_QUEUES (common/queues.py,
shared with the declarations relay), so the relay declares it before
publishing: events published while residents is down (or before it first
started) wait in the queue. It is a
single-active-consumer queue: of several residents instances one receives the
events, in order, and another takes over when it goes.
"""
import contextlib
import logging
from datetime import datetime, timezone

import eventlet
from eventlet.semaphore import Semaphore
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider
from nameko.messaging import Consumer, QueueConsumer
from nameko.rpc import RpcProxy
from nameko.timer import Timer

from common import log_identity
from common.db import Database
from common.log_identity import Identity
from common.metrics import CONSUMER_DELAY, CONSUMER_DROPPED, CONSUMER_FOLLOWING, CONSUMER_LAG, CONSUMER_RESETS
from common.queues import LOG_EPOCH_HEADER, LOG_HEAD_HEADER, LOG_ID_HEADER, platform_queue
from common.service import NOT_READY
from services.residents.feed import GapNotFilled, Intake, NotAnEvent, position_of
from services.residents.projection import parse_time

log = logging.getLogger(__name__)

ROSTER_QUEUE = platform_queue("residents")
CONSUMER = "residents"
READINESS_KEY = "roster"
# Set by the consumer on a message it could not judge: (log_id, epoch, log_head).
UNVERIFIED_KEY = "_unverified_log"


class LogUnavailable(Exception):
    """The declarations service did not answer `events_after`."""


class LogChanged(GapNotFilled):
    """The log answered with another identity or epoch than the one the
    roster follows: the next catch-up adopts it (and empties the roster
    first if it does not share what was applied)."""


class DeclarationsLog(RpcProxy):
    """`events_after(after, limit)` of the declarations service, with a
    timeout: a call must not hold the apply lock for ever while
    declarations is down (its queue keeps the request until it is back)."""

    def __init__(self, timeout_key="LOG_RPC_TIMEOUT", default_timeout=5):
        super().__init__("declarations")
        self.timeout_key = timeout_key
        self.default_timeout = default_timeout

    def get_dependency(self, worker_ctx):
        proxy = super().get_dependency(worker_ctx)
        timeout = float(self.container.config.get(self.timeout_key) or self.default_timeout)

        class Log:
            @staticmethod
            def events_after(after, limit):
                try:
                    with eventlet.Timeout(timeout):
                        return proxy.events_after(after, limit)
                except eventlet.Timeout:
                    raise LogUnavailable("declarations.events_after timed out") from None
                except UnknownService:
                    raise LogUnavailable("declarations is not running") from None

        return Log()


class MeteredIntake(Intake):
    """The Intake, reporting its lag (`consumer_lag_events{consumer=
    "residents"}`) after every apply and catch-up: the log head announced
    by the relay's messages minus the checkpoint. A standby instance of the
    single-active-consumer queue hears no messages and reports 0 after its
    catch-ups; read the maximum over instances.

    It also knows which log the roster follows (common/log_identity.py):
    `identity` as the roster's database last said, or as a catch-up
    adopted it from the log. Every answer of the log is checked against it;
    a catch-up that finds the log changed adopts the new one, emptying the
    roster first when it does not share the positions applied."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.identity = None  # the Identity followed, once known
        self.rebuilding = False  # emptied for a new log or epoch, not caught up yet
        self.index_key_checked = False  # the roster's blind-index key compared with this process's

    def offer(self, event):
        if UNVERIFIED_KEY not in event:  # offered once its log is known (apply)
            super().offer(event)

    def apply(self, store, event, fetch, now, observe=None):
        try:
            self.check_index_key(store, now)
            marked = event.pop(UNVERIFIED_KEY, None)
            if marked is not None:
                # Its consumer could not tell its log: learn the log's
                # identity now (this worker can ask it), then judge it.
                if self.identity is None:
                    self.learn(store, fetch, now)
                reason = log_identity.judge(self.identity, *marked)
                if reason is not None:
                    CONSUMER_DROPPED.labels(CONSUMER, reason).inc()
                    return 0
                self.heard(marked[2])
                super().offer(event)
            return super().apply(store, event, self.checked(fetch), now, observe)
        finally:
            self.report()

    def learn(self, store, fetch, now):
        """With the apply lock held: adopt the log's identity from the log."""
        try:
            self.checked(fetch)(store.checkpoint(), 1)
        except LogChanged as change:
            self.adopt(store, change.args[1], now)

    def catch_up(self, store, fetch, now, observe=None):
        try:
            self.check_index_key(store, now)
            for _attempt in range(3):
                try:
                    applied = super().catch_up(store, self.checked(fetch), now, observe)
                    if self.rebuilding:
                        followed = self.identity and f"log {self.identity.log_id} epoch {self.identity.epoch}"
                        _log.info("the roster has caught up with %s at position %s",
                                  followed or "the log", self.applied)
                        self.rebuilding = False
                    return applied
                except LogChanged as change:
                    self.adopt(store, change.args[1], now)
            raise GapNotFilled("the log changed identity three times during one catch-up")
        finally:
            self.report()

    def check_index_key(self, store, now):
        """With the apply lock held, once per process: if the roster was
        built with another blind-index key than this process's (the key was
        changed), empty it and rebuild it from position 0, as for a new log
        (`adopt`): its indexes and person ids would find no one."""
        if self.index_key_checked:
            return
        emptied = store.check_index_key()
        self.index_key_checked = True
        if emptied:
            CONSUMER_RESETS.labels(CONSUMER).inc()
            self.rebuilding = True
            self.pending.clear()
            self.applied = 0

    def checked(self, fetch):
        """`fetch` raising LogChanged when the log is not the one followed
        (and adopting it at once when nothing was followed yet)."""
        def events_after(after, limit):
            answer = fetch(after, limit)
            log = answer.get("log") if isinstance(answer, dict) else None
            identity = Identity.from_dict(log)
            if identity is not None and (self.identity is None or (identity.log_id, identity.epoch)
                                         != (self.identity.log_id, self.identity.epoch)):
                raise LogChanged("the log is not the one the roster follows", {**log})
            return answer
        return events_after

    def adopt(self, store, log, now):
        """With the apply lock held: follow `log` (an events_after `log`
        dict) from now on, emptying the roster first if it was applied from
        another log or from positions the log no longer shares."""
        identity = Identity.from_dict(log)
        with store.unit_of_work():
            checkpoint = store.begin_apply()
            followed = store.followed_log(in_apply=True)  # (log_id, epoch) or None
            before = None if followed is None else Identity(followed[0], followed[1])
            rebuild = log_identity.must_rebuild(before, checkpoint, identity, int(log.get("head") or 0))
            if rebuild:
                store.empty_projection(now)
            store.follow_log(identity.log_id, identity.epoch, now)
            store.commit()
        if rebuild:
            CONSUMER_RESETS.labels(CONSUMER).inc()
            _log.warning("the roster followed %s up to position %s; the log is %s epoch %s: roster emptied, "
                         "rebuilding from the log", before and f"{before.log_id} epoch {before.epoch}",
                         checkpoint, identity.log_id, identity.epoch)
        else:
            _log.info("the roster follows log %s epoch %s (checkpoint %s kept)",
                      identity.log_id, identity.epoch, checkpoint)
        self.identity = identity
        self.rebuilding = self.rebuilding or rebuild
        self.pending.clear()
        self.applied = 0 if rebuild else checkpoint
        self.head = max(int(log.get("head") or 0), self.applied)

    def report(self):
        CONSUMER_LAG.labels(CONSUMER).set(self.lag())
        following = self.identity is not None and not self.rebuilding
        CONSUMER_FOLLOWING.labels(CONSUMER).set(1 if following else 0)
        # Readiness (the `ping` that /readyz asks): not while the roster is
        # being rebuilt for a new log or epoch; it would show a partial roster.
        if self.rebuilding:
            NOT_READY[READINESS_KEY] = "rebuilding the roster from a new log or epoch"
        else:
            NOT_READY.pop(READINESS_KEY, None)


_log = log


class Serial(DependencyProvider):
    """One lock and one feed.Intake per container: events are applied by
    one worker at a time, in batches of what arrived together (a second
    instance is kept apart by the database lock on the checkpoint).

    Between two transactions of a long catch-up or gap fill the applier
    pauses: it gives the lock up and yields to the hub. The Python part of a
    transaction (and on SQLite all of it) blocks the whole process, so the
    RPC workers (roster, person, lookup) get their turn there; and so do the
    roster workers waiting for the lock, which find their events applied and
    return, so that they do not keep the container's worker pool (shared
    with the RPC entrypoints) full while the catch-up runs. (PostgreSQL
    round trips yield by themselves: store.cooperative_waits.)"""

    def __init__(self):
        self.lock = Semaphore(1)
        self.intake = MeteredIntake(pause=self.pause)

    def pause(self):
        """Called with the lock held; returns with it held again."""
        self.lock.release()
        try:
            eventlet.sleep(0)
        finally:
            self.lock.acquire()

    def get_dependency(self, worker_ctx):
        return self


class RosterQueueConsumer(QueueConsumer):
    """The roster queue's own connection, with a prefetch of ROSTER_PREFETCH
    (default 200) messages instead of the container's max_workers."""

    @property
    def prefetch_count(self):
        return int(self.container.config.get("ROSTER_PREFETCH") or 200)


class RosterConsumer(Consumer):
    """Consumes the roster queue, offering each event to the Intake as soon
    as it arrives, before a worker is free to handle it: so the worker that
    holds the apply lock takes every prefetched event into its transaction,
    not only those of the (at most max_workers) running workers. Messages are
    acknowledged by their own worker once their event is committed, or at
    once when this process committed it already."""

    queue_consumer = RosterQueueConsumer()

    def handle_message(self, body, message):
        intake = self._serial().intake
        headers = message.headers or {}
        reason = self.judge(intake, headers)
        if reason == log_identity.UNVERIFIED and isinstance(body, dict):
            # Which log this roster follows is not known yet (a fresh
            # roster): its worker learns it from the log, then judges.
            body[UNVERIFIED_KEY] = (headers.get(LOG_ID_HEADER), headers.get(LOG_EPOCH_HEADER),
                                    headers.get(LOG_HEAD_HEADER))
            Consumer.handle_message(self, body, message)
            return
        if reason is not None:
            # Not this log, or not its current epoch (or not to be judged): the log has what
            # the roster needs, and the next catch-up takes it from there.
            CONSUMER_DROPPED.labels(CONSUMER, reason).inc()
            self.queue_consumer.ack_message(message)
            return
        intake.heard(headers.get(LOG_HEAD_HEADER))
        try:
            at = position_of(body)
        except NotAnEvent:
            at = None  # its worker says so
        if at is not None and at <= intake.applied:
            # Already committed by this process (a catch-up ran ahead of the
            # queue): acknowledged here, without taking a worker.
            intake.pending.pop(at, None)
            self.queue_consumer.ack_message(message)
            return
        if at is not None:
            intake.offer(body)
        super().handle_message(body, message)

    def judge(self, intake, headers):
        """None when the message is of the log the roster follows, at its
        epoch; else why it is dropped (common/log_identity.py)."""
        log_id, epoch = headers.get(LOG_ID_HEADER), headers.get(LOG_EPOCH_HEADER)
        reason = log_identity.judge(intake.identity, log_id, epoch)
        if reason == log_identity.UNVERIFIED and not getattr(self, "looked_up", False):
            # First message since start: what the roster's database follows.
            self.looked_up = True
            followed = self._followed()
            if followed is not None and intake.identity is None:
                intake.identity = Identity(*followed)
            reason = log_identity.judge(intake.identity, log_id, epoch)
        return reason

    def _followed(self):
        database = next(d for d in self.container.dependencies if isinstance(d, Database))
        session = database.Session()
        try:
            return database.store_cls(session).followed_log()
        except Exception:  # the catch-up finds out
            log.warning("could not read which log the roster follows", exc_info=True)
            return None
        finally:
            session.close()

    def _serial(self):
        serial = getattr(self, "serial", None)
        if serial is None:
            serial = self.serial = next(
                d for d in self.container.dependencies if isinstance(d, Serial))
        return serial


consume_roster = RosterConsumer.decorator


class CatchUpTimer(Timer):
    """Fires every CATCHUP_INTERVAL seconds (default 5), the first time one
    interval after start: not at once, because a call made while the
    container is still starting can lose its reply (the reply queue is not
    consumed yet) and would hold the apply lock until it timed out."""

    def __init__(self, **kwargs):
        super().__init__(interval=5, eager=False, **kwargs)

    def setup(self):
        self.interval = float(self.container.config.get("CATCHUP_INTERVAL") or 5)
        super().setup()


catch_up_timer = CatchUpTimer.decorator


def observe_delay(event):
    """Record how long after its commit an event reached the roster."""
    try:
        delay = datetime.now(timezone.utc) - parse_time(event["occurred_at"])
        CONSUMER_DELAY.labels(CONSUMER).observe(max(delay.total_seconds(), 0))
    except (KeyError, ValueError, TypeError):
        pass


@contextlib.contextmanager
def deferred_to_catch_up():
    """Failures that the next catch-up repairs are logged, not raised: the
    message is acknowledged (its event stays in the log), so a broken gap
    fill never spins on a requeued message. Anything else is raised, and
    the message goes back to the queue after a pause."""
    try:
        yield
    except (LogUnavailable, GapNotFilled) as error:
        log.warning("left for the next catch-up: %s", error)
    except NotAnEvent as error:
        log.error("ignored a message that is not a log event: %s", error)
    except Exception:
        eventlet.sleep(1)
        raise
