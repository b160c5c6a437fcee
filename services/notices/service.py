"""Nameko entrypoints of the notices service."""
from common.service import PlatformService


class NoticesService(PlatformService):
    name = "notices"
