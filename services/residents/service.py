"""Nameko entrypoints of the residents service."""
from common.service import PlatformService


class ResidentsService(PlatformService):
    name = "residents"
