"""Refuse to run in production (EDT_ENV=production) on one-machine defaults:
secrets and addresses come from the environment only."""
import os

# Setting name → fragments that mark a development default.
DEFAULTS = {
    "AMQP_URI": ("guest:guest@",),
    **{f"{s}_DATABASE_URL": ("sqlite:",) for s in ("AUTH", "DECLARATIONS", "RESIDENTS", "NOTICES")},
}


def problems(env=None):
    env = os.environ if env is None else env
    found = []
    for name, bad in DEFAULTS.items():
        value = env.get(name, "")
        if not value or any(b in value for b in bad):
            found.append(name)
    return found


def check(env=None):
    env = os.environ if env is None else env
    if env.get("EDT_ENV") == "production":
        found = problems(env)
        if found:
            raise SystemExit("refusing to start in production with default settings: " + ", ".join(found))
