"""Whole documents of the declarations store that hold personal fields are
stored encrypted, one token each (issue 17, docs/protection.md,
services/declarations/sealed.py), on SQLite and PostgreSQL: idempotency
answers, a batch's failed rows and its uploaded file. The raw rows hold no
证件号码, 联系电话 or address of the test persons; the use cases still see the
same values; migration 6a1c4d8e0f35 converts rows stored before it."""
import base64
import io
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from common.db import make_engine
from deploy import migrate
from services.declarations import declaring, sealed
from services.declarations.batch import batches
from services.declarations.batch.store import BatchStore
from services.declarations.models import Base
from services.declarations.store import DeclarationsStore
from tests import fixtures_xlsx as fx
from tests.databases import schema_engine

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
U = {"id": 1, "name": "东海社区居民委员会", "credit_code": "91350503MA2Y8K3Q0A"}
ACTOR = {"account": "donghai", "request_id": "req-1", "address": "10.0.0.1"}
IDS = fx.many_ids(6)
PHONE = "13912345678"
ADDRESS = "东海社区88号"
HUKOU = "福建省泉州市丰泽区东海街道"


@pytest.fixture
def engine(db_url):
    with schema_engine(db_url, Base.metadata) as engine:
        yield engine


@pytest.fixture
def store(engine):
    with Session(engine) as session:
        yield DeclarationsStore(session)


def raw(engine, sql):
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


def assert_no_plaintext(values, secrets):
    for value in values:
        blob = value if isinstance(value, bytes) else str(value).encode("utf-8")
        for secret in secrets:
            assert secret.encode("utf-8") not in blob


def test_an_idempotent_replay_answers_the_same_and_the_stored_answer_is_one_token(store, engine):
    data = {"cert_type": "01", "cert_no": IDS[0], "name": "张三", "category": "11", "phone": PHONE,
            "address": ADDRESS, "hukou_address": HUKOU}
    first = declaring.declare(store, "enrol", U, ACTOR, data, NOW, TZ, "key-1")
    again = declaring.declare(store, "enrol", U, ACTOR, data, NOW, TZ, "key-1")
    assert again == first and first["cert_no"] == IDS[0]
    [(response,)] = raw(engine, "SELECT response FROM idempotency")
    assert response.startswith("v1:") and ":" not in response[3:].split(":", 1)[1]
    assert_no_plaintext([response], [IDS[0], PHONE, ADDRESS, HUKOU])


def test_a_batch_file_is_stored_encrypted_until_its_batch_ends(store, engine):
    data = fx.filled("enrolment", [fx.enrolment_row(i, phone=PHONE, address=ADDRESS) for i in IDS[:3]])
    queued = batches.submit(store, U, ACTOR, "enrolment", "参保.xlsx", data, NOW, TZ)
    assert queued["status"] == "queued"
    [(content,)] = raw(engine, "SELECT content FROM batch_files")
    content = bytes(content)
    assert content.startswith(b"v1:") and b"PK\x03\x04" not in content
    assert sealed.unseal_file(engine, content) == data  # what the worker reads
    assert batches.process_next(store, batches.Work(worker="w1", clock=lambda: NOW), TZ) == queued["batch_no"]
    assert raw(engine, "SELECT count(*) FROM batch_files") == [(0,)]


def test_a_batchs_failures_are_one_token_and_its_answer_and_failures_file_are_intact(store, engine):
    rows = [fx.enrolment_row(IDS[0], phone=PHONE, address=ADDRESS),
            fx.enrolment_row(IDS[1], phone="12", address=ADDRESS, hukou_address=HUKOU),
            fx.enrolment_row(IDS[2], category="火星人", phone=PHONE)]
    done = batches.import_batch(store, U, ACTOR, "enrolment", "参保.xlsx", fx.filled("enrolment", rows), NOW, TZ)
    assert (done["succeeded"], done["failed"]) == (1, 2)
    assert [(f["row"], f["cert_no"], f["cert_type"]) for f in done["failures"]] == [
        (3, IDS[1], "01"), (4, IDS[2], "01")]
    [(failures,)] = raw(engine, "SELECT failures FROM batches")
    assert failures.startswith("v1:")
    assert_no_plaintext([failures], [IDS[1], IDS[2], PHONE, ADDRESS, HUKOU])
    # the JSON answer and the failures file read back what was typed
    assert batches.get_batch(store, U["id"], done["batch_no"], TZ)["failures"] == done["failures"]
    with store.reading():
        batch = BatchStore(store.session).get(U["id"], done["batch_no"])
        stored = BatchStore(store.session).failures_of(batch)
    assert stored[0]["values"]["hukou_address"] == HUKOU and stored[1]["values"]["phone"] == PHONE
    download = batches.failures_workbook(store, U["id"], done["batch_no"])
    wb = openpyxl.load_workbook(io.BytesIO(base64.b64decode(download["content"])))
    ws = wb["城乡居民参保"]
    assert [ws["B2"].value, ws["H2"].value, ws["B3"].value, ws["H3"].value] == [IDS[1], "12", IDS[2], PHONE]


