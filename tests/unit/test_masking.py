"""What a list shows of a person (issue 17 point 3, docs/protection.md):
the masking rules of common/protect/masking.py, which the lists and the log
lines share, and the opaque person ids of common/protect/blind.py."""
import base64
import os

import pytest

from common import identity, logs
from common.protect import BlindIndex, load_index, mask_cert_no, mask_phone, require_index
from common.protect.blind import PERSON_ID

# --- 证件号码 ---------------------------------------------------------------------------


@pytest.mark.parametrize("value, masked", [
    # 18 characters (居民身份证, 港澳台居民居住证): first 6 and last 4, the birth date hidden
    ("35050219900101123X", "350502********123X"),
    ("350502199001011234", "350502********1234"),
    ("35050219900101123x", "350502********123x"),  # shown as stored; stores keep an upper-case X
    (" 35050219900101123X ", "350502********123X"),
    ("810000199001011234", "810000********1234"),  # 港澳台居民居住证
    # 15-digit legacy ID numbers: first 6 and last 3, the 6 of the birth date hidden
    ("350502900101123", "350502******123"),
    # other documents: at least half hidden, the last up to 3 and the first up to 2 kept
    ("E12345678", "E*****678"),  # 中国护照, 9
    ("H12345678", "H*****678"),  # 港澳居民来往内地通行证, 9
    ("12345678", "1****678"),  # 台湾居民来往大陆通行证, 8
    ("G123456789", "G1*****789"),  # 10
    ("X1234567890", "X1******890"),  # a foreign passport, 11
    ("南字第123456号", "南字*****56号"),  # 军官证, CJK characters count as one each
    ("35050219900101123", "35************123"),  # a mistyped ID number (17): not the ID rule
    ("3505021990010112345", "35**************345"),  # 19
    ("350502A00101123", "35**********123"),  # 15 characters but not digits
    ("1234", "**34"),
    ("123", "**3"),
    ("12", "*2"),
    ("1", "*"),
    ("", ""),
    (None, None),
])
def test_mask_cert_no(value, masked):
    assert mask_cert_no(value) == masked


PHONES = [
    ("13812345678", "138****5678"),
    (" 13812345678 ", "138****5678"),
    ("0595-22345678", "059******5678"),  # a landline with its area code
    ("059522345678", "059*****5678"),
    ("22345678", "2***5678"),  # a landline without: at least a third hidden
    ("2234567", "***4567"),
    ("12345", "**345"),
    ("123", "*23"),
    ("1", "*"),
    ("", ""),
    (None, None),
]


@pytest.mark.parametrize("value, masked", PHONES)
def test_mask_phone(value, masked):
    assert mask_phone(value) == masked


VALUES = ["35050219900101123X", "350502900101123", "E12345678", "12345678", "南字第123456号", "35050219900101123",
          "1234", "12", "1", "13812345678", "0595-22345678", "22345678", "123", "+86 138 1234 5678"]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("mask", [mask_cert_no, mask_phone])
def test_a_mask_keeps_the_length_hides_something_and_masks_to_itself(mask, value):
    masked = mask(value)
    assert len(masked) == len(value.strip())
    assert masked != value and "*" in masked
    assert mask(masked) == masked  # masking an answer again (the gateway does) changes nothing


