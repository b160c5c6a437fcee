"""The key commands every service's CLI offers for its own database
(`python -m services.<service>.cli protect-rotate | protect-keys`).

protect-rotate  re-wraps every data key of the store under the active master
                key (common.protect.rotate); values, and the event log, stay
                as they are. Running it again changes nothing.
protect-keys    prints which master keys still wrap a data key of the store:
                a key no store lists any more can be retired.
"""
from __future__ import annotations

from sqlalchemy.engine import Engine

from common.protect.envelope import keks_in_use, rotate
from common.protect.keys import KeyConfigError, load_keys
from common.protect.sql import SqlDekStore

COMMANDS = ("protect-rotate", "protect-keys")


def run(command: str, engine: Engine, out=print) -> int:
    """Run one of COMMANDS against the store behind `engine`; the exit status."""
    store = SqlDekStore(engine)
    if command == "protect-keys":
        out("master keys in use: " + (", ".join(sorted(keks_in_use(store))) or "(none)"))
        return 0
    if command != "protect-rotate":
        raise ValueError(command)
    try:
        report = rotate(load_keys(), store)
    except KeyConfigError as e:  # nothing was written: rotate unwraps every key before it writes
        out(f"protect-rotate: {e}")
        return 1
    out(f"active master key: {report.active_id}")
    out(f"data keys re-wrapped: {len(report.rewrapped)} ({', '.join(report.rewrapped) or '-'})")
    out(f"data keys already under it: {len(report.unchanged)}")
    out("master keys in use: " + ", ".join(sorted(keks_in_use(store))))
    return 0
