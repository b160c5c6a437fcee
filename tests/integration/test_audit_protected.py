"""The audit store keeps no personal data in plain text (issue 17,
docs/protection.md), on SQLite and PostgreSQL: a record's object and person
(the 证件号码 read) are encrypted with the audit database's own data keys, a
blind index answers the auditor's exact search by number, the export and
the page decrypt, archive files hold the encrypted form, the hash chain (over
the plain records) still verifies, migration 7b2d5e9f1a46 converts records
stored before it without changing a hash, and the master key wrapping the
store's data keys can be rotated and the old one retired."""
import base64
import gzip
import io
import os
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from common.audit import record as audit_record
from common.db import make_engine
from common.protect import runtime
from deploy import migrate
from services.audit import archive, chain, cli, trail
from services.audit.store import AuditStore

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PHONE = "13912345678"


def cert_no(n):
    return f"35050219900101{n:04d}"


def message(n, at=NOW, **fields):
    base = audit_record("roster.person", account="unit_1", role="unit", unit_id=1, address="10.0.0.1",
                        request_id=f"req{n}", at=at,
                        object={"cert_type": "01", "cert_no": cert_no(n), "phone": PHONE, "name": "张三"})
    base.update(fields)
    return base


@pytest.fixture
def url(db_url):
    migrate.upgrade("audit", db_url)
    return db_url


def open_store(url):
    engine = make_engine(url)
    return engine, AuditStore(Session(engine, expire_on_commit=False))


@pytest.fixture
def store(url):
    engine, store = open_store(url)
    yield store
    store.session.close()
    engine.dispose()


def run_cli(url, tmp_path, *args):
    out = io.StringIO()
    code = cli.main(["--database-url", url, "--archive-dir", str(tmp_path / "archive"), *args], out=out)
    return code, out.getvalue()


def raw_rows(store):
    rows = store.session.execute(text(
        "SELECT object, person_enc, person_bidx FROM audit_records ORDER BY seq")).all()
    store.session.rollback()
    return rows


def assert_no_plaintext(values, secrets):
    for value in values:
        for secret in secrets:
            assert secret not in str(value)


def test_records_are_stored_encrypted_and_found_exactly_by_cert_no(store, url, tmp_path):
    trail.record(store, [message(n) for n in range(1, 6)], NOW)
    trail.record(store, [audit_record("roster.list", account="unit_1", object={"filters": {"phone": PHONE}})], NOW)
    rows = raw_rows(store)
    assert len(rows) == 6
    assert all(r.object.startswith("v1:") for r in rows)
    assert all(r.person_enc.startswith("v1:") and len(r.person_bidx) == 32 for r in rows[:5])
    assert rows[5].person_enc is None and rows[5].person_bidx is None
    assert_no_plaintext([v for r in rows for v in r], [cert_no(n) for n in range(1, 6)] + [PHONE, "张三"])
    # the auditor's search: exact, by the number as typed (normalised)
    hit = trail.search(store, {"cert_no": cert_no(3)}, 1, 20)
    assert hit["total"] == 1 and hit["items"][0]["object"] == {
        "cert_type": "01", "cert_no": cert_no(3), "phone": PHONE, "name": "张三"}
    assert trail.search(store, {"cert_no": f" {cert_no(3)} "}, 1, 20)["total"] == 1
    assert trail.search(store, {"cert_no": cert_no(3)[:-1]}, 1, 20)["total"] == 0
    assert trail.search(store, {"cert_no": cert_no(9)}, 1, 20)["total"] == 0
    assert trail.search(store, {}, 1, 20)["items"][0]["object"] == {"filters": {"phone": PHONE}}
    # the export decrypts
    exported = trail.export(store, {"cert_no": cert_no(2)})
    ws = openpyxl.load_workbook(io.BytesIO(base64.b64decode(exported["content"]))).active
    assert exported["rows"] == 1 and cert_no(2) in ws["I2"].value
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 0 and "intact: 6 records" in out, out


