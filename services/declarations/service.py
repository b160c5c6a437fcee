"""Nameko entrypoints of the declarations service.

`unit` is {id, name, credit_code} and `actor` {account, request_id, address},
both taken by the gateway from the caller's token, never from the request."""
import base64
from zoneinfo import ZoneInfo

from nameko.dependency_providers import Config

from common.clock import utcnow
from common.db import Database
from common.errors import EXPECTED
from common.service import PlatformService, rpc
from services.declarations import declaring, queries
from services.declarations.batch import batches
from services.declarations.domain import CHANGE, ENROL, SUSPEND
from services.declarations.store import DeclarationsStore


class DeclarationsService(PlatformService):
    name = "declarations"
    store = Database(DeclarationsStore)
    config = Config()

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
