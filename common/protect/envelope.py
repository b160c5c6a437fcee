"""Envelope encryption of personal fields with SM4-GCM.

Two levels of keys:

- data keys (DEKs): random SM4 keys that encrypt the values. Each store keeps its
  DEKs in a table of its own (see DekStore), each *wrapped* (SM4-GCM encrypted) by a
  master key (KEK) of the key ring, with the KEK's id beside it;
- master keys (KEKs): from the environment or a secret file only (keys.py).

A value is a text token `v1:<dek_id>:<base64url(nonce 12 | ciphertext | tag 16)>`.
It names its data key, not the master key, so rotating the master key re-wraps the
few rows of the DEK table and no value (the event log's history stays untouched).
The associated data binds the token to the field's name: a phone token does not
decrypt as a cert_no. It does not bind the row, so a projection can copy a token
from an event as it is.
"""
from __future__ import annotations

import base64
import binascii
import os
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from common.protect.keys import KeyConfigError, KeyRing, ProtectionError

VERSION = "v1"
NONCE_BYTES = 12
TAG_BYTES = 16
DEK_BYTES = 16


class DecryptError(ProtectionError):
    """A token that cannot be decrypted: malformed, tampered, another field's, unknown data key."""


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    ct = enc.update(plaintext) + enc.finalize()
    return nonce + ct + enc.tag


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Raises InvalidTag (or ValueError when too short)."""
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise ValueError("too short")
    nonce, ct, tag = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:-TAG_BYTES], sealed[-TAG_BYTES:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    dec.authenticate_additional_data(aad)
    return dec.update(ct) + dec.finalize()


def _dek_aad(dek_id: str, kek_id: str) -> bytes:
    return f"edt-dek|{VERSION}|{dek_id}|{kek_id}".encode()


def _value_aad(field_name: str, dek_id: str) -> bytes:
    return f"edt-pi|{VERSION}|{field_name}|{dek_id}".encode()


@dataclass(frozen=True)
class WrappedDek:
    """One row of a DEK table: the data key sealed by master key `kek_id`."""
    dek_id: str
    kek_id: str
    wrapped: bytes  # nonce | SM4-GCM(KEK, dek) | tag, aad = dek id and kek id
    created: int  # unix seconds: the newest DEK encrypts new values


class DekStore(Protocol):
    """Where a store keeps its wrapped data keys (common.protect.sql for a database table)."""

    def load(self) -> list[WrappedDek]: ...

    def add(self, dek: WrappedDek) -> None: ...

    def replace(self, deks: Iterable[WrappedDek]) -> None:
        """Overwrite the rows of these dek_ids (re-wrapped), in one transaction."""
        ...


@dataclass
class MemoryDekStore:
    """A DekStore in memory (tests, benchmarks)."""
    rows: dict[str, WrappedDek] = field(default_factory=dict)

    def load(self) -> list[WrappedDek]:
        return list(self.rows.values())

    def add(self, dek: WrappedDek) -> None:
        if dek.dek_id in self.rows:
            raise ValueError(f"data key {dek.dek_id} exists")
        self.rows[dek.dek_id] = dek

    def replace(self, deks: Iterable[WrappedDek]) -> None:
        for dek in deks:
            self.rows[dek.dek_id] = dek


def wrap_dek(ring: KeyRing, dek_id: str, dek: bytes, created: int) -> WrappedDek:
    return WrappedDek(dek_id, ring.active_id, _seal(ring.active_kek, dek, _dek_aad(dek_id, ring.active_id)), created)


def unwrap_dek(ring: KeyRing, row: WrappedDek) -> bytes:
    kek = ring.kek(row.kek_id)
    try:
        return _open(kek, row.wrapped, _dek_aad(row.dek_id, row.kek_id))
    except (InvalidTag, ValueError):
        raise KeyConfigError(
            f"master key {row.kek_id!r} ({ring.source}) does not unwrap data key {row.dek_id!r}: "
            "wrong key material for this id, or the data key row was altered"
        ) from None


def new_dek(ring: KeyRing, store: DekStore) -> WrappedDek:
    row = wrap_dek(ring, "d" + secrets.token_hex(6), secrets.token_bytes(DEK_BYTES), int(time.time()))
    store.add(row)
    return row


class FieldProtector:
    """Encrypts and decrypts the personal fields of one store.

    Built at start-up: it unwraps every data key of the store at once, so a
    missing or wrong master key fails there (KeyConfigError), never as garbage
    later. Safe to share between threads and green threads.
    """

    def __init__(self, ring: KeyRing, store: DekStore):
        self.ring = ring
        self.store = store
        self._lock = threading.Lock()
        self._deks: dict[str, algorithms.SM4] = {}
        self._current: str | None = None
        self.reload()

    def reload(self) -> None:
        """Read the DEK table again (after a rotation by another process, or an unknown dek id)."""
        rows = self.store.load()
        deks = {row.dek_id: algorithms.SM4(unwrap_dek(self.ring, row)) for row in rows}
        newest = max(rows, key=lambda r: (r.created, r.dek_id), default=None)
        with self._lock:
            self._deks = deks
            self._current = newest.dek_id if newest else None

    def _current_dek(self) -> tuple[str, algorithms.SM4]:
        with self._lock:
            if self._current is None:
                row = new_dek(self.ring, self.store)
                self._deks[row.dek_id] = algorithms.SM4(unwrap_dek(self.ring, row))
                self._current = row.dek_id
            return self._current, self._deks[self._current]

    def ensure_data_key(self) -> str:
        """The data key new values are encrypted with, made now if the store
        has none. Called at start-up, outside any transaction: making a key
        writes to the store's table in a transaction of its own."""
        return self._current_dek()[0]

    def new_data_key(self) -> str:
        """Start a new data key for new values (older values keep theirs)."""
        with self._lock:
            row = new_dek(self.ring, self.store)
            self._deks[row.dek_id] = algorithms.SM4(unwrap_dek(self.ring, row))
            self._current = row.dek_id
            return row.dek_id

    def encrypt(self, field_name: str, value: str) -> str:
        return self.encrypt_bytes(field_name, value.encode("utf-8"))

    def decrypt(self, field_name: str, token: str) -> str:
        return self.decrypt_bytes(field_name, token).decode("utf-8")

    def encrypt_bytes(self, field_name: str, data: bytes) -> str:
        """For whole documents (a JSON answer, a batch's failures, an uploaded file)."""
        dek_id, algo = self._current_dek()
        nonce = os.urandom(NONCE_BYTES)
        enc = Cipher(algo, modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(_value_aad(field_name, dek_id))
        ct = enc.update(data) + enc.finalize()
        return f"{VERSION}:{dek_id}:{base64.urlsafe_b64encode(nonce + ct + enc.tag).rstrip(b'=').decode()}"

    def decrypt_bytes(self, field_name: str, token: str) -> bytes:
        try:
            version, dek_id, body = token.split(":")
        except (ValueError, AttributeError):
            raise DecryptError(f"field {field_name!r}: not a protected value") from None
        if version != VERSION:
            raise DecryptError(f"field {field_name!r}: unknown protected value version {version!r}")
        algo = self._deks.get(dek_id)
        if algo is None:
            self.reload()
            algo = self._deks.get(dek_id)
            if algo is None:
                raise DecryptError(f"field {field_name!r}: data key {dek_id!r} is not in this store's key table")
        try:
            sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise DecryptError(f"field {field_name!r}: malformed protected value") from None
        if len(sealed) < NONCE_BYTES + TAG_BYTES:
            raise DecryptError(f"field {field_name!r}: malformed protected value")
        nonce, ct, tag = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:-TAG_BYTES], sealed[-TAG_BYTES:]
        dec = Cipher(algo, modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(_value_aad(field_name, dek_id))
        try:
            return dec.update(ct) + dec.finalize()
        except InvalidTag:
            raise DecryptError(
                f"field {field_name!r}: authentication failed (value altered, or it belongs to another field)"
            ) from None

    def encrypt_optional(self, field_name: str, value: str | None) -> str | None:
        return None if value is None else self.encrypt(field_name, value)

    def decrypt_optional(self, field_name: str, token: str | None) -> str | None:
        return None if token is None else self.decrypt(field_name, token)


@dataclass(frozen=True)
class RotationReport:
    active_id: str
    rewrapped: list[str]  # dek ids moved to the active master key
    unchanged: list[str]  # already under it


def rotate(ring: KeyRing, store: DekStore) -> RotationReport:
    """Re-wrap every data key of `store` under the ring's active master key.

    The ring must still hold the old master keys; values are not touched.
    Run against each store (each service's database), then retire the old key
    (`keks_in_use` says which are still needed).
    """
    rewrapped: list[WrappedDek] = []
    unchanged: list[str] = []
    for row in store.load():
        if row.kek_id == ring.active_id:
            unwrap_dek(ring, row)  # proves the active key is the right one
            unchanged.append(row.dek_id)
        else:
            rewrapped.append(wrap_dek(ring, row.dek_id, unwrap_dek(ring, row), row.created))
    store.replace(rewrapped)
    return RotationReport(ring.active_id, sorted(r.dek_id for r in rewrapped), sorted(unchanged))


def keks_in_use(store: DekStore) -> set[str]:
    """Master key ids that wrap at least one data key of `store`."""
    return {row.kek_id for row in store.load()}


def can_retire(stores: Iterable[DekStore], kek_id: str) -> bool:
    """True when no data key of any of `stores` is wrapped by `kek_id` any more."""
    return all(kek_id not in keks_in_use(s) for s in stores)
