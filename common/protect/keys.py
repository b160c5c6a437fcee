"""The key ring of personal-information protection: the master keys (KEKs) that
wrap the data keys, and the separate key of the blind indexes.

Keys come from the environment or from a mounted secret file, never from a
database or the repository:

    EDT_PI_KEYS="k2026a:<base64 16 bytes>,k2026b:<base64 16 bytes>"
    EDT_PI_ACTIVE_KEY=k2026b          (may be left out when one key is listed)
    EDT_PI_INDEX_KEY="i1:<base64 of 32 bytes>"

or EDT_PI_KEYS_FILE=/run/secrets/edt-pi-keys.json holding

    {"keys": {"k2026a": "<b64>", "k2026b": "<b64>"}, "active": "k2026b",
     "index_key": "i1:<b64>"}

With neither, outside production, a development key ring is generated once into
var/pi-keys.dev.json (mode 0600, like the SQLite files: never committed);
EDT_ENV=production refuses to start without configured keys. Every problem is a
KeyConfigError whose message names the setting and never contains key material.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEV_FILE = "pi-keys.dev.json"

KEK_BYTES = 16  # SM4 keys are 128 bits
INDEX_KEY_MIN_BYTES = 16
INDEX_KEY_BYTES = 32
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class ProtectionError(Exception):
    """Base of the errors of personal-information protection."""


class KeyConfigError(ProtectionError):
    """The keys are missing, malformed or do not match the stored data keys."""


@dataclass(frozen=True)
class KeyRing:
    keks: Mapping[str, bytes]
    active_id: str
    index_key_id: str
    index_key: bytes
    source: str  # "environment", "file <path>" or "development file <path>": for logs, no secrets

    def kek(self, kek_id: str) -> bytes:
        try:
            return self.keks[kek_id]
        except KeyError:
            raise KeyConfigError(
                f"master key {kek_id!r} is not configured (configured: {', '.join(sorted(self.keks))}); "
                "it is still needed until `rotate` has re-wrapped every data key it wraps"
            ) from None

    @property
    def active_kek(self) -> bytes:
        return self.keks[self.active_id]

    def __repr__(self) -> str:  # never print key material
        return (f"KeyRing(keks={sorted(self.keks)}, active_id={self.active_id!r}, "
                f"index_key_id={self.index_key_id!r}, source={self.source!r})")


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigError(f"{what} is not valid base64") from None


def _key_id(key_id: str, what: str) -> str:
    key_id = key_id.strip()
    if not _KEY_ID.fullmatch(key_id):
        raise KeyConfigError(f"{what}: key id {key_id!r} must be 1-32 characters of A-Z a-z 0-9 _ -")
    return key_id


def _kek(key_id: str, b64: str, where: str) -> tuple[str, bytes]:
    key_id = _key_id(key_id, where)
    key = _b64(b64, f"{where}: key {key_id!r}")
    if len(key) != KEK_BYTES:
        raise KeyConfigError(f"{where}: key {key_id!r} must be {KEK_BYTES} bytes (SM4-128), got {len(key)}")
    return key_id, key


def _pair(text: str, where: str) -> tuple[str, str]:
    key_id, sep, b64 = text.partition(":")
    if not sep or not key_id.strip() or not b64.strip():
        raise KeyConfigError(f"{where}: expected ID:BASE64")
    return key_id, b64


def _index_key(text: str, where: str) -> tuple[str, bytes]:
    key_id, b64 = _pair(text, where)
    key_id = _key_id(key_id, where)
    key = _b64(b64, f"{where}: key {key_id!r}")
    if len(key) < INDEX_KEY_MIN_BYTES:
        raise KeyConfigError(f"{where}: the index key must be at least {INDEX_KEY_MIN_BYTES} bytes, got {len(key)}")
    return key_id, key


def _ring(keks: dict[str, bytes], active: str | None, index: tuple[str, bytes], source: str,
          active_setting: str) -> KeyRing:
    if not keks:
        raise KeyConfigError(f"{source}: no master key listed")
    if active is None or not active.strip():
        if len(keks) > 1:
            raise KeyConfigError(f"{source}: several master keys listed, {active_setting} must name the active one")
        active = next(iter(keks))
    active = active.strip()
    if active not in keks:
        raise KeyConfigError(f"{source}: {active_setting}={active!r} is not one of the listed keys "
                             f"({', '.join(sorted(keks))})")
    if any(secrets.compare_digest(index[1], k) for k in keks.values()):
        raise KeyConfigError(f"{source}: the index key must differ from every master key")
    return KeyRing(keks=dict(keks), active_id=active, index_key_id=index[0], index_key=index[1], source=source)


def parse_env(env: Mapping[str, str]) -> KeyRing:
    keks: dict[str, bytes] = {}
    for item in env.get("EDT_PI_KEYS", "").split(","):
        if not item.strip():
            continue
        key_id, key = _kek(*_pair(item, "EDT_PI_KEYS"), "EDT_PI_KEYS")
        if key_id in keks:
            raise KeyConfigError(f"EDT_PI_KEYS: key id {key_id!r} listed twice")
        keks[key_id] = key
    index_text = env.get("EDT_PI_INDEX_KEY", "")
    if not index_text.strip():
        raise KeyConfigError("EDT_PI_INDEX_KEY is required with EDT_PI_KEYS (ID:BASE64, at least 16 bytes)")
    index = _index_key(index_text, "EDT_PI_INDEX_KEY")
    return _ring(keks, env.get("EDT_PI_ACTIVE_KEY"), index, "environment", "EDT_PI_ACTIVE_KEY")


def parse_file(path: str, source: str | None = None) -> KeyRing:
    source = source or f"file {path}"
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise KeyConfigError(f"{source}: cannot be read ({e.strerror})") from None
    except ValueError:
        raise KeyConfigError(f"{source}: not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
        raise KeyConfigError(f'{source}: expected {{"keys": {{ID: BASE64}}, "active": ID, "index_key": "ID:BASE64"}}')
    keks: dict[str, bytes] = {}
    for key_id, b64 in data["keys"].items():
        if not isinstance(b64, str):
            raise KeyConfigError(f"{source}: key {key_id!r} must be a base64 string")
        key_id, key = _kek(key_id, b64, source)
        keks[key_id] = key
    index_text = data.get("index_key")
    if not isinstance(index_text, str):
        raise KeyConfigError(f'{source}: "index_key" (ID:BASE64, at least 16 bytes) is required')
    active = data.get("active")
    if active is not None and not isinstance(active, str):
        raise KeyConfigError(f'{source}: "active" must be a key id')
    return _ring(keks, active, _index_key(index_text, source), source, '"active"')


def dev_key_file(var_dir: str) -> str:
    """The development key ring in `var_dir`, generated on first use (0600)."""
    path = os.path.join(var_dir, DEV_FILE)
    if not os.path.exists(path):
        os.makedirs(var_dir, exist_ok=True)
        content = json.dumps({
            "keys": {"dev1": base64.b64encode(secrets.token_bytes(KEK_BYTES)).decode()},
            "active": "dev1",
            "index_key": "devidx1:" + base64.b64encode(secrets.token_bytes(INDEX_KEY_BYTES)).decode(),
        }, indent=1)
        # Written whole under a private name, then linked into place: a
        # process starting at the same moment sees no file or the whole one,
        # never a half-written one; the first link wins.
        tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process of `make run` wrote it first
            pass
        finally:
            os.unlink(tmp)
    return path


def load_keys(env: Mapping[str, str] | None = None, var_dir: str | None = None) -> KeyRing:
    """The key ring from `env` (default os.environ); raises KeyConfigError."""
    env = os.environ if env is None else env
    has_env = bool(env.get("EDT_PI_KEYS", "").strip())
    file = env.get("EDT_PI_KEYS_FILE", "").strip()
    if has_env and file:
        raise KeyConfigError("EDT_PI_KEYS and EDT_PI_KEYS_FILE are both set: configure the keys in one place")
    if has_env:
        return parse_env(env)
    index_alone = bool(env.get("EDT_PI_INDEX_KEY", "").strip())
    if file:
        if index_alone:
            raise KeyConfigError("EDT_PI_INDEX_KEY and EDT_PI_KEYS_FILE are both set: configure the keys in one place")
        return parse_file(file)
    if index_alone:
        # The index key alone serves a process that needs no master key
        # (blind.load_index: the gateway's person ids); a ring made up from
        # the development file would index with another key.
        raise KeyConfigError("EDT_PI_INDEX_KEY is set without EDT_PI_KEYS: this process needs the master keys "
                             "too (EDT_PI_KEYS with EDT_PI_INDEX_KEY, or EDT_PI_KEYS_FILE)")
    if env.get("EDT_ENV") == "production":
        raise KeyConfigError("EDT_ENV=production needs personal-information keys: set EDT_PI_KEYS, "
                             "EDT_PI_ACTIVE_KEY and EDT_PI_INDEX_KEY, or EDT_PI_KEYS_FILE (see docs/protection.md)")
    path = dev_key_file(var_dir or os.path.join(ROOT, "var"))
    return parse_file(path, f"development file {path}")


def require_keys(env: Mapping[str, str] | None = None, var_dir: str | None = None) -> KeyRing:
    """For start-up: the key ring, or SystemExit with the reason (as common.production.check does)."""
    try:
        return load_keys(env, var_dir)
    except KeyConfigError as e:
        raise SystemExit(f"refusing to start: personal-information keys: {e}") from None
