"""Operator commands of the declarations service.

    python -m services.declarations.cli rebuild    empty the projections and replay the log
    python -m services.declarations.cli verify     replay into a scratch copy and compare;
                                                   exit 1 on any difference
    python -m services.declarations.cli restore-epoch [--fork-position N]
                                                   after restoring the database: start a new
                                                   epoch of the log, so that consumers drop
                                                   messages published before the restore
    python -m services.declarations.cli log-identity   print the log's id, epoch and forks
    python -m services.declarations.cli protect-rotate re-wrap the database's data keys under the
                                                   active master key (docs/protection.md)
    python -m services.declarations.cli protect-keys   print the master keys still in use

`rebuild` also recomputes the blind indexes of 证件号码 with the configured
index key and records it (services/declarations/index_key.py): after a change
of index key, run it before starting the service.

The database is DATABASE_URL of services/declarations/config.yaml (env
DECLARATIONS_DATABASE_URL), or --database-url. `rebuild` holds the append
lock while it runs: declarations wait (and time out after SQLite's 30 s busy
timeout), so run it in a quiet hour; `verify` only reads.
"""
import argparse
import sys
import time
from zoneinfo import ZoneInfo

from sqlalchemy import update

from common.config import service_config
from common.db import make_engine
from common.protect import command as protect_command
from common.protect.runtime import protection
from services.declarations import rebuild as replaying
from services.declarations.eventlog import identity as log_identity
from services.declarations.models import Base, RelayState


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m services.declarations.cli")
    parser.add_argument("command", choices=("rebuild", "verify", "restore-epoch", "log-identity")
                        + protect_command.COMMANDS)
    parser.add_argument("--database-url", help="instead of the config's DATABASE_URL")
    parser.add_argument("--chunk", type=int, default=replaying.CHUNK, help="events per read")
    parser.add_argument("--fork-position", type=int, default=None,
                        help="restore-epoch: the last position the restored log shares with what was "
                             "published before (default: the lower of the log's end and the relay's checkpoint)")
    args = parser.parse_args(argv)
    config = service_config("declarations")
    tz = ZoneInfo(config.get("BUSINESS_TZ") or "Asia/Shanghai")
    engine = make_engine(args.database_url or config["DATABASE_URL"])
    try:
        Base.metadata.create_all(engine)
        if args.command in protect_command.COMMANDS:
            return protect_command.run(args.command, engine)
        started = time.perf_counter()
        if args.command in ("restore-epoch", "log-identity"):
            return _identity(engine, args)
        protection(engine)  # the keys, once, before any transaction
        if args.command == "rebuild":
            count = replaying.rebuild(engine, tz, args.chunk)
            seconds = time.perf_counter() - started
            print(f"rebuilt the projections from {count} events in {seconds:.1f} s"
                  f" ({count / seconds if seconds else 0:,.0f} events/s)")
            return 0
        count, differences = replaying.verify(engine, tz, args.chunk)
        seconds = time.perf_counter() - started
        for line in differences:
            print(line)
        if differences:
            print(f"{len(differences)} differences between the projections and a replay "
                  f"of {count} events", file=sys.stderr)
            return 1
        print(f"the projections equal a replay of {count} events ({seconds:.1f} s)")
        return 0
    finally:
        engine.dispose()


def _identity(engine, args):
    """Print (and for restore-epoch first advance) the log's identity."""
    with engine.begin() as conn:
        if args.command == "restore-epoch":
            identity = log_identity.advance(conn, "restore-epoch (operator)", args.fork_position)
            conn.execute(update(RelayState).where(RelayState.position > identity.forks[-1][1])
                         .values(position=identity.forks[-1][1]))
            print(f"log {identity.log_id}: epoch {identity.epoch} starts; it shares positions up to "
                  f"{identity.forks[-1][1]} with the epoch before. Consumers drop messages of older epochs "
                  "and catch up from the log.")
        else:
            identity = log_identity.current(conn)
            print(f"log {identity.log_id} epoch {identity.epoch}")
            for epoch, fork in identity.forks:
                print(f"  epoch {epoch}: shares positions up to {fork} with the epoch before")
    return 0


if __name__ == "__main__":
    sys.exit(main())
