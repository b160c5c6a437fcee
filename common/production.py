"""Refuse to run in production (EDT_ENV=production) on one-machine defaults:
secrets and addresses come from the environment only, and the personal-
information keys are configured (docs/protection.md; a service that stores
personal fields also unwraps its data keys at start-up, common/db.Database)."""
import os

from common.protect.blind import load_index
from common.protect.keys import KeyConfigError

# Setting name → fragments that mark a development default.
DEFAULTS = {
    "AMQP_URI": ("guest:guest@",),
    **{f"{s}_DATABASE_URL": ("sqlite:",) for s in ("AUTH", "DECLARATIONS", "RESIDENTS", "NOTICES", "AUDIT")},
}


def problems(env=None):
    env = os.environ if env is None else env
    found = []
    for name, bad in DEFAULTS.items():
        value = env.get(name, "")
        if not value or any(b in value for b in bad):
            found.append(name)
    try:  # every process needs at least the blind-index key (person ids)
        load_index({**env, "EDT_ENV": "production"})
    except KeyConfigError:
        found.append("EDT_PI_KEYS / EDT_PI_INDEX_KEY / EDT_PI_KEYS_FILE")
    return found


def check(env=None):
    env = os.environ if env is None else env
    if env.get("EDT_ENV") == "production":
        found = problems(env)
        if found:
            raise SystemExit("refusing to start in production with default settings: " + ", ".join(found))
