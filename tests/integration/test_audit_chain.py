"""The audit trail's hash chain on both engines: records stored from
messages (each id once), `verify` naming an edited, deleted or reordered
record, and archiving to files with the chain continuing across them."""
import gzip
import io
import json
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from common.audit import record as audit_record
from common.errors import InvalidInput
from deploy import migrate
from services.audit import archive, chain, cli, trail
from services.audit.store import AuditStore

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def url(db_url):
    migrate.upgrade("audit", db_url)  # the production path: the service's migrations
    return db_url


@pytest.fixture
def store(url):
    from common.db import make_engine

    engine = make_engine(url)
    session = Session(engine, expire_on_commit=False)
    yield AuditStore(session)
    session.close()
    engine.dispose()


def message(n, at=NOW, **fields):
    base = audit_record("roster.person", account=f"unit_{n % 3}", role="unit", unit_id=n % 3 + 1,
                        address="10.0.0.1", request_id=f"req{n}",
                        object={"cert_type": "01", "cert_no": f"35050219900101{n:04d}"}, at=at)
    base.update(fields)
    return base


def fill(store, count, at=NOW, per_batch=4):
    messages = [message(n, at) for n in range(count)]
    for start in range(0, count, per_batch):
        trail.record(store, messages[start:start + per_batch], NOW)
    return messages


def run_cli(url, tmp_path, *args):
    out = io.StringIO()
    code = cli.main(["--database-url", url, "--archive-dir", str(tmp_path / "archive"), *args], out=out)
    return code, out.getvalue()


def execute(store, sql, **params):
    store.session.execute(text(sql), params)
    store.session.commit()


def test_records_are_chained_in_order_and_verify_is_intact(store, url, tmp_path):
    fill(store, 10)
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 0, out
    assert "intact: 10 records" in out
    page = trail.search(store, {}, 1, 5)
    assert page["total"] == 10 and [i["seq"] for i in page["items"]] == [10, 9, 8, 7, 6]


def test_a_record_is_stored_once_however_often_it_arrives(store):
    messages = [message(n) for n in range(5)]
    assert trail.record(store, messages + messages[:2], NOW) == 5
    assert trail.record(store, messages[3:], NOW) == 0
    assert trail.search(store, {}, 1, 20)["total"] == 5


def test_search_by_account_unit_person_action_outcome_and_day(store):
    fill(store, 9)
    trail.record(store, [message(99, outcome="denied", action="audit.search")], NOW)
    assert trail.search(store, {"account": "unit_1"}, 1, 20)["total"] == 3
    assert trail.search(store, {"unit_id": 3}, 1, 20)["total"] == 3
    hit = trail.search(store, {"cert_no": "350502199001010004"}, 1, 20)
    assert hit["total"] == 1 and hit["items"][0]["object"]["cert_no"] == "350502199001010004"
    assert trail.search(store, {"action": "audit.search", "outcome": "denied"}, 1, 20)["total"] == 1
    assert trail.search(store, {"from": "2026-12-01", "to": "2026-12-01"}, 1, 20)["total"] == 10
    assert trail.search(store, {"from": "2026-12-02"}, 1, 20)["total"] == 0


def test_verify_names_an_edited_record(store, url, tmp_path):
    fill(store, 8)
    execute(store, "UPDATE audit_records SET account = 'someone_else' WHERE seq = 5")
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 1
    assert "edited: seq 5:" in out
    assert "NOT intact: 1 problem(s)" in out


def test_verify_names_a_deleted_record(store, url, tmp_path):
    fill(store, 8)
    execute(store, "DELETE FROM audit_records WHERE seq = 4")
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 1
    assert "deleted: seq 5: seq 4 missing before it" in out


def test_verify_names_a_deleted_record_whose_gap_was_closed(store, url, tmp_path):
    fill(store, 8)
    execute(store, "DELETE FROM audit_records WHERE seq = 4")
    execute(store, "UPDATE audit_records SET seq = seq - 1 WHERE seq > 4")
    execute(store, "UPDATE audit_chain_head SET seq = seq - 1")
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 1
    assert "deleted: seq 4: the record it was chained after (seq 3) was removed or rewritten" in out


