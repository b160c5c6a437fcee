"""Route modules, one per area of the API; `ALL` is what the app factory
registers. A new area adds one line to MODULES."""
import importlib

MODULES = [
    "health",
    "codes",
    "auth",
    "unit",
    "admin",
    "notices",
    "declarations",
    "residents",
    "events",
    "batches",
    "audit",
]

ALL = tuple(importlib.import_module(f"gateway.routes.{name}") for name in MODULES)
