"""Gateway settings: every one has a default for one machine and an
environment variable for production (see the README's settings table)."""
import os


def _int(name, default):
    return int(os.environ.get(name, default))


def from_env():
    return {
        "AMQP_URI": os.environ.get("AMQP_URI", "amqp://guest:guest@localhost:5672/"),
        "RPC_TIMEOUT": float(os.environ.get("RPC_TIMEOUT", "30")),
        # How long a gateway process may reuse a token check (0: ask auth every time).
        "AUTH_CACHE_SECONDS": float(os.environ.get("GATEWAY_AUTH_CACHE_SECONDS", "30")),
        "READY_TIMEOUT": float(os.environ.get("READY_TIMEOUT", "1.5")),
        "MAX_CONTENT_LENGTH": _int("MAX_UPLOAD_BYTES", 10 * 1024 * 1024) + 64 * 1024,
        "MAX_UPLOAD_BYTES": _int("MAX_UPLOAD_BYTES", 10 * 1024 * 1024),
        "MAX_UPLOAD_ROWS": _int("MAX_UPLOAD_ROWS", 20000),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        "LOG_JSON": os.environ.get("LOG_JSON") == "1",
    }


SERVICES = ("auth", "declarations", "residents", "notices", "audit")