def test_a_changed_token_is_named_as_an_edited_record(store, url, tmp_path):
    trail.record(store, [message(n) for n in range(1, 6)], NOW)
    other = store.session.scalar(text("SELECT object FROM audit_records WHERE seq = 4"))
    store.session.execute(text("UPDATE audit_records SET object = :o WHERE seq = 2"), {"o": other})
    store.session.execute(text("UPDATE audit_records SET person_enc = 'v1:nokey:AAAA' WHERE seq = 3"))
    store.session.commit()
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 1
    assert "edited: seq 2:" in out and "edited: seq 3:" in out and "NOT intact: 2 problem(s)" in out


def test_archive_files_hold_the_encrypted_records_and_the_chain_continues(store, url, tmp_path):
    trail.record(store, [message(n, at=NOW - timedelta(days=200)) for n in range(1, 5)], NOW)
    trail.record(store, [message(n) for n in range(5, 7)], NOW)
    code, out = run_cli(url, tmp_path, "archive", "--before", (NOW - timedelta(days=181)).date().isoformat())
    assert code == 0 and "(4 records)" in out, out
    [name] = os.listdir(tmp_path / "archive")
    with gzip.open(tmp_path / "archive" / name, "rt", encoding="utf-8") as f:
        content = f.read()
    assert content.count('"object":"v1:') == 4
    assert_no_plaintext([content], [cert_no(n) for n in range(1, 5)] + [PHONE, "张三"])
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 0 and "intact: 6 records" in out, out


def test_the_migration_encrypts_records_chained_before_it_without_changing_a_hash(db_url, tmp_path):
    migrate.upgrade("audit", db_url, "3d8f1a5b7c92")
    records = chain.chain([chain.normalise(message(n), NOW) for n in range(1, 8)], chain.GENESIS, 0)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO audit_records (seq, record_id, at, account, role, unit_id, address, request_id, "
                "action, object, person, outcome, prev_hash, hash) VALUES (:seq, :id, :at, :account, :role, "
                ":unit_id, :address, :request_id, :action, :object, :person, :outcome, :prev_hash, :hash)"),
                [{**r, "at": chain.parse_at(r["at"])} for r in records])
            conn.execute(text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 7, :h)"),
                         {"h": records[-1]["hash"]})
    finally:
        engine.dispose()
    migrate.upgrade("audit", db_url)
    assert migrate.differences("audit", db_url) == []
    engine, store = open_store(db_url)
    try:
        rows = raw_rows(store)
        assert_no_plaintext([v for r in rows for v in r], [cert_no(n) for n in range(1, 8)] + [PHONE])
        hashes = [h for (h,) in store.session.execute(text("SELECT hash FROM audit_records ORDER BY seq"))]
        store.session.rollback()
        assert hashes == [r["hash"] for r in records]
        assert trail.search(store, {"cert_no": cert_no(5)}, 1, 20)["total"] == 1
        report = archive.verify(store, str(tmp_path / "none"))
        assert report.intact and report.records == 7
        trail.record(store, [message(8)], NOW)
        assert archive.verify(store, str(tmp_path / "none")).intact
    finally:
        store.session.close()
        engine.dispose()


# -- rotation of the master key -------------------------------------------------

K1 = base64.b64encode(b"1" * 16).decode()
K2 = base64.b64encode(b"2" * 16).decode()
INDEX = "i1:" + base64.b64encode(b"i" * 32).decode()


@pytest.fixture
def keys(monkeypatch):
    def use(listed, active):
        monkeypatch.delenv("EDT_PI_KEYS_FILE", raising=False)
        monkeypatch.setenv("EDT_PI_KEYS", ",".join(f"{kid}:{key}" for kid, key in listed.items()))
        monkeypatch.setenv("EDT_PI_ACTIVE_KEY", active)
        monkeypatch.setenv("EDT_PI_INDEX_KEY", INDEX)
        runtime.forget()

    yield use
    runtime.forget()


