"""Route modules, one per area of the API; `ALL` is what the app factory
registers. A new area adds its module here."""
from gateway.routes import admin, auth, health, unit

ALL = (health, auth, unit, admin)
from gateway.routes import notices; ALL += (notices,)  # noqa: E402,E702
