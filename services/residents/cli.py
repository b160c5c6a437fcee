"""Operator commands of the residents service.

    python -m services.residents.cli protect-rotate   re-wrap the roster database's data keys
                                                      under the active master key
    python -m services.residents.cli protect-keys     the master keys that still wrap one of them

The database is DATABASE_URL of services/residents/config.yaml (env
RESIDENTS_DATABASE_URL), or --database-url. See docs/protection.md
("Rotation"); common/protect/command.py does the work.
"""
import argparse
import sys

from common.config import service_config
from common.db import make_engine
from common.protect import command


def main(argv=None, out=print):
    parser = argparse.ArgumentParser(prog="python -m services.residents.cli")
    parser.add_argument("command", choices=command.COMMANDS)
    parser.add_argument("--database-url", help="instead of the config's DATABASE_URL")
    args = parser.parse_args(argv)
    engine = make_engine(args.database_url or service_config("residents")["DATABASE_URL"])
    try:
        return command.run(args.command, engine, out)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
