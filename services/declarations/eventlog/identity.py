"""The identity of the event log: which log this is (`log_id`, made once
with the database) and which epoch of it (advanced by a restore).

A broker outlives databases: after the declarations database is created
anew, or restored from an older backup, queues may still hold messages
published from the old log, whose positions the new log reaches again with
other events. The relay puts the identity on every message
(common/queues.py LOG_ID_HEADER, LOG_EPOCH_HEADER); consumers keep the
identity they follow with their checkpoint and drop messages of another
log or of an older epoch, catching up from the log instead.

Epochs only grow, also across restores of restores: a new epoch is the
current time in seconds (at least the last epoch + 1), so an epoch issued
on a timeline that a later restore discarded is never issued again. Each
epoch records its fork position: the last position it shares with the
epoch before it. A consumer that followed epoch E up to checkpoint C may
keep its state in the current epoch if E is in the log's history and C is
at most every later epoch's fork position (`shared_prefix`); otherwise it
rebuilds from position 0.
"""
import time
import uuid

from sqlalchemy import func, insert, select

from common.clock import utcnow
from common.log_identity import Identity
from services.declarations.models import Event, LogEpoch, RelayState


def _rows(conn):
    return conn.execute(select(LogEpoch.epoch, LogEpoch.log_id, LogEpoch.fork_position)
                        .order_by(LogEpoch.epoch)).all()


def current(conn):
    """The log's identity; made now if the database has none yet (one made
    by create_all rather than the migrations). Runs in the caller's
    transaction."""
    rows = _rows(conn)
    if not rows:
        conn.execute(insert(LogEpoch).values(
            epoch=1, log_id=str(uuid.uuid4()), fork_position=0, started_at=utcnow(),
            reason="log created"))
        rows = _rows(conn)
    return Identity(rows[-1].log_id, rows[-1].epoch, tuple((r.epoch, r.fork_position) for r in rows))


def advance(conn, reason, fork_position=None, now=None):
    """Start a new epoch of the log (after a restore). `fork_position`: the
    last position shared with the previous epoch; by default the lower of
    the log's last position and the relay's checkpoint (what a restored
    database holds that was certainly in the old epoch too). Runs in the
    caller's transaction; returns the new identity."""
    before = current(conn)
    if fork_position is None:
        head = conn.scalar(select(func.max(Event.position))) or 0
        relayed = conn.scalar(select(func.max(RelayState.position)))
        fork_position = head if relayed is None else min(head, relayed)
    epoch = max(before.epoch + 1, int(time.time()))
    conn.execute(insert(LogEpoch).values(
        epoch=epoch, log_id=before.log_id, fork_position=int(fork_position),
        started_at=now or utcnow(), reason=reason[:200]))
    return current(conn)
