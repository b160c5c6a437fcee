"""Nameko entrypoints of the notices service."""
from common.db import Database
from common.errors import EXPECTED
from common.service import PlatformService, rpc
from services.notices import notices
from services.notices.store import NoticesStore, utcnow


class NoticesService(PlatformService):
    name = "notices"
    store = Database(NoticesStore)

    # admins
    @rpc(expected_exceptions=EXPECTED)
    def publish(self, title, body, pinned=False, actor=None, idempotency_key=None):
        return notices.publish(self.store, title, body, pinned, utcnow(), actor, idempotency_key)

    @rpc(expected_exceptions=EXPECTED)
    def edit(self, notice_id, changes):
        return notices.edit(self.store, notice_id, changes, utcnow())

    @rpc(expected_exceptions=EXPECTED)
    def withdraw(self, notice_id):
        return notices.withdraw(self.store, notice_id, utcnow())

    @rpc(expected_exceptions=EXPECTED)
    def all_notices(self, page=1, size=20, state=None):
        return notices.all_notices(self.store, page, size, state)

    @rpc(expected_exceptions=EXPECTED)
    def notice_for_admin(self, notice_id):
        return notices.notice_for_admin(self.store, notice_id)

    # units; unit_id None is an admin, who sees the same and marks nothing
    @rpc(expected_exceptions=EXPECTED)
    def notices_for_unit(self, unit_id, page=1, size=20, unread_only=False):
        return notices.notices_for_unit(self.store, unit_id, page, size, unread_only)

    @rpc(expected_exceptions=EXPECTED)
    def read_notice(self, notice_id, unit_id):
        return notices.read_notice(self.store, notice_id, unit_id, utcnow())

    @rpc(expected_exceptions=EXPECTED)
    def unread_count(self, unit_id):
        return notices.unread_count(self.store, unit_id)
