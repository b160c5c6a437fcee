"""A process's protection of one store: the FieldProtector over the data keys
in that store's database and the blind index, built once per engine.

A service builds it at start-up (its storage dependency's `setup`), so a
missing or wrong master key stops the process there (SystemExit naming the
setting), and the store's first data key is made outside any transaction of
the service (on SQLite a key made inside a write transaction would wait on
the store's own lock). Stores reach it with `protection(engine)`.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from common.protect.blind import BlindIndex
from common.protect.envelope import FieldProtector
from common.protect.keys import KeyConfigError, require_keys
from common.protect.sql import SqlDekStore


@dataclass(frozen=True)
class Protection:
    fields: FieldProtector
    index: BlindIndex

    def encrypt(self, field_name: str, value: str | None) -> str | None:
        return self.fields.encrypt_optional(field_name, value)

    def decrypt(self, field_name: str, token: str | None) -> str | None:
        return self.fields.decrypt_optional(field_name, token)


_built: weakref.WeakKeyDictionary[Engine, Protection] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def engine_of(bind: Engine | Connection | Session) -> Engine:
    """The Engine behind an Engine, a Connection or a Session."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def protection(bind: Engine | Connection | Session, env: Mapping[str, str] | None = None) -> Protection:
    """The protection of the store behind `bind` (an Engine, or a Connection
    or Session of it; built on first use; the table pi_data_keys must exist).
    SystemExit when the keys are missing or do not unwrap the store's data keys."""
    engine = engine_of(bind)
    with _lock:
        found = _built.get(engine)
        if found is not None:
            return found
        ring = require_keys(env)
        try:
            fields = FieldProtector(ring, SqlDekStore(engine))
            fields.ensure_data_key()
        except KeyConfigError as e:
            raise SystemExit(f"refusing to start: personal-information keys: {e}") from None
        built = _built[engine] = Protection(fields, BlindIndex.from_ring(ring))
        return built


def forget(engine: Engine | None = None) -> None:
    """Drop what was built (for one engine, or all): tests that change keys."""
    with _lock:
        if engine is None:
            _built.clear()
        else:
            _built.pop(engine, None)
