"""Nameko entrypoints of the residents service."""
import base64
import tempfile
from datetime import datetime

import eventlet

from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider

from common.db import Database
from common.errors import EXPECTED
from common.protect import process_index
from common.service import PlatformService, rpc
from services.residents import export, roster
from services.residents.store import RosterStore, cooperative_waits, utcnow
from services.residents.subscription import (
    ROSTER_QUEUE, DeclarationsLog, Serial, catch_up_timer, consume_roster, deferred_to_catch_up,
    observe_delay,
)


cooperative_waits()  # PostgreSQL round trips yield to the hub (nameko run patched it already)


def cooperative(rows, every=200):
    """Let the other green threads run while a long export is written, so
    that events keep reaching the roster meanwhile."""
    for count, row in enumerate(rows):
        if count % every == 0:
            eventlet.sleep(0)
        yield row


class PersonIds(DependencyProvider):
    """The key of person ids, loaded at start-up: without it (EDT_ENV=production
    and no EDT_PI_* setting) the service stops there, not at its first event."""

    def setup(self):
        process_index()

    def get_dependency(self, worker_ctx):
        return process_index()


class ResidentsService(PlatformService):
    name = "residents"
    person_ids = PersonIds()
    # Personal fields encrypted at rest: the keys are checked, and the
    # store's data key made, at start-up (docs/protection.md).
    store = Database(RosterStore, protected=True)
    log = DeclarationsLog()
    serial = Serial()
    config = Config()

    # the projection of the declaration log
    @consume_roster(ROSTER_QUEUE, requeue_on_error=True)
    def on_declaration_event(self, event):
        with deferred_to_catch_up():
            self.serial.intake.offer(event)
            with self.serial.lock:
                self.serial.intake.apply(self.store, event, self.log.events_after, utcnow(), observe_delay)

    @catch_up_timer
    def catch_up(self):
        with deferred_to_catch_up(), self.serial.lock:
            self.serial.intake.catch_up(self.store, self.log.events_after, utcnow(), observe_delay)

    # the roster of a unit
    @rpc(expected_exceptions=EXPECTED)
    def roster(self, unit_id, filters=None, page=1, size=20):
        return roster.roster(self.store, unit_id, filters, page, size)

    @rpc(expected_exceptions=EXPECTED)
    def person(self, unit_id, cert_type, cert_no):
        return roster.person(self.store, unit_id, cert_type, cert_no)

    @rpc(expected_exceptions=EXPECTED)
    def person_by_id(self, unit_id, person_id):
        return roster.person_by_id(self.store, unit_id, person_id)

    @rpc(expected_exceptions=EXPECTED)
    def lookup(self, unit_id, cert_type, cert_no, name=None):
        today = datetime.now(roster.BUSINESS_TZ).date()
        return roster.lookup(self.store, unit_id, cert_type, cert_no, name, today)

    @rpc(expected_exceptions=EXPECTED)
    def export_roster(self, unit_id, filters=None):
        """The filtered roster as .xlsx: {rows, content (base64)}."""
        rows = cooperative(self.store.roster_stream(unit_id, **roster.filters_of(filters, self.store)))
        with tempfile.TemporaryFile() as f:
            count = export.write_roster(rows, f)
            f.seek(0)
            content = base64.b64encode(f.read()).decode("ascii")
        return {"rows": count, "content": content}

    @rpc(expected_exceptions=EXPECTED)
    def checkpoint(self):
        """The last log position applied to the roster."""
        return self.store.checkpoint()
