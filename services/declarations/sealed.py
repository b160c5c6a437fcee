"""Whole documents of the declarations store that hold personal fields, each
kept as ONE protected value (docs/protection.md, "Wiring"): an idempotency
answer (`idempotency.response`), a batch's failed rows (`batches.failures`,
the rows as typed) and an uploaded batch file (`batch_files.content`).

A document is encrypted whole with the store's FieldProtector
(`encrypt_bytes(<table.column>, ...)`, SM4-GCM under the store's newest data
key; the field name is the associated data, so a failures token never opens
as an answer). Reads decrypt, so the use cases see the same values as before.

`bind` is the store's Engine, or a Connection or Session of it. The
protection is built once per engine: by the service's and the batch
worker's `Database(protected=True)` at start-up, and by the stores
(DeclarationsStore, BatchStore) when they are made, before a use case opens
its transaction (on SQLite, a first data key made inside a write
transaction would wait on the store's own lock).
"""
import orjson

from common.protect.runtime import protection

IDEMPOTENCY_RESPONSE = "idempotency.response"
BATCH_FAILURES = "batches.failures"
BATCH_FILE = "batch_files.content"

_JSON = orjson.OPT_NON_STR_KEYS


def seal(bind, field, value):
    """The token of `value` (JSON) as field `field`."""
    return protection(bind).fields.encrypt_bytes(field, orjson.dumps(value, option=_JSON))


def unseal(bind, field, token):
    """The JSON value of a token written by `seal`."""
    return orjson.loads(protection(bind).fields.decrypt_bytes(field, token))


def seal_file(bind, content):
    """An uploaded file as stored: the token's ASCII bytes."""
    return protection(bind).fields.encrypt_bytes(BATCH_FILE, bytes(content)).encode("ascii")


def unseal_file(bind, stored):
    if stored is None:
        return None
    return protection(bind).fields.decrypt_bytes(BATCH_FILE, bytes(stored).decode("ascii"))