def test_verify_names_reordered_records(store, url, tmp_path):
    fill(store, 8)
    execute(store, "UPDATE audit_records SET seq = -1 WHERE seq = 3")
    execute(store, "UPDATE audit_records SET seq = 3 WHERE seq = 6")
    execute(store, "UPDATE audit_records SET seq = 6 WHERE seq = -1")
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 1
    assert "reordered: seq 3: it was chained after the record now at seq 5" in out
    assert "reordered: seq 6: it was chained after the record now at seq 2" in out
    assert "edited" not in out and "deleted" not in out


def test_verify_notices_records_deleted_from_the_end(store, url, tmp_path):
    fill(store, 8)
    execute(store, "DELETE FROM audit_records WHERE seq > 6")
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 1
    assert "truncated: seq 8:" in out


def test_archive_moves_old_records_to_a_file_and_the_chain_continues(store, url, tmp_path):
    old = NOW - timedelta(days=200)
    fill(store, 6, at=old)
    fill(store, 4, at=NOW)
    code, out = run_cli(url, tmp_path, "archive", "--before", (NOW - timedelta(days=181)).date().isoformat())
    assert code == 0, out
    assert "archived seqs 1-6 (6 records)" in out
    assert trail.search(store, {}, 1, 20)["total"] == 4
    files = os.listdir(tmp_path / "archive")
    assert files == ["audit-000000000001-000000000006.jsonl.gz"]
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 0, out
    assert "intact: 10 records" in out
    # and appending goes on from the head
    trail.record(store, [message(50)], NOW)
    assert run_cli(url, tmp_path, "verify")[0] == 0


def test_archive_refuses_records_younger_than_the_retention(store, url, tmp_path):
    fill(store, 3, at=NOW - timedelta(days=10))
    code, out = run_cli(url, tmp_path, "archive", "--before", datetime.now(UTC).date().isoformat())
    assert code == 2 and "180 days" in out
    assert trail.search(store, {}, 1, 20)["total"] == 3


def test_verify_reads_across_archive_files_and_names_tampering_in_them(store, url, tmp_path):
    fill(store, 6, at=NOW - timedelta(days=300))
    fill(store, 6, at=NOW - timedelta(days=200))
    fill(store, 3, at=NOW)
    assert run_cli(url, tmp_path, "archive", "--before", (NOW - timedelta(days=250)).date().isoformat())[0] == 0
    assert run_cli(url, tmp_path, "archive", "--before", (NOW - timedelta(days=190)).date().isoformat())[0] == 0
    assert len(os.listdir(tmp_path / "archive")) == 2
    assert run_cli(url, tmp_path, "verify")[0] == 0
    # edit a record inside the first file
    path = tmp_path / "archive" / "audit-000000000001-000000000006.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    lines[2]["outcome"] = "denied"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(chain.dumps(line) + "\n" for line in lines)
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 1
    assert "edited: seq 3:" in out and "changed after it was written" in out
    # a missing file is named, and so are the records it held
    os.remove(path)
    code, out = run_cli(url, tmp_path, "verify")
    assert code == 1
    assert "archive: seq 1: file audit-000000000001-000000000006.jsonl.gz (seqs 1-6) is missing" in out
    assert "deleted: seq 7: seqs 1-6 missing before it" in out


def test_verify_of_a_stored_chain_uses_only_the_records_themselves(store):
    """The pure check, without the command: an intact report's head is the
    last record's hash."""
    fill(store, 3)
    report = archive.verify(store, "/nonexistent-" + uuid.uuid4().hex)
    assert report.intact and report.records == 3
    assert report.last_hash == store.stored_head()[1]


def test_odd_values_are_stored_safely_and_still_verify(store, url, tmp_path):
    """What a caller can put in a query string or body reaches the record:
    NUL characters, huge numbers and long values must neither stop the
    consumer (PostgreSQL refuses NUL in text) nor break the chain."""
    odd = message(1, account="a\x00b", unit_id=2 ** 40, object={"cert_no": "35\x0005", "q": "x" * 10_000})
    assert trail.record(store, [odd, {"id": "\x00", "action": "x"}, {"action": "no id"}], NOW) == 1
    [item] = trail.search(store, {}, 1, 20)["items"]
    assert item["account"] == "ab" and item["unit_id"] is None and "truncated" in item["object"]
    assert run_cli(url, tmp_path, "verify")[0] == 0


def test_dates_at_the_ends_of_the_calendar_are_refused_not_a_crash(store):
    for filters in ({"from": "0001-01-01"}, {"to": "9999-12-31"}, {"from": "2026-13-01"}):
        with pytest.raises(InvalidInput):
            trail.search(store, filters, 1, 20)
