"""Nameko entrypoints of the audit service: the auditor's search and
export by RPC, and the consumer of the audit queue (consumer.py)."""
from common.db import Database
from common.errors import EXPECTED
from common.service import PlatformService, rpc
from services.audit import trail
from services.audit.consumer import RecordQueue
from services.audit.store import AuditStore


class AuditService(PlatformService):
    name = "audit"
    store = Database(AuditStore, protected=True)
    records = RecordQueue()

    @rpc(expected_exceptions=EXPECTED)
    def search(self, filters=None, page=1, size=20):
        return trail.search(self.store, filters or {}, page, size)

    @rpc(expected_exceptions=EXPECTED)
    def export(self, filters=None):
        return trail.export(self.store, filters or {})