def test_the_audit_stores_master_key_is_rotated_and_the_old_one_retired(url, tmp_path, keys):
    keys({"k1": K1}, "k1")
    engine, store = open_store(url)
    trail.record(store, [message(n) for n in range(1, 4)], NOW)
    store.session.close()
    engine.dispose()
    assert run_cli(url, tmp_path, "protect-keys")[1].strip() == "master keys in use: k1"

    # step 1: k2 added and active; step 2: rotate
    keys({"k1": K1, "k2": K2}, "k2")
    code, out = run_cli(url, tmp_path, "protect-rotate")
    assert code == 0 and "active master key: k2" in out and "data keys re-wrapped: 1" in out, out
    assert run_cli(url, tmp_path, "protect-rotate")[1].count("data keys re-wrapped: 0") == 1
    assert run_cli(url, tmp_path, "protect-keys")[1].strip() == "master keys in use: k2"

    # step 3: k1 retired; everything still reads, and new records chain on
    keys({"k2": K2}, "k2")
    engine, store = open_store(url)
    try:
        trail.record(store, [message(4)], NOW)
        assert trail.search(store, {"cert_no": cert_no(2)}, 1, 20)["items"][0]["object"]["cert_no"] == cert_no(2)
        assert trail.search(store, {}, 1, 20)["total"] == 4
    finally:
        store.session.close()
        engine.dispose()
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 0 and "intact: 4 records" in out, out

    # the retired key alone no longer opens the store: refused at start-up
    keys({"k1": K1}, "k1")
    engine = make_engine(url)
    try:
        with pytest.raises(SystemExit, match="refusing to start"):
            AuditStore(Session(engine))
    finally:
        engine.dispose()


def test_rotation_without_the_old_key_changes_nothing(url, tmp_path, keys):
    keys({"k1": K1}, "k1")
    engine, store = open_store(url)
    trail.record(store, [message(1)], NOW)
    store.session.close()
    engine.dispose()
    keys({"k2": K2}, "k2")
    code, out = run_cli(url, tmp_path, "protect-rotate")
    assert code == 1 and "k1" in out and K1 not in out
    assert run_cli(url, tmp_path, "protect-keys")[1].strip() == "master keys in use: k1"


def test_the_migrations_downgrade_gives_the_plain_records_back(store, url):
    from alembic import command

    trail.record(store, [message(n) for n in range(1, 4)], NOW)
    store.session.close()
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config("audit", conn), "3d8f1a5b7c92")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT object, person FROM audit_records ORDER BY seq")).all()
    finally:
        engine.dispose()
    assert [r.person for r in rows] == [cert_no(n) for n in range(1, 4)]
    assert [chain.dumps(message(n)["object"]) for n in range(1, 4)] == [r.object for r in rows]


def test_archive_files_written_before_encryption_are_read_and_sealed_in_place(store, url, tmp_path):
    trail.record(store, [message(n, at=NOW - timedelta(days=200)) for n in range(1, 5)], NOW)
    trail.record(store, [message(5)], NOW)
    assert run_cli(url, tmp_path, "archive", "--before", (NOW - timedelta(days=181)).date().isoformat())[0] == 0
    [name] = os.listdir(tmp_path / "archive")
    path = str(tmp_path / "archive" / name)
    # the file as the archive wrote it before this release: plain lines
    plain = [store.opened(line) for line in archive.read_file(path)]
    archive._write(path, plain)
    store.session.execute(text("UPDATE audit_archives SET sha256 = :s"), {"s": archive.file_sha256(path)})
    store.session.commit()
    with gzip.open(path, "rt", encoding="utf-8") as f:
        assert cert_no(1) in f.read()
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 0 and "intact: 5 records" in out, out

    code, out = run_cli(url, tmp_path, "archive-seal")
    assert code == 0 and f"archive files sealed: 1 ({name})" in out
    with gzip.open(path, "rt", encoding="utf-8") as f:
        content = f.read()
    assert_no_plaintext([content], [cert_no(n) for n in range(1, 5)] + [PHONE, "张三"])
    assert [line["hash"] for line in archive.read_file(path)] == [line["hash"] for line in plain]
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 0 and "intact: 5 records" in out, out
    assert "archive files sealed: 0" in run_cli(url, tmp_path, "archive-seal")[1]
