"""Personal-information protection (common/protect, docs/protection.md):
SM4-GCM envelope encryption, key ring, rotation, blind indexes (masking and
person ids: test_masking.py)."""
import base64
import json
import os
import stat

import pytest
from sqlalchemy import MetaData, create_engine

from common import identity
from common.protect import (
    BlindIndex,
    DecryptError,
    FieldProtector,
    KeyConfigError,
    MemoryDekStore,
    can_retire,
    keks_in_use,
    load_keys,
    require_keys,
    rotate,
)
from common.protect.envelope import WrappedDek
from common.protect.keys import parse_env
from common.protect.sql import SqlDekStore, data_keys_table

CERT_NO = "35050219900101123X"
PHONE = "13812345678"


def b64(n, fill=None):
    return base64.b64encode(bytes([fill]) * n if fill is not None else os.urandom(n)).decode()


def env_for(keys, active=None, index=None):
    env = {"EDT_PI_KEYS": ",".join(f"{k}:{v}" for k, v in keys.items()),
           "EDT_PI_INDEX_KEY": index or f"i1:{b64(32)}"}
    if active:
        env["EDT_PI_ACTIVE_KEY"] = active
    return env


K1, K2 = b64(16), b64(16)


@pytest.fixture
def ring():
    return parse_env(env_for({"k1": K1}))


@pytest.fixture
def protector(ring):
    return FieldProtector(ring, MemoryDekStore())


# --- envelope -------------------------------------------------------------------------

def test_round_trip_of_each_field(protector):
    for field, value in [("cert_no", CERT_NO), ("phone", PHONE), ("address", "泉州市丰泽区东海街道 1 号"),
                         ("name", "张三"), ("cert_no", "")]:
        token = protector.encrypt(field, value)
        assert token.startswith("v1:")
        assert protector.decrypt(field, token) == value


def test_documents_and_files_round_trip_as_bytes(protector):
    data = b"PK\x03\x04" + os.urandom(1000)
    token = protector.encrypt_bytes("batch_files.content", data)
    assert protector.decrypt_bytes("batch_files.content", token) == data
    with pytest.raises(DecryptError):
        protector.decrypt_bytes("idempotency.response", token)


def test_same_value_encrypts_differently_each_time(protector):
    assert protector.encrypt("cert_no", CERT_NO) != protector.encrypt("cert_no", CERT_NO)


def test_ciphertext_does_not_contain_the_plaintext_or_its_digits(protector):
    token = protector.encrypt("cert_no", CERT_NO)
    raw = base64.urlsafe_b64decode(token.split(":")[2] + "==")
    for needle in (CERT_NO, CERT_NO[:17], "19900101", "350502", "123X"):
        assert needle not in token
        assert needle.encode() not in raw
        assert needle.encode().hex() not in raw.hex()
    # And no run of 6 of its digits in a row.
    runs = {CERT_NO[i:i + 6] for i in range(len(CERT_NO) - 5)}
    assert not any(r in token for r in runs)


def test_the_token_names_its_data_key_and_is_compact(protector):
    token = protector.encrypt("cert_no", CERT_NO)
    version, dek_id, body = token.split(":")
    assert (version, dek_id) == ("v1", protector._current)
    assert len(token) < 80


def _flip(token, at):
    version, dek_id, body = token.split(":")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[at] ^= 1
    return f"{version}:{dek_id}:{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


@pytest.mark.parametrize("at, what", [(0, "nonce"), (14, "ciphertext"), (-1, "tag")])
def test_tampering_is_detected(protector, at, what):
    token = protector.encrypt("cert_no", CERT_NO)
    with pytest.raises(DecryptError, match="authentication failed"):
        protector.decrypt("cert_no", _flip(token, at))


def test_a_value_cannot_be_moved_to_another_field(protector):
    token = protector.encrypt("phone", PHONE)
    with pytest.raises(DecryptError, match="'cert_no': authentication failed"):
        protector.decrypt("cert_no", token)


@pytest.mark.parametrize("token", ["", "35050219900101123X", "v1:x", "v2:d1:AAAA", "v1:dnope:AAAA",
                                   "v1:{dek}:!!!", "v1:{dek}:AAAA", "v1:{dek}:AA:BB"])
def test_malformed_tokens_are_clear_errors(protector, token):
    protector.encrypt("cert_no", CERT_NO)
    with pytest.raises(DecryptError) as e:
        protector.decrypt("cert_no", token.format(dek=protector._current))
    assert CERT_NO not in str(e.value)


def test_a_wrong_master_key_fails_at_start_up_not_as_garbage(ring):
    store = MemoryDekStore()
    FieldProtector(ring, store).encrypt("cert_no", CERT_NO)
    wrong = parse_env(env_for({"k1": K2}))  # same id, other material
    with pytest.raises(KeyConfigError, match="'k1'.*does not unwrap data key"):
        FieldProtector(wrong, store)


