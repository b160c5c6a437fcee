"""Nameko entrypoints of the declarations service.

`unit` is {id, name, credit_code} and `actor` {account, request_id, address},
both taken by the gateway from the caller's token, never from the request."""
import base64
import logging
import time
from zoneinfo import ZoneInfo

import eventlet
from nameko.dependency_providers import Config
from nameko.events import event_handler
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy
from nameko.timer import timer

from common.clock import utcnow
from common.errors import EXPECTED
from common.service import PlatformService, rpc
from services.declarations import declaring, queries
from services.declarations.batch import batches
from services.declarations.campaign import workbench
from services.declarations.domain import CHANGE, ENROL, SUSPEND
from services.declarations.store import DeclarationsDatabase

log = logging.getLogger(__name__)
# Seconds a dashboard waits for auth's unit feed before answering with the
# units it knows (docs/workbench.md), and how long after a reading of the feed
# a dashboard does not read it again (auth's unit_changed event and the
# gateway's sync_units after each change read it at once anyway). Read every
# 2 s, that round trip to auth fell on ~3% of the answers while units declared
# and set their p99 (bench/README.md, bench_dashboard at 2,000,000 persons).
UNIT_FEED_TIMEOUT = 3
UNIT_FEED_FRESH = 30.0
_unit_feed_read = [0.0]


class DeclarationsService(PlatformService):
    name = "declarations"
    store = DeclarationsDatabase()
    config = Config()
    auth = RpcProxy("auth")

    @property
    def tz(self):
        return ZoneInfo(self.config.get("BUSINESS_TZ") or "Asia/Shanghai")

    def _declare(self, kind, unit, actor, data, idempotency_key):
        actor = {**(actor or {}), "request_id": (actor or {}).get("request_id") or self.context.get("request_id")}
        return declaring.declare(self.store, kind, unit, actor, data, utcnow(), self.tz, idempotency_key)

    # commands
    @rpc(expected_exceptions=EXPECTED)
    def enrol(self, unit, actor, data, idempotency_key=None):
        return self._declare(ENROL, unit, actor, data, idempotency_key)

    @rpc(expected_exceptions=EXPECTED)
    def suspend(self, unit, actor, data, idempotency_key=None):
        return self._declare(SUSPEND, unit, actor, data, idempotency_key)

    @rpc(expected_exceptions=EXPECTED)
    def change(self, unit, actor, data, idempotency_key=None):
        return self._declare(CHANGE, unit, actor, data, idempotency_key)

    # a unit's figures and records
    @rpc(expected_exceptions=EXPECTED)
    def unit_summary(self, unit_id):
        return queries.unit_summary(self.store, unit_id, utcnow(), self.tz)

    @rpc(expected_exceptions=EXPECTED)
    def unit_stats(self, unit_id, months=12):
        return queries.unit_stats(self.store, unit_id, months, utcnow(), self.tz)

    @rpc(expected_exceptions=EXPECTED)
    def list_records(self, unit_id, filters=None, page=1, size=20):
        return queries.list_records(self.store, unit_id, filters, page, size, self.tz)

    @rpc(expected_exceptions=EXPECTED)
    def get_record(self, unit_id, record_id):
        return queries.get_record(self.store, unit_id, record_id, self.tz)

    # persons and the log, for residents, batches and downstream systems
    @rpc(expected_exceptions=EXPECTED)
    def person_state(self, cert_type, cert_no):
        return queries.person_state(self.store, cert_type, cert_no)

    @rpc(expected_exceptions=EXPECTED)
    def persons_state(self, keys):
        return queries.persons_state(self.store, keys)

    @rpc(expected_exceptions=EXPECTED)
    def events_after(self, after=0, limit=500):
        return queries.events_after(self.store, after, limit)

    # batches from Excel (services/declarations/batch): received here and
    # answered at once, processed by the batch workers; files travel base64-encoded
    @rpc(expected_exceptions=EXPECTED)
    def submit_batch(self, unit, actor, business_type, file_name, content_b64, idempotency_key=None):
        actor = {**(actor or {}), "request_id": (actor or {}).get("request_id") or self.context.get("request_id")}
        return batches.submit(self.store, unit, actor, business_type, file_name,
                              base64.b64decode(content_b64), utcnow(), self.tz,
                              batches.limits_of(self.config), idempotency_key)

    @rpc(expected_exceptions=EXPECTED)
    def list_batches(self, unit_id, filters=None, page=1, size=20):
        return batches.list_batches(self.store, unit_id, self.tz, filters, page, size)

    @rpc(expected_exceptions=EXPECTED)
    def get_batch(self, unit_id, batch_no):
        return batches.get_batch(self.store, unit_id, batch_no, self.tz)

    @rpc(expected_exceptions=EXPECTED)
    def batch_failures_file(self, unit_id, batch_no):
        return batches.failures_workbook(self.store, unit_id, batch_no, batches.limits_of(self.config))

    @rpc(expected_exceptions=EXPECTED)
    def batch_template(self, business_type):
        return batches.template_workbook(business_type, batches.limits_of(self.config))

    # the operator's campaign figures (services/declarations/campaign, docs/workbench.md)
    def _sync_units(self, unless_fresh=False):
        """Copy auth's unit changes not seen yet; never fails the caller
        (the figures then place units as last known)."""
        if unless_fresh and time.monotonic() - _unit_feed_read[0] < UNIT_FEED_FRESH:
            return 0
        _unit_feed_read[0] = time.monotonic()
        try:
            with eventlet.Timeout(UNIT_FEED_TIMEOUT):
                return workbench.sync_units(self.store, self.auth.unit_changes_after, utcnow())
        except (eventlet.Timeout, UnknownService) as problem:
            log.warning("auth's unit feed not read: %r", problem)
        return 0

    @event_handler("auth", "unit_changed")
    def on_unit_changed(self, payload):
        self._sync_units()

    @timer(interval=60)
    def units_timer(self):
        self._sync_units()

    @rpc(expected_exceptions=EXPECTED)
    def sync_units(self):
        return self._sync_units()

    @rpc(expected_exceptions=EXPECTED)
    def campaign_dashboard(self, params=None):
        self._sync_units(unless_fresh=True)
        return workbench.dashboard(self.store, self.tz, params or {}, utcnow())

    @rpc(expected_exceptions=EXPECTED)
    def campaign_daily(self, year=None, division=None):
        return workbench.daily(self.store, self.tz, year, division, utcnow())

    @rpc(expected_exceptions=EXPECTED)
    def campaign_export(self, params=None):
        self._sync_units()
        file = workbench.export(self.store, self.tz, params or {}, utcnow())
        return {"file_name": file["file_name"], "content": base64.b64encode(file["content"]).decode()}

    @rpc(expected_exceptions=EXPECTED)
    def set_target(self, year, unit_id, target, actor=None):
        self._sync_units()
        return workbench.set_target(self.store, year, unit_id, target, actor, utcnow())

    @rpc(expected_exceptions=EXPECTED)
    def targets_template(self, year):
        self._sync_units()
        file = workbench.targets_template(self.store, year)
        return {"file_name": file["file_name"], "content": base64.b64encode(file["content"]).decode()}

    @rpc(expected_exceptions=EXPECTED)
    def import_targets(self, year, content_b64, actor=None):
        self._sync_units()
        result = workbench.import_targets(self.store, year, base64.b64decode(content_b64), actor, utcnow())
        failures = result.pop("failures_file")
        result["failures_file"] = base64.b64encode(failures).decode() if failures else None
        return result
