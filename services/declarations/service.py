"""Nameko entrypoints of the declarations service."""
from nameko.rpc import rpc

from common.errors import EXPECTED
from common.service import PlatformService


class DeclarationsService(PlatformService):
    name = "declarations"

    @rpc(expected_exceptions=EXPECTED)
    def unit_summary(self, unit_id):
        from datetime import datetime
        return {"insured_count": 0, "month": datetime.now().strftime("%Y-%m"),
                "month_increase": 0, "month_decrease": 0}

    @rpc(expected_exceptions=EXPECTED)
    def unit_stats(self, unit_id, months):
        return []