def test_a_missing_master_key_fails_at_start_up(ring):
    store = MemoryDekStore()
    FieldProtector(ring, store).encrypt("cert_no", CERT_NO)
    other = parse_env(env_for({"k2": K2}))
    with pytest.raises(KeyConfigError, match="master key 'k1' is not configured"):
        FieldProtector(other, store)


def test_a_data_key_row_moved_to_another_id_does_not_unwrap(ring):
    store = MemoryDekStore()
    FieldProtector(ring, store).encrypt("cert_no", CERT_NO)
    (row,) = store.load()
    store.rows = {"dother": WrappedDek("dother", row.kek_id, row.wrapped, row.created)}
    with pytest.raises(KeyConfigError, match="does not unwrap"):
        FieldProtector(ring, store)


def test_a_second_process_sees_data_keys_added_by_the_first(ring):
    store = MemoryDekStore()
    first, second = FieldProtector(ring, store), FieldProtector(ring, store)
    token = first.encrypt("phone", PHONE)
    assert second.decrypt("phone", token) == PHONE  # unknown dek id → table read again


def test_new_data_key_for_new_values_old_values_still_decrypt(protector):
    old = protector.encrypt("cert_no", CERT_NO)
    dek = protector.new_data_key()
    new = protector.encrypt("cert_no", CERT_NO)
    assert new.split(":")[1] == dek != old.split(":")[1]
    assert protector.decrypt("cert_no", old) == protector.decrypt("cert_no", new) == CERT_NO


# --- rotation -------------------------------------------------------------------------

def test_rotation_rewraps_data_keys_and_the_old_master_key_can_be_retired():
    store = MemoryDekStore()
    ring1 = parse_env(env_for({"k1": K1}, index=f"i1:{b64(32, 7)}"))
    p1 = FieldProtector(ring1, store)
    tokens = [p1.encrypt("cert_no", CERT_NO), p1.encrypt("phone", PHONE)]
    p1.new_data_key()
    tokens.append(p1.encrypt("address", "泉州市"))
    assert keks_in_use(store) == {"k1"}

    both = parse_env(env_for({"k1": K1, "k2": K2}, active="k2", index=f"i1:{b64(32, 7)}"))
    report = rotate(both, store)
    assert report.active_id == "k2" and len(report.rewrapped) == 2 and report.unchanged == []
    assert keks_in_use(store) == {"k2"} and can_retire([store], "k1")
    assert rotate(both, store).rewrapped == []  # idempotent

    retired = parse_env(env_for({"k2": K2}, index=f"i1:{b64(32, 7)}"))
    p2 = FieldProtector(retired, store)
    assert [p2.decrypt(f, t) for f, t in zip(["cert_no", "phone", "address"], tokens, strict=True)] == [
        CERT_NO, PHONE, "泉州市"]
    assert tokens[0].split(":")[1] in store.rows  # the values were not rewritten


def test_rotation_needs_the_old_key_and_does_not_half_apply():
    store = MemoryDekStore()
    FieldProtector(parse_env(env_for({"k1": K1})), store).encrypt("cert_no", CERT_NO)
    before = dict(store.rows)
    with pytest.raises(KeyConfigError, match="'k1' is not configured"):
        rotate(parse_env(env_for({"k2": K2})), store)
    assert store.rows == before and not can_retire([store], "k1")


def test_sql_data_key_table_round_trip_and_rotation():
    engine = create_engine("sqlite://")
    md = MetaData()
    table = data_keys_table(md)
    md.create_all(engine)
    store = SqlDekStore(engine, table)
    token = FieldProtector(parse_env(env_for({"k1": K1})), store).encrypt("cert_no", CERT_NO)
    rotate(parse_env(env_for({"k1": K1, "k2": K2}, active="k2")), store)
    assert keks_in_use(store) == {"k2"}
    assert FieldProtector(parse_env(env_for({"k2": K2})), store).decrypt("cert_no", token) == CERT_NO


# --- key ring -------------------------------------------------------------------------

def test_production_without_keys_refuses_to_start(tmp_path):
    with pytest.raises(SystemExit, match="refusing to start.*EDT_ENV=production.*EDT_PI_KEYS"):
        require_keys({"EDT_ENV": "production"}, var_dir=str(tmp_path))
    assert os.listdir(tmp_path) == []  # no development key made in production


def test_production_with_keys_starts():
    env = env_for({"k1": K1}) | {"EDT_ENV": "production"}
    assert require_keys(env).active_id == "k1"


def test_development_generates_a_private_key_file_once(tmp_path):
    ring = load_keys({}, var_dir=str(tmp_path))
    path = tmp_path / "pi-keys.dev.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_keys({}, var_dir=str(tmp_path))
    assert again.keks == ring.keks and again.index_key == ring.index_key
    assert ring.index_key not in ring.keks.values()