def test_a_failures_token_does_not_open_as_another_document(store, engine):
    """The field name is bound to the token: a failures token copied into the
    idempotency table is refused, not read as an answer."""
    token = sealed.seal(engine, sealed.BATCH_FAILURES, [{"cert_no": IDS[0]}])
    assert sealed.unseal(engine, sealed.BATCH_FAILURES, token) == [{"cert_no": IDS[0]}]
    from common.protect import DecryptError

    with pytest.raises(DecryptError):
        sealed.unseal(engine, sealed.IDEMPOTENCY_RESPONSE, token)


def test_the_migration_encrypts_documents_stored_before_it(db_url):
    migrate.upgrade("declarations", db_url, "1b6d9e3f5a70")
    answer = {"record_id": "r1", "cert_no": IDS[0], "phone": PHONE, "address": ADDRESS}
    failures = [{"row": 2, "cert_no": IDS[1], "name": "李四", "reason": "联系电话格式不正确",
                 "values": {"cert_no": IDS[1], "phone": PHONE, "hukou_address": HUKOU}}]
    upload = fx.filled("enrolment", [fx.enrolment_row(IDS[2], phone=PHONE)])
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO idempotency (account, key, fingerprint, response, created_at) "
                              "VALUES ('donghai', 'k1', 'fp', :r, :now)"), {"r": json.dumps(answer), "now": NOW})
            for n, status in ((1, "done"), (2, "queued")):
                conn.execute(text(
                    "INSERT INTO batches (batch_no, unit_id, business_type, submitted_at, file_name, file_sha256, "
                    "total, succeeded, failed, failures, status) VALUES (:no, 1, 'enrolment', :now, 'a.xlsx', "
                    ":sha, 1, 0, 1, :f, :status)"),
                    {"no": f"PL20261127-00000{n}", "now": NOW, "sha": f"{n:064d}",
                     "f": json.dumps(failures if n == 1 else []), "status": status})
            conn.execute(text("INSERT INTO batch_files (batch_no, content) VALUES ('PL20261127-000002', :c)"),
                         {"c": upload})
    finally:
        engine.dispose()
    migrate.upgrade("declarations", db_url)
    assert migrate.differences("declarations", db_url) == []
    engine = make_engine(db_url)
    try:
        values = (raw(engine, "SELECT response FROM idempotency") + raw(engine, "SELECT failures FROM batches")
                  + raw(engine, "SELECT content FROM batch_files"))
        assert_no_plaintext([v for (v,) in values], [IDS[0], IDS[1], PHONE, HUKOU])
        with Session(engine) as session:
            store = DeclarationsStore(session)
            assert store.answer("donghai", "k1") == ("fp", answer)
            found = BatchStore(session)
            assert found.failures_of(found.get(1, "PL20261127-000001")) == failures
            assert found.failures_of(found.get(1, "PL20261127-000002")) == []
            session.rollback()
        [(content,)] = raw(engine, "SELECT content FROM batch_files")
        assert bytes(content).startswith(b"v1:")
        assert sealed.unseal_file(engine, content) == upload
        assert all(str(v).startswith("v1:") for (v,) in values[:3])
    finally:
        engine.dispose()


def downgrade(service, url, revision):
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(service, conn), revision)
    finally:
        engine.dispose()


def test_the_migrations_downgrade_gives_the_plain_documents_back(db_url):
    """Down from 6a1c4d8e0f35 (a release rolled back) decrypts what it encrypted."""
    url = db_url
    migrate.upgrade("declarations", url)
    data = {"cert_type": "01", "cert_no": IDS[3], "name": "张三", "category": "11", "phone": PHONE}
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            first = declaring.declare(DeclarationsStore(session), "enrol", U, ACTOR, data, NOW, TZ, "key-9")
            done = batches.import_batch(DeclarationsStore(session), U, ACTOR, "enrolment", "a.xlsx",
                                        fx.filled("enrolment", [fx.enrolment_row(IDS[4], phone="12")]), NOW, TZ)
        assert done["failed"] == 1
    finally:
        engine.dispose()
    downgrade("declarations", url, "1b6d9e3f5a70")
    engine = make_engine(url)
    try:
        [(response,)] = raw(engine, "SELECT response FROM idempotency")
        [(failures,)] = raw(engine, "SELECT failures FROM batches")
        answer = response if isinstance(response, dict) else json.loads(response)
        rows = failures if isinstance(failures, list) else json.loads(failures)
        assert answer == first and rows[0]["cert_no"] == IDS[4] and rows[0]["values"]["phone"] == "12"
    finally:
        engine.dispose()
