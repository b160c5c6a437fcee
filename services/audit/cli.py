"""Operator commands of the audit trail:

    python -m services.audit.cli verify                 check the chain (archive files, then the database)
    python -m services.audit.cli archive [--before DATE] move records older than DATE (default: the
                                                        retention, AUDIT_RETENTION_DAYS=180) to a file
    python -m services.audit.cli archive-seal           encrypt the personal data of archive files written
                                                        before the audit store encrypted (hashes unchanged)
    python -m services.audit.cli protect-rotate         re-wrap the audit database's data keys under the
                                                        active master key (common/protect/command.py)
    python -m services.audit.cli protect-keys           the master keys still wrapping a data key

`verify` exits 1 and names each record that was edited, deleted or
reordered (and each archive file missing or changed); otherwise it prints
the chain's head, the value to keep outside the platform. The database is
AUDIT_DATABASE_URL (services/audit/config.yaml) or --database-url; the
files are in AUDIT_ARCHIVE_DIR (var/audit-archive) or --archive-dir."""
import argparse
import sys
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from common.clock import utcnow
from common.config import service_config
from common.db import make_engine
from common.protect import command as protect_command
from services.audit import archive as archives
from services.audit.store import AuditStore


def _store(url):
    engine = make_engine(url or service_config("audit")["DATABASE_URL"])
    return engine, AuditStore(Session(engine, expire_on_commit=False))


def cmd_verify(args, out):
    engine, store = _store(args.database_url)
    try:
        report = archives.verify(store, args.archive_dir or archives.archive_dir())
    finally:
        store.session.close()
        engine.dispose()
    for finding in report.findings:
        print(finding, file=out)
    if report.findings:
        print(f"audit chain NOT intact: {len(report.findings)} problem(s) in {report.records} records", file=out)
        return 1
    print(f"audit chain intact: {report.records} records, head seq {report.last_seq} hash {report.last_hash}",
          file=out)
    return 0


def cmd_archive(args, out):
    now = utcnow()
    if args.before:
        before = datetime.combine(date.fromisoformat(args.before), datetime.min.time(), UTC)
    else:
        before = now - timedelta(days=archives.retention_days())
    engine, store = _store(args.database_url)
    try:
        result = archives.archive(store, args.archive_dir or archives.archive_dir(), before, now)
    except archives.TooRecent as exc:
        print(f"refused: {exc}", file=out)
        return 2
    finally:
        store.session.close()
        engine.dispose()
    if result is None:
        print(f"nothing to archive before {before.date()}", file=out)
    else:
        print(f"archived seqs {result['first_seq']}-{result['last_seq']} ({result['records']} records) "
              f"to {result['file_name']}", file=out)
    return 0


def cmd_archive_seal(args, out):
    engine, store = _store(args.database_url)
    try:
        names = archives.seal_files(store, args.archive_dir or archives.archive_dir())
    finally:
        store.session.close()
        engine.dispose()
    print(f"archive files sealed: {len(names)}" + (f" ({', '.join(names)})" if names else ""), file=out)
    return 0


def cmd_protect(args, out):
    engine = make_engine(args.database_url or service_config("audit")["DATABASE_URL"])
    try:
        return protect_command.run(args.cmd, engine, out=lambda line: print(line, file=out))
    finally:
        engine.dispose()


def main(argv=None, out=None):
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="python -m services.audit.cli")
    parser.add_argument("--database-url")
    parser.add_argument("--archive-dir")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("verify", help="check the hash chain across archive files and the database")
    arch = sub.add_parser("archive", help="move records older than the retention to a file")
    arch.add_argument("--before", help="YYYY-MM-DD (UTC midnight); at most today minus the retention")
    sub.add_parser("archive-seal", help="encrypt the personal data of archive files written before encryption")
    for name in protect_command.COMMANDS:
        sub.add_parser(name, help="re-wrap the data keys under the active master key" if name == "protect-rotate"
                       else "list the master keys that still wrap a data key")
    args = parser.parse_args(argv)
    commands = {"verify": cmd_verify, "archive": cmd_archive, "archive-seal": cmd_archive_seal}
    return commands.get(args.cmd, cmd_protect)(args, out)


if __name__ == "__main__":
    sys.exit(main())
