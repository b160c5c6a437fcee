"""The rules of the audit trail, free of any framework or I/O: what a record
holds, its canonical form, how it is linked to the one before (SM3), and how
a stored chain is checked.

A record's `hash` is SM3(prev_hash + "\\n" + canonical(record)), where
`canonical` is the compact, key-sorted UTF-8 JSON of every stored field but
`seq`, `prev_hash` and `hash`. The first record's `prev_hash` is GENESIS.
`seq` numbers the records 1, 2, 3... in chain order.

The chain hashes the PLAIN record, not its stored form: the store encrypts a
record's object and person (services/audit/store.py, docs/protection.md) and
decrypts them for `verify`. So the hashes do not depend on the data keys:
records chained before encryption was introduced keep their hashes (the
migration that encrypted them changed no hash), a re-encryption under a new
data key changes none, and the head kept outside the platform stays valid.
An edit of a stored token is still found: it fails to decrypt (SM4-GCM
authentication) or decrypts to other content than was hashed. `verify` thus
needs the audit database's keys, as the service does.

What `verify` can tell, reading the records in `seq` order:

* edited: a record whose fields no longer give its hash;
* deleted: a gap in `seq`, or a record whose predecessor is nowhere in the
  chain (it was removed and the rest renumbered, or rewritten with a new
  hash);
* reordered: a record whose predecessor is in the chain, but elsewhere;
* truncated: the chain ends before the head the database keeps.

Without a secret key anyone able to rewrite the whole chain from some point
on can make it consistent again; the head printed by `verify` (and kept in
each archive's manifest row) is what an operator copies elsewhere to anchor it.
"""
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes

GENESIS = "0" * 64
FIELDS = ("id", "at", "account", "role", "unit_id", "address", "request_id",
          "action", "object", "person", "outcome")
OUTCOMES = ("success", "failure", "denied", "not_found", "locked", "rate_limited", "error", "withheld")
LIMITS = {"id": 64, "account": 64, "role": 20, "address": 64, "request_id": 64,
          "action": 64, "person": 64, "outcome": 20}
OBJECT_MAX = 4000  # characters of the object's JSON kept


class NotARecord(ValueError):
    """A message that cannot be a record (no id or action)."""


