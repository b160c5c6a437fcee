"""Storage of the outbox relay: its checkpoint and lease (one row of
`relay_state`) and the events after the checkpoint, read from the log.

The lease makes one relay instance the publisher however many declarations
instances run: an instance publishes only while it holds an unexpired lease,
and its checkpoint write is fenced by the holder, so an instance that lost
the lease cannot move the checkpoint."""

import logging

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from common.clock import aware, utcnow  # noqa: F401 (re-exported)
from common.events import payload
from services.declarations.eventlog import identity as log_identity, read_events
from services.declarations.models import Event, RelayState

RELAY = "declarations.events"  # the name of the one row: the exchange it feeds

log = logging.getLogger("services.declarations.relay")


class RelayStore:
    def __init__(self, session, holder):
        self.session = session
        self.holder = holder
        # What this instance knows after its last claim or advance: the
        # checkpoint and its lease's end (None: it does not hold the lease).
        self.position = None
        self.lease_until = None

    def _row(self, lock=False):
        query = select(RelayState).where(RelayState.name == RELAY)
        return self.session.scalar(query.with_for_update() if lock else query)

    def claim(self, now, ttl):
        """The checkpoint if this instance holds (or now takes) the lease,
        else None. The lease is renewed when half of it has run out; while
        it is fresh this is a read only, so an idle relay does not write."""
        row = self._row()
        ours = row is not None and row.holder == self.holder
        if ours and aware(row.lease_until) - now > ttl / 2:
            self.position, self.lease_until = row.position, aware(row.lease_until)
            self.session.rollback()
            return self.position
        self.session.rollback()
        self.session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        row = self._row(lock=True)
        if row is None:
            # The first claim ever: instances starting together insert the
            # one row once (the others find it and lock it).
            insert = pg_insert if self.session.bind.dialect.name == "postgresql" else sqlite_insert
            self.session.execute(insert(RelayState).values(name=RELAY, position=0, updated_at=now)
                                 .on_conflict_do_nothing())
            row = self._row(lock=True)
        if row.holder not in (None, self.holder) and aware(row.lease_until) > now:
            if self.lease_until is not None:
                log.info("relay %s: the lease is held by %s now", self.holder, row.holder)
            self.session.rollback()
            self.position = self.lease_until = None
            return None
        taken = row.holder != self.holder or self.lease_until is None
        previous, position = row.holder, row.position
        row.holder, row.lease_until = self.holder, now + ttl
        try:
            self.session.commit()
        except BaseException:
            self.session.rollback()
            self.position = self.lease_until = None
            raise
        self.position, self.lease_until = position, now + ttl
        if taken:
            # One line per change of publisher, with the instance ids: the
            # logs of all instances show who published when.
            log.info("relay %s: took the lease at position %s (from %s)",
                     self.holder, position, previous or "nobody")
        return position

    def advance(self, position, now):
        """Move the checkpoint to `position`; False when this instance no
        longer holds the lease (and so must stop publishing)."""
        result = self.session.execute(
            update(RelayState)
            .where(RelayState.name == RELAY, RelayState.holder == self.holder,
                   RelayState.position < position)
            .values(position=position, updated_at=now)
        )
        self.session.commit()
        if result.rowcount != 1:
            log.warning("relay %s: could not move the checkpoint to %s: the lease is not ours",
                        self.holder, position)
            self.position = self.lease_until = None
            return False
        self.position = position
        return True

    def release(self, now):
        """Give the lease up (on stop), so another instance takes over at once."""
        self.session.execute(
            update(RelayState)
            .where(RelayState.name == RELAY, RelayState.holder == self.holder)
            .values(holder=None, lease_until=now)
        )
        self.session.commit()

    def events_after(self, after, limit):
        """The events after `after` in the payload shape of docs/events.md;
        with tracing on, each with the trace context its append stored
        (`_trace`, not published)."""
        events = []
        for e in read_events(self.session.connection(), after, limit):
            event = payload(e)
            trace = e["metadata"].get("trace")
            if trace:
                event["_trace"] = trace
            events.append(event)
        self.session.rollback()
        return events

    def identity(self, now, published=None):
        """The log's identity (eventlog/identity.py). If the log ends before
        the relay's checkpoint, or before `published` (what this instance
        published: the database was restored under it), the log was
        restored from an older state: a new epoch starts first, and the
        checkpoint goes back to the log's end, so that what is appended
        again is published again, under the new epoch."""
        conn = self.session.connection()
        head = conn.scalar(select(func.max(Event.position))) or 0
        row = self._row()
        checkpoint = row.position if row is not None else None
        if max(checkpoint or 0, published or 0) > head:
            self.session.rollback()
            conn = self.session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            row = self._row(lock=True)
            head = conn.scalar(select(func.max(Event.position))) or 0
            checkpoint = row.position if row is not None else None
            if max(checkpoint or 0, published or 0) > head:
                fork = min(head, checkpoint if checkpoint is not None else head)
                new = log_identity.advance(
                    conn, f"restored: the log ends at {head}, before the relay's checkpoint "
                          f"{checkpoint} / published {published}", fork_position=fork, now=now)
                if row is not None and row.position > head:
                    row.position = head
                log.warning("relay %s: the log ends at position %s but %s was published: "
                            "a restored database; epoch %s starts (sharing positions up to %s)",
                            self.holder, head, max(checkpoint or 0, published or 0), new.epoch, fork)
        identity = log_identity.current(self.session.connection())
        self.session.commit()
        return identity

    def state(self):
        row = self._row()
        self.session.rollback()
        return row
