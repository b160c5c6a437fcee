"""A store's protection at start-up (common/protect/runtime.py), on both
engines: built once per engine with the store's first data key made then;
a master key that is missing, or present with other material, stops the
process with a message naming the key and holding no key material; so does
production without keys. Values written under one process's protection are
read by another's (the data keys are in the store)."""
import base64
import os

import pytest
from sqlalchemy import MetaData

from common.db import make_engine
from common.protect import runtime
from common.protect.sql import SqlDekStore, data_keys_table


def keys(**kek):
    return {"EDT_PI_KEYS": ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in kek.items()),
            "EDT_PI_ACTIVE_KEY": list(kek)[-1],
            "EDT_PI_INDEX_KEY": "i1:" + base64.b64encode(b"i" * 32).decode()}


K1, K2 = os.urandom(16), os.urandom(16)


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    data_keys_table(MetaData()).create(engine)
    yield engine
    runtime.forget(engine)
    engine.dispose()


def test_built_once_per_engine_with_the_first_data_key_made_at_start(engine):
    first = runtime.protection(engine, keys(k1=K1))
    assert runtime.protection(engine, keys(k1=K1)) is first
    [dek] = SqlDekStore(engine).load()
    assert dek.kek_id == "k1"
    token = first.encrypt("phone", "13905951234")
    assert token.startswith(f"v1:{dek.dek_id}:") and "13905951234" not in token
    runtime.forget(engine)
    again = runtime.protection(engine, keys(k1=K1))  # another process, the same store
    assert again is not first and again.decrypt("phone", token) == "13905951234"
    assert len(SqlDekStore(engine).load()) == 1  # no second data key


def test_a_missing_master_key_stops_start_up_naming_it(engine):
    runtime.protection(engine, keys(k1=K1))
    runtime.forget(engine)
    with pytest.raises(SystemExit) as exc:
        runtime.protection(engine, keys(k2=K2))
    assert "refusing to start" in str(exc.value) and "'k1'" in str(exc.value)
    assert base64.b64encode(K2).decode() not in str(exc.value)


def test_a_wrong_master_key_under_the_right_id_stops_start_up(engine):
    runtime.protection(engine, keys(k1=K1))
    runtime.forget(engine)
    with pytest.raises(SystemExit) as exc:
        runtime.protection(engine, keys(k1=K2))
    assert "refusing to start" in str(exc.value) and "does not unwrap" in str(exc.value)
    for material in (K1, K2):
        assert base64.b64encode(material).decode() not in str(exc.value)


def test_production_without_keys_stops_start_up(engine):
    with pytest.raises(SystemExit) as exc:
        runtime.protection(engine, {"EDT_ENV": "production"})
    assert "EDT_ENV=production needs personal-information keys" in str(exc.value)
    assert SqlDekStore(engine).load() == []  # nothing written