def test_secret_file(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": {"k1": K1, "k2": K2}, "active": "k2", "index_key": f"ix:{b64(32)}"}))
    ring = load_keys({"EDT_PI_KEYS_FILE": str(path), "EDT_ENV": "production"})
    assert (ring.active_id, sorted(ring.keks), ring.index_key_id) == ("k2", ["k1", "k2"], "ix")
    assert K1 not in repr(ring)


@pytest.mark.parametrize("env, message", [
    ({"EDT_PI_KEYS": "k1"}, "expected ID:BASE64"),
    ({"EDT_PI_KEYS": "k1:not base64!"}, "not valid base64"),
    ({"EDT_PI_KEYS": f"k1:{b64(12)}"}, "must be 16 bytes"),
    ({"EDT_PI_KEYS": f"k 1:{K1}"}, "key id"),
    ({"EDT_PI_KEYS": f"k1:{K1},k1:{K2}"}, "listed twice"),
    ({"EDT_PI_KEYS": f"k1:{K1}"}, "EDT_PI_INDEX_KEY is required"),
    ({"EDT_PI_KEYS": f"k1:{K1}", "EDT_PI_INDEX_KEY": f"i:{b64(8)}"}, "at least 16 bytes"),
    ({"EDT_PI_KEYS": f"k1:{K1}", "EDT_PI_INDEX_KEY": f"i:{K1}"}, "must differ"),
    ({"EDT_PI_KEYS": f"k1:{K1},k2:{K2}", "EDT_PI_INDEX_KEY": f"i:{b64(32)}"}, "EDT_PI_ACTIVE_KEY must name"),
    ({"EDT_PI_KEYS": f"k1:{K1}", "EDT_PI_ACTIVE_KEY": "k9", "EDT_PI_INDEX_KEY": f"i:{b64(32)}"},
     "'k9' is not one of"),
    ({"EDT_PI_KEYS": f"k1:{K1}", "EDT_PI_KEYS_FILE": "/x"}, "both set"),
    ({"EDT_PI_KEYS_FILE": "/nonexistent/keys.json"}, "cannot be read"),
])
def test_malformed_configuration_is_a_clear_error_without_key_material(env, message):
    with pytest.raises(KeyConfigError, match=message) as e:
        load_keys(env)
    assert K1 not in str(e.value) and K2 not in str(e.value)
    with pytest.raises(SystemExit, match="refusing to start"):
        require_keys(env)


def test_malformed_secret_file(tmp_path):
    path = tmp_path / "keys.json"
    for content, message in [("{", "not valid JSON"), ("[]", "expected"),
                             (json.dumps({"keys": {"k1": K1}}), "index_key"),
                             (json.dumps({"keys": {"k1": 5}, "index_key": "i:x"}), "base64 string")]:
        path.write_text(content)
        with pytest.raises(KeyConfigError, match=message):
            load_keys({"EDT_PI_KEYS_FILE": str(path)})


# --- blind index ----------------------------------------------------------------------

def test_blind_index_is_stable_normalised_and_key_dependent():
    key = os.urandom(32)
    a, b = BlindIndex("i1", key), BlindIndex("i1", key)
    x = a.index("cert_no", CERT_NO)
    assert len(x) == 32 and int(x, 16) >= 0
    assert x == b.index("cert_no", CERT_NO)
    assert x == a.index("cert_no", " 350502 19900101 123x ") == a.index("cert_no", "３５０５０２19900101123ｘ")
    assert x != a.index("cert_no", "350502199001011238")
    assert x != BlindIndex("i2", os.urandom(32)).index("cert_no", CERT_NO)
    assert a.index("phone", PHONE) != a.index("cert_no", PHONE)  # fields are separated
    assert CERT_NO not in x and "19900101" not in x


def test_blind_index_of_cert_no_follows_the_person_key():
    bidx = BlindIndex("i1", os.urandom(32))
    legacy = "350502900101123"
    upgraded = identity.normalise_cert_no("01", legacy)
    assert len(upgraded) == 18
    assert bidx.cert_no("01", legacy) == bidx.cert_no("01", upgraded) == bidx.index("cert_no", upgraded)
    assert bidx.cert_no("99", legacy) == bidx.index("cert_no", legacy) != bidx.cert_no("01", legacy)
    assert set(bidx.cert_no_search(legacy)) == {bidx.cert_no("01", legacy), bidx.cert_no("99", legacy)}
    assert bidx.cert_no_search(CERT_NO) == [bidx.cert_no("01", CERT_NO)]


def test_blind_index_vector_is_hmac_sm3():
    from cryptography.hazmat.primitives import hashes, hmac
    key = bytes(range(32))
    h = hmac.HMAC(key, hashes.SM3())
    h.update(b"cert_no\x00" + CERT_NO.encode())
    assert BlindIndex("i1", key).index("cert_no", CERT_NO.lower()) == h.finalize().hex()[:32]


# Masking and person ids: tests/unit/test_masking.py.