def sm3(data):
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def format_at(at):
    """A time as the chain stores it: UTC, microseconds, `Z`."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_at(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def dumps(value):
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _text(value, limit):
    if value is None or value == "":
        return None
    return str(value).replace("\x00", "")[:limit] or None  # PostgreSQL stores no NUL in text


def person_of(obj):
    """The 证件号码 an object names, if any."""
    if isinstance(obj, dict):
        value = obj.get("cert_no")
        if isinstance(value, str) and value:
            return _text(value, LIMITS["person"])
    return None


def normalise(message, received_at):
    """The record to store from one published message (common/audit.py's
    shape); raises NotARecord for anything else."""
    if not isinstance(message, dict) or not _text(message.get("id"), LIMITS["id"]) or not message.get("action"):
        raise NotARecord("an audit record needs an id and an action")
    obj = message.get("object")
    if obj is None:
        obj = {}
    text = dumps(obj)
    if len(text) > OBJECT_MAX:
        text = dumps({"truncated": text[:OBJECT_MAX]})
    try:
        at = format_at(message.get("at") or received_at)
    except (TypeError, ValueError):
        at = format_at(received_at)
    unit_id = message.get("unit_id")
    outcome = _text(message.get("outcome"), LIMITS["outcome"]) or "success"
    return {
        "id": _text(message["id"], LIMITS["id"]),
        "at": at,
        "account": _text(message.get("account"), LIMITS["account"]),
        "role": _text(message.get("role"), LIMITS["role"]),
        "unit_id": unit_id if isinstance(unit_id, int) and not isinstance(unit_id, bool)
        and 0 <= unit_id < 2 ** 31 else None,
        "address": _text(message.get("address"), LIMITS["address"]),
        "request_id": _text(message.get("request_id"), LIMITS["request_id"]),
        "action": _text(message["action"], LIMITS["action"]) or "unknown",
        "object": text,
        "person": person_of(obj),
        "outcome": outcome,
    }


def canonical(record):
    return dumps({name: record.get(name) for name in FIELDS}).encode("utf-8")


def link(prev_hash, record):
    """The hash of `record` chained after `prev_hash`."""
    return sm3(prev_hash.encode("ascii") + b"\n" + canonical(record))


def chain(records, prev_hash, prev_seq):
    """Give `records` (normalised) their seq, prev_hash and hash after the
    link (prev_seq, prev_hash); returns them."""
    for record in records:
        prev_seq += 1
        record["seq"] = prev_seq
        record["prev_hash"] = prev_hash
        record["hash"] = prev_hash = link(prev_hash, record)
    return records


@dataclass(frozen=True)
class Finding:
    kind: str  # edited, deleted, reordered, truncated, archive
    seq: int | None
    message: str

    def __str__(self):
        where = f"seq {self.seq}: " if self.seq is not None else ""
        return f"{self.kind}: {where}{self.message}"


@dataclass
class Report:
    records: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS

    def __post_init__(self):
        self.findings: list[Finding] = []

    @property
    def intact(self):
        return not self.findings


def verify(records, head=None, start=(0, GENESIS)):
    """Check a chain. `records()` returns a fresh iterator of the stored
    records (dicts with seq, prev_hash, hash and FIELDS) in seq order; it
    is called twice when a link is broken (the second pass finds where the
    expected predecessor went). `head` is the (seq, hash) the store keeps
    for the chain's end, or None. `start` is the link before the first
    record (after archived records known only by their manifest)."""
    report = Report(last_seq=start[0], last_hash=start[1])
    wanted = {}  # a broken link's prev_hash -> seq of the record that has it
    for record in records():
        report.records += 1
        seq = record["seq"]
        expected = report.last_seq + 1
        content_ok = link(record["prev_hash"], record) == record["hash"]
        if not content_ok:
            report.findings.append(Finding(
                "edited", seq, "its content no longer matches its hash (changed after it was written)"))
        if seq > expected:
            gone = f"seq {expected}" if seq == expected + 1 else f"seqs {expected}-{seq - 1}"
            report.findings.append(Finding("deleted", seq, f"{gone} missing before it"))
        elif seq < expected:
            report.findings.append(Finding("reordered", seq, f"found after seq {report.last_seq}"))
        elif content_ok and record["prev_hash"] != report.last_hash:
            wanted[record["prev_hash"]] = seq
        report.last_seq, report.last_hash = max(seq, report.last_seq), record["hash"]
    if wanted:
        found = {}
        for record in records():
            if record["hash"] in wanted:
                found[record["hash"]] = record["seq"]
        for prev_hash, seq in sorted(wanted.items(), key=lambda item: item[1]):
            if prev_hash in found:
                report.findings.append(Finding(
                    "reordered", seq, f"it was chained after the record now at seq {found[prev_hash]}"))
            elif prev_hash == GENESIS:
                report.findings.append(Finding(
                    "reordered", seq, "it was the first record of the chain"))
            else:
                report.findings.append(Finding(
                    "deleted", seq, f"the record it was chained after (seq {seq - 1}) was removed or rewritten"))
    if head is not None and (head[0], head[1]) != (report.last_seq, report.last_hash):
        if head[0] > report.last_seq:
            report.findings.append(Finding(
                "truncated", head[0], f"the chain ends at seq {report.last_seq}; records up to seq {head[0]} "
                "are missing from its end"))
        else:
            report.findings.append(Finding(
                "truncated", report.last_seq, f"the kept head (seq {head[0]}) does not match the chain's end"))
    report.findings.sort(key=lambda f: (f.seq or 0, f.kind))
    return report
