"""Archive files of the audit trail and the check of the whole chain.

Records older than the retention (AUDIT_RETENTION_DAYS, 180 by default)
move from the database to gzip files of JSON lines, one record a line with
its seq, prev_hash and hash, named `audit-<first seq>-<last seq>.jsonl.gz`
in AUDIT_ARCHIVE_DIR. Only a prefix of the chain is ever archived, so the
chain runs on from the last archived record into the database. Each file is
written to a temporary name, synced and renamed before its rows are
deleted, and listed in `audit_archives` with its SHA-256, its first
prev_hash and its last hash; `verify` reads the listed files, then the
database, as one chain.

A file's lines are the records as the database stores them: the object and
the person (the 证件号码 read) stay encrypted under the audit database's data
keys (AuditStore.sealed_records), so a file holds no personal data in plain
text; `verify` decrypts them with the store's keys (AuditStore.opened) and
checks the hashes, which are computed over the plain records. The data keys
are never deleted, so a file stays readable after a master-key rotation."""
import gzip
import hashlib
import json
import os
from datetime import timedelta

from common.config import ROOT
from services.audit import chain

DEFAULT_RETENTION_DAYS = 180
DEFAULT_DIR = "var/audit-archive"


def retention_days():
    return int(os.environ.get("AUDIT_RETENTION_DAYS") or DEFAULT_RETENTION_DAYS)


def archive_dir():
    path = os.environ.get("AUDIT_ARCHIVE_DIR") or DEFAULT_DIR
    return path if os.path.isabs(path) else os.path.join(ROOT, path)


class TooRecent(ValueError):
    """Archiving would take records younger than the retention."""


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_file(path):
    """The records of an archive file, in order."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def archive(store, directory, before, now, retention=None):
    """Move the records older than `before` (an aware datetime) to a new
    file in `directory`. Refuses (TooRecent) a `before` later than `now`
    minus the retention. Returns the manifest row's values, or None when
    there is nothing to move."""
    retention = retention_days() if retention is None else retention
    if before > now - timedelta(days=retention):
        raise TooRecent(f"records are kept {retention} days in the database: "
                        f"--before must be {(now - timedelta(days=retention)).date()} or earlier")
    with store.reading():
        first = store.first_seq()
        if first is None:
            return None
        young = store.first_seq_at_or_after(before)
        last = (young - 1) if young is not None else store.last_seq()
    if last < first:
        return None
    os.makedirs(directory, exist_ok=True)
    name = f"audit-{first:012d}-{last:012d}.jsonl.gz"
    path = os.path.join(directory, name)
    temporary = path + ".part"
    prev_hash = last_hash = None
    count = 0
    with store.reading():
        with open(temporary, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
            for record in store.sealed_records(after_seq=first - 1, through_seq=last):
                if prev_hash is None:
                    prev_hash = record["prev_hash"]
                out.write((chain.dumps(record) + "\n").encode("utf-8"))
                last_hash = record["hash"]
                count += 1
            out.flush()
            raw.flush()
            os.fsync(raw.fileno())
    os.replace(temporary, path)
    values = {"first_seq": first, "last_seq": last, "file_name": name, "records": count,
              "prev_hash": prev_hash, "last_hash": last_hash, "sha256": file_sha256(path), "archived_at": now}
    with store.unit_of_work():
        store.add_archive(**values)
        store.delete_through(last)
        store.commit()
    return values


def _write(path, lines):
    """Write `lines` (dicts) as an archive file: a temporary name, synced, renamed."""
    temporary = path + ".part"
    with open(temporary, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        for line in lines:
            out.write((chain.dumps(line) + "\n").encode("utf-8"))
        out.flush()
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(temporary, path)


def seal_files(store, directory):
    """Encrypt, in place, the personal data of archive files written before
    the audit store encrypted (their lines held the object and person in
    plain text). The records' hashes are unchanged (the chain hashes the
    plain records); the file's SHA-256 in `audit_archives` is updated.
    A file is checked first: one that is missing or no longer matches its
    SHA-256 is left alone (verify names it). Returns the names sealed."""
    with store.reading():
        manifests = [(a.first_seq, a.file_name, a.sha256) for a in store.archives()]
    done = []
    for first, name, sha in manifests:
        path = os.path.join(directory, name)
        if not os.path.exists(path) or file_sha256(path) != sha:
            continue
        lines = list(read_file(path))
        sealed = [store.sealed(line) for line in lines]
        if sealed == lines:
            continue
        _write(path, sealed)
        with store.unit_of_work():
            store.archive_resealed(first, file_sha256(path))
            store.commit()
        done.append(name)
    return done


def verify(store, directory):
    """Check the chain across the archive files listed in the database and
    the records still in it: a chain.Report, whose findings also name
    archive files that are missing or changed."""
    with store.reading():
        manifests = [(a.first_seq, a.last_seq, a.file_name, a.sha256)
                     for a in store.archives()]
        head = store.stored_head()
    problems = []
    readable = []
    for first, last, name, sha in manifests:
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            problems.append(chain.Finding("archive", first, f"file {name} (seqs {first}-{last}) is missing"))
            continue
        if file_sha256(path) != sha:
            problems.append(chain.Finding("archive", first, f"file {name} was changed after it was written"))
        readable.append(path)
    listed = {m[2] for m in manifests}
    if os.path.isdir(directory):
        for name in sorted(os.listdir(directory)):
            if name.startswith("audit-") and name.endswith(".jsonl.gz") and name not in listed:
                problems.append(chain.Finding("archive", None, f"file {name} is not listed in the database"))

    def records():
        for path in readable:
            for line in read_file(path):
                yield store.opened(line)
        with store.reading():
            yield from store.records()

    report = chain.verify(records, head=head)
    report.findings = sorted(problems + report.findings, key=lambda f: (f.seq or 0, f.kind))
    return report
