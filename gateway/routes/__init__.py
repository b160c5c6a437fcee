"""Route modules, one per area of the API; `ALL` is what the app factory
registers. A new area adds its module here."""
from gateway.routes import admin, auth, health, unit

ALL = (health, auth, unit, admin)
