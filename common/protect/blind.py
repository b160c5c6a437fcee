"""Blind indexes: exact lookup of a protected value without decrypting.

index = hex(HMAC-SM3(index key, "<field>\\x00<normalised value>"))[:32], 128 bits:
the same value in the same field gives the same index under the same key, so a
column of indexes answers `WHERE cert_no_bidx = ?` through an ordinary B-tree
index. The field name in the message keeps a phone's index from matching a
cert_no's. 128 bits leave collisions out of reach for a city's persons while
keeping the column at 32 characters.

The same key, under another label, makes a person's `person_id`: the
opaque handle list answers give to open the person (docs/protection.md).

The key is separate from the master keys (keys.py, EDT_PI_INDEX_KEY). It cannot
be rotated in place: a new index key means rebuilding the indexes (the
projections are rebuilt from the log), so stores record the `key_id` their
indexes were built with and compare it at start-up.
"""
from __future__ import annotations

import base64
import functools
import os
import re
import unicodedata
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes, hmac

from common import identity
from common.protect.keys import KeyConfigError, KeyRing, _index_key, load_keys

INDEX_HEX_CHARS = 32  # 128 bits of the 256-bit SM3 HMAC
PERSON_ID_BYTES = 16  # 128 bits: 22 characters of base64url
PERSON_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_SPACES = re.compile(r"[\s\u3000\u00a0\u200b-]+")


def normalise_cert_no(value: str) -> str:
    """证件号码 as the domain stores it (common.identity.normalise_cert_no without a type:
    whitespace and invisible characters removed, full width folded, upper case). Index
    through BlindIndex.cert_no(cert_type, raw) to get an ID card's 15-digit upgrade too."""
    return str(identity.normalise_cert_no("99", value))


def normalise_phone(value: str) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", value))


def normalise_text(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).split())


NORMALISERS = {"cert_no": normalise_cert_no, "phone": normalise_phone}


class BlindIndex:
    def __init__(self, key_id: str, key: bytes):
        self.key_id = key_id
        self._key = key
        self._keyed = hmac.HMAC(key, hashes.SM3())  # copied for each value: the key is set up once

    @classmethod
    def from_ring(cls, ring: KeyRing) -> BlindIndex:
        return cls(ring.index_key_id, ring.index_key)

    def index(self, field_name: str, value: str) -> str:
        normalise = NORMALISERS.get(field_name, normalise_text)
        h = self._keyed.copy()
        h.update(field_name.encode() + b"\x00" + normalise(value).encode("utf-8"))
        return h.finalize().hex()[:INDEX_HEX_CHARS]

    def cert_no(self, cert_type: str, raw: str) -> str:
        """The index of a person's 证件号码, normalised as the person key is (a 15-digit ID
        card number upgraded to 18 digits): what the stores write beside `cert_type`."""
        return self.index("cert_no", str(identity.normalise_cert_no(cert_type, raw)))

    def cert_no_search(self, raw: str) -> list[str]:
        """Indexes to look for when the type is not given (a list filter): the plain
        normalised number and, for 15 digits, its ID-card upgrade
        (as services/declarations/queries._cert_no_spellings does)."""
        return sorted({self.cert_no("99", raw), self.cert_no(identity.ID_CARD, raw)})

    def person_id(self, cert_type: str, cert_no: str) -> str:
        """The opaque id of the person (cert_type, cert_no) in the API:
        base64url of the first 128 bits of HMAC-SM3(index key,
        "person_id\\x00<cert_type>\\x00<cert_no as the person key has it>").

        Stable while the index key is, the same in every process that holds
        it, and not the blind index of the number (another label), so an id
        shown on a screen cannot be matched against a column of indexes. It
        opens nothing by itself: the unit holding the person is checked when
        it is used."""
        h = self._keyed.copy()
        h.update(b"person_id\x00" + str(cert_type).encode("utf-8") + b"\x00"
                 + str(identity.normalise_cert_no(cert_type, cert_no)).encode("utf-8"))
        return base64.urlsafe_b64encode(h.finalize()[:PERSON_ID_BYTES]).rstrip(b"=").decode("ascii")

    def __repr__(self) -> str:
        return f"BlindIndex(key_id={self.key_id!r})"


def load_index(env: Mapping[str, str] | None = None, var_dir: str | None = None) -> BlindIndex:
    """The blind index of the configured index key. A process that needs no
    master key (the gateway, which only makes person ids) may be given
    EDT_PI_INDEX_KEY alone; otherwise the key ring's index key
    (keys.load_keys: environment, secret file, or the development file).
    Raises KeyConfigError."""
    env = os.environ if env is None else env
    if (env.get("EDT_PI_INDEX_KEY", "").strip() and not env.get("EDT_PI_KEYS", "").strip()
            and not env.get("EDT_PI_KEYS_FILE", "").strip()):
        return BlindIndex(*_index_key(env["EDT_PI_INDEX_KEY"], "EDT_PI_INDEX_KEY"))
    return BlindIndex.from_ring(load_keys(env, var_dir))


def require_index(env: Mapping[str, str] | None = None, var_dir: str | None = None) -> BlindIndex:
    """For start-up: load_index, or SystemExit with the reason (as require_keys)."""
    try:
        return load_index(env, var_dir)
    except KeyConfigError as e:
        raise SystemExit(f"refusing to start: personal-information keys: {e}") from None


@functools.lru_cache(maxsize=1)
def process_index() -> BlindIndex:
    """This process's blind index, loaded from its environment on first use
    (call it at start-up to fail there: a production process without the
    key stops, as require_keys does). `process_index.cache_clear()` forgets it."""
    return require_index()
