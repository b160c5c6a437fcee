"""Blind indexes: exact lookup of a protected value without decrypting.

index = hex(HMAC-SM3(index key, "<field>\\x00<normalised value>"))[:32], 128 bits:
the same value in the same field gives the same index under the same key, so a
column of indexes answers `WHERE cert_no_bidx = ?` through an ordinary B-tree
index. The field name in the message keeps a phone's index from matching a
cert_no's. 128 bits leave collisions out of reach for a city's persons while
keeping the column at 32 characters.

The key is separate from the master keys (keys.py, EDT_PI_INDEX_KEY). It cannot
be rotated in place: a new index key means rebuilding the indexes (the
projections are rebuilt from the log), so stores record the `key_id` their
indexes were built with and compare it at start-up.
"""
from __future__ import annotations

import re
import unicodedata

from cryptography.hazmat.primitives import hashes, hmac

from common import identity
from common.protect.keys import KeyRing

INDEX_HEX_CHARS = 32  # 128 bits of the 256-bit SM3 HMAC
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

    @classmethod
    def from_ring(cls, ring: KeyRing) -> BlindIndex:
        return cls(ring.index_key_id, ring.index_key)

    def index(self, field_name: str, value: str) -> str:
        normalise = NORMALISERS.get(field_name, normalise_text)
        h = hmac.HMAC(self._key, hashes.SM3())
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

    def __repr__(self) -> str:
        return f"BlindIndex(key_id={self.key_id!r})"
