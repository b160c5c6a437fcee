"""Follows the declaration log in position order, exactly once.

Events arrive from the broker at least once and, across restarts and
several instances, not always in order. The checkpoint (the last position
applied) is written in the transaction that applies the events, so:

- an event at or below the checkpoint is a duplicate: acknowledged, no effect;
- an event above checkpoint + 1 reveals a gap: the missing range is pulled
  from declarations (`fetch(after, limit)`, the `events_after` RPC) and
  applied first, in order;
- `catch_up` pulls everything after the checkpoint (on start, and now and
  then, so that even a lost last message is found).

`fetch` returns the events after a position, in order, at most `limit`.
"""
import logging

from common.logs import mask_cert_no
from services.residents.projection import apply_event, person_key

log = logging.getLogger(__name__)

PAGE = 500  # events asked of the log per call when filling a gap
CATCHUP_PAGE = 1000  # per call when catching up (declarations answers at most 1,000)
APPLY_CHUNK = 500  # events applied in one transaction at most by a catch-up or gap fill


class GapNotFilled(Exception):
    """The log did not return the events a gap needs (yet)."""


class NotAnEvent(ValueError):
    """A message without a log position: not something this feed applies."""


def _items(answer):
    # events_after answers a list, or {"items": [...], "next_after": N}.
    return answer["items"] if isinstance(answer, dict) else list(answer)


def position_of(event):
    position = event.get("position") if isinstance(event, dict) else None
    if isinstance(position, bool) or not isinstance(position, int) or position < 1:
        raise NotAnEvent(f"no valid position in a {type(event).__name__} message")
    return position


def apply_in_order(store, events, now, observe=None):
    """Apply the consecutive run of `events` that follows the checkpoint, in
    one transaction with the new checkpoint. Returns (applied, checkpoint).

    Events at or below the checkpoint are skipped; the run stops at the
    first gap, which the caller fills and offers again."""
    with store.unit_of_work():
        position = store.begin_apply()
        run = []
        for event in sorted(events, key=position_of):
            at = position_of(event)
            if at <= position + len(run):
                continue
            if at != position + len(run) + 1:
                break
            run.append(event)
        if run:
            store.preload(person_key(e) for e in run)
            for event in run:
                apply_event(store, event, now)
            position = position_of(run[-1])
            store.write_applied(position)  # the rows in a few bulk statements
            store.set_checkpoint(position, now)
        store.commit()
    if observe:
        for event in run:
            observe(event)
    return len(run), position


def fetch_range(fetch, after, upto, page=PAGE):
    """The events after `after` up to and including `upto`, in order."""
    events = []
    while after < upto:
        batch = [e for e in _items(fetch(after, min(page, upto - after))) if position_of(e) > after]
        if not batch:
            break
        batch.sort(key=position_of)
        for event in batch:
            if position_of(event) <= upto:
                events.append(event)
        after = position_of(batch[-1])
    return events


def apply_chunked(store, events, now, observe=None, pause=None, chunk=APPLY_CHUNK):
    """`apply_in_order` in transactions of at most `chunk` events, calling
    `pause()` after each when there are several (see `catch_up`). Each
    transaction skips what is at or below the checkpoint and stops at a gap,
    so another applier running during a pause changes nothing of the
    outcome. Returns (applied, checkpoint)."""
    events = sorted(events, key=position_of)
    total, position = 0, None
    for start in range(0, max(len(events), 1), chunk):
        applied, position = apply_in_order(store, events[start:start + chunk], now, observe)
        total += applied
        if pause and start + chunk < len(events):
            pause()
    return total, position


def receive(store, event, fetch, now, observe=None, pause=None):
    """Handle one event delivered by the broker. Returns how many events
    were applied (0 for a duplicate; more than 1 when a gap was filled)."""
    at = position_of(event)
    total = 0
    for _attempt in range(5):
        position = store.checkpoint()
        if at <= position:
            if total == 0:
                log.info("event %s is at or below checkpoint %s: duplicate, ignored", at, position)
            return total
        pending = [event]
        if at > position + 1:
            log.info("gap before event %s (checkpoint %s): fetching %s events",
                     at, position, at - position - 1)
            pending = fetch_range(fetch, position, at - 1) + [event]
        applied, position = apply_chunked(store, pending, now, observe, pause)
        total += applied
        if position >= at:
            return total
    cert_type, cert_no = person_key(event)
    raise GapNotFilled(
        f"event {at} ({cert_type}:{mask_cert_no(cert_no)}) still follows a gap after {position}")


class Intake:
    """Events delivered together are applied together (a group commit).

    The broker hands a consumer several messages at once (its prefetch);
    each is handled by its own worker, and the workers take turns under one
    lock. A worker first `offer`s its event; the worker holding the lock
    applies every event offered so far in one transaction, so the others
    find theirs applied when their turn comes and return at once. A worker
    returns only when its own event is committed (its message is then
    acknowledged); if a batch fails, each of its workers applies its own
    event again."""

    def __init__(self, pause=None):
        self.pause = pause  # called between the transactions of a long gap fill or catch-up
        self.pending = {}  # position -> event, offered and not yet applied
        self.applied = 0  # the checkpoint as of this process's last commit
        self.head = 0  # the last log position this process has heard of

    def offer(self, event):
        at = position_of(event)
        self.pending[at] = event
        self.head = max(self.head, at)

    def heard(self, head):
        """The log reaches `head` (announced by the relay with each message)."""
        if isinstance(head, int) and not isinstance(head, bool):
            self.head = max(self.head, head)

    def lag(self):
        """Events the log has (as far as this process heard) and the roster not yet."""
        return max(self.head - self.applied, 0)

    def apply(self, store, event, fetch, now, observe=None):
        """With the lock held: make sure `event` is in the roster. Returns
        how many events this call applied."""
        at = position_of(event)
        if at <= self.applied:
            self.pending.pop(at, None)
            return 0
        batch = {**self.pending, at: event}
        self.pending.clear()
        applied, position = apply_in_order(store, batch.values(), now, observe)
        self.applied = max(self.applied, position)
        if at > position:  # beyond a gap that the batch did not close
            applied += receive(store, event, fetch, now, observe, self.pause)
            self.applied = max(self.applied, store.checkpoint())
        for waiting, other in batch.items():
            if waiting > self.applied:
                self.pending.setdefault(waiting, other)
        return applied

    def catch_up(self, store, fetch, now, observe=None):
        applied = catch_up(store, fetch, now, observe, pause=self.pause)
        self.applied = max(self.applied, store.checkpoint())
        self.head = max(self.head, self.applied)  # the log had nothing more
        return applied


def catch_up(store, fetch, now, observe=None, page=CATCHUP_PAGE, pause=None, chunk=APPLY_CHUNK):
    """Apply everything the log has after the checkpoint. Returns the count.

    Each page of the log is applied in transactions of at most `chunk`
    events, and `pause()` is called after each (the service's gives the
    apply lock up and yields to the hub): the Python part of a transaction,
    and on SQLite all of it, blocks the whole process, so short transactions
    with a pause between them let the RPC workers answer while a long
    catch-up runs."""
    total = 0
    while True:
        position = store.checkpoint()
        events = sorted(_items(fetch(position, page)), key=position_of)
        if not events:
            return total
        new_position = position
        for start in range(0, len(events), chunk):
            applied, new_position = apply_in_order(store, events[start:start + chunk], now, observe)
            total += applied
            if pause:
                pause()
            if not applied:
                break
        if new_position == position:
            # The log answered, but not with position + 1: a hole in the log
            # itself must not make us spin.
            raise GapNotFilled(f"the log has no event after {position} but has later ones")