@pytest.mark.parametrize("value", [v for v in VALUES if len(v) not in (15, 18)])
def test_other_documents_keep_at_most_half_and_five_characters(value):
    shown = [c for c in mask_cert_no(value) if c != "*"]
    assert len(shown) <= min(5, len(value) // 2)


def test_the_logs_mask_as_the_lists_do():
    """One rule: common.logs finds numbers in free text and masks them with
    common.protect.masking."""
    line = "enrol 35050219900101123X legacy 350502900101123 phone 13812345678 ok"
    assert logs.mask(line) == (f"enrol {mask_cert_no('35050219900101123X')} legacy "
                               f"{mask_cert_no('350502900101123')} phone {mask_phone('13812345678')} ok")
    assert logs.mask_cert_no is mask_cert_no


# --- person ids --------------------------------------------------------------------------

CERT_NO = "35050219900101123X"


@pytest.fixture
def index():
    return BlindIndex("i1", os.urandom(32))


def test_a_person_id_is_opaque_url_safe_and_128_bits(index):
    pid = index.person_id("01", CERT_NO)
    assert PERSON_ID.fullmatch(pid) and len(base64.urlsafe_b64decode(pid + "==")) == 16
    for part in (CERT_NO, CERT_NO[6:14], CERT_NO[-4:], CERT_NO[:6]):
        assert part not in pid


def test_a_person_id_is_stable_and_follows_the_person_key(index):
    pid = index.person_id("01", CERT_NO)
    assert pid == index.person_id("01", CERT_NO) == BlindIndex("i1", index._key).person_id("01", CERT_NO)
    assert pid == index.person_id("01", " 350502 19900101 123x ")  # normalised as the person key is
    legacy = "350502900101123"
    assert index.person_id("01", legacy) == index.person_id("01", identity.normalise_cert_no("01", legacy))


def test_person_ids_differ_per_person_type_and_key_and_from_the_blind_index(index):
    pid = index.person_id("01", CERT_NO)
    assert pid != index.person_id("01", "350502199001011238")
    assert pid != index.person_id("99", CERT_NO)  # another type is another person
    assert pid != BlindIndex("i1", os.urandom(32)).person_id("01", CERT_NO)
    raw = base64.urlsafe_b64decode(pid + "==").hex()
    assert raw != index.index("cert_no", CERT_NO)  # another label: not the blind index of the number


def test_person_id_vector_is_hmac_sm3():
    from cryptography.hazmat.primitives import hashes, hmac
    key = bytes(range(32))
    h = hmac.HMAC(key, hashes.SM3())
    h.update(b"person_id\x0001\x00" + CERT_NO.encode())
    expected = base64.urlsafe_b64encode(h.finalize()[:16]).rstrip(b"=").decode()
    assert BlindIndex("i1", key).person_id("01", CERT_NO.lower()) == expected


def test_the_index_key_alone_is_enough_for_person_ids(tmp_path):
    key = base64.b64encode(os.urandom(32)).decode()
    index = load_index({"EDT_PI_INDEX_KEY": f"gw1:{key}", "EDT_ENV": "production"}, var_dir=str(tmp_path))
    assert index.key_id == "gw1"
    assert index.person_id("01", CERT_NO) == BlindIndex("gw1", base64.b64decode(key)).person_id("01", CERT_NO)
    assert os.listdir(tmp_path) == []  # no development key made


def test_the_ring_gives_the_same_person_ids_as_its_index_key_alone(tmp_path):
    kek, key = base64.b64encode(os.urandom(16)).decode(), base64.b64encode(os.urandom(32)).decode()
    ring = load_index({"EDT_PI_KEYS": f"k1:{kek}", "EDT_PI_INDEX_KEY": f"i1:{key}"})
    alone = load_index({"EDT_PI_INDEX_KEY": f"i1:{key}"})
    assert ring.person_id("01", CERT_NO) == alone.person_id("01", CERT_NO)


def test_development_person_ids_come_from_the_development_key_file(tmp_path):
    first = load_index({}, var_dir=str(tmp_path))
    assert (tmp_path / "pi-keys.dev.json").exists()
    assert load_index({}, var_dir=str(tmp_path)).person_id("01", CERT_NO) == first.person_id("01", CERT_NO)


def test_production_without_the_index_key_refuses_to_start(tmp_path):
    with pytest.raises(SystemExit, match="refusing to start.*EDT_ENV=production"):
        require_index({"EDT_ENV": "production"}, var_dir=str(tmp_path))
    with pytest.raises(SystemExit, match="EDT_PI_INDEX_KEY.*at least 16 bytes"):
        require_index({"EDT_PI_INDEX_KEY": "i1:" + base64.b64encode(b"short").decode()})
    assert os.listdir(tmp_path) == []


def test_a_process_that_needs_the_ring_is_not_given_the_index_key_alone(tmp_path):
    """The ring never pairs a configured index key with master keys from
    elsewhere (the development file), which would index with another key."""
    from common.protect import load_keys
    from common.protect.keys import KeyConfigError

    key = "i1:" + base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(KeyConfigError, match="EDT_PI_INDEX_KEY is set without EDT_PI_KEYS"):
        load_keys({"EDT_PI_INDEX_KEY": key}, var_dir=str(tmp_path))
    with pytest.raises(KeyConfigError, match="both set"):
        load_keys({"EDT_PI_INDEX_KEY": key, "EDT_PI_KEYS_FILE": str(tmp_path / "k.json")})
    assert os.listdir(tmp_path) == []
