"""Personal-information protection (issue #17): SM4-GCM envelope encryption of
personal fields, HMAC-SM3 blind indexes, masking for lists. Design and wiring:
docs/protection.md."""
from common.protect.blind import (
    PERSON_ID,
    BlindIndex,
    load_index,
    normalise_cert_no,
    normalise_phone,
    process_index,
    require_index,
)
from common.protect.envelope import (
    DecryptError,
    DekStore,
    FieldProtector,
    MemoryDekStore,
    RotationReport,
    WrappedDek,
    can_retire,
    keks_in_use,
    rotate,
)
from common.protect.keys import KeyConfigError, KeyRing, ProtectionError, load_keys, require_keys
from common.protect.masking import mask_cert_no, mask_phone

__all__ = [
    "PERSON_ID", "BlindIndex", "DecryptError", "DekStore", "FieldProtector", "KeyConfigError", "KeyRing",
    "MemoryDekStore", "ProtectionError", "RotationReport", "WrappedDek", "can_retire", "keks_in_use", "load_index",
    "load_keys", "mask_cert_no", "mask_phone", "normalise_cert_no", "normalise_phone", "process_index",
    "require_index", "require_keys", "rotate",
]
