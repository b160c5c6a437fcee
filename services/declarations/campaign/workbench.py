"""Use cases of the operator's campaign figures over a DeclarationsStore:
keeping the units' placements in step with auth, the dashboard, its daily
chart and export, and targets (service.py calls these)."""
from services.declarations.campaign import dashboard as board, placing, targets, writes

PAGE = 1000
# This process's facts of the last dashboards asked, and daily charts
# (dashboard.FactsCache: reused only while nothing they were read from changed).
FACTS = board.FactsCache(size=16)


def sync_units(store, fetch, now):
    """Apply auth's unit changes not applied yet; `fetch(after, limit)` is
    auth's `unit_changes_after`. Each page is applied under the append lock,
    so a placement takes effect at a definite log position."""
    applied = 0
    while True:
        with store.reading():
            after = placing.last_seq(store.session)
        changes = fetch(after, PAGE)
        if not changes:
            return applied
        with store.unit_of_work(append=True):
            applied += placing.apply_changes(store.session, changes, now)
            store.commit()
        if len(changes) < PAGE:
            return applied


def catch_up_batches(store, tz):
    """Project the batches finished since the last call (a write only when
    there are some)."""
    with store.reading():
        pending = writes.untailed(store.conn, tz, limit=1)
    if not pending:
        return 0
    with store.unit_of_work(append=True):
        added = writes.tail_batches(store.conn, tz)
        store.commit()
    return added


def dashboard(store, tz, params, now, cache=FACTS):
    catch_up_batches(store, tz)
    with store.reading():
        return board.dashboard(store.session, tz, params or {}, now.astimezone(tz).date(), cache)


def daily(store, tz, year, division, now, cache=FACTS):
    year = int(year or now.astimezone(tz).year)
    with store.reading():
        if cache is None:
            return board.daily(store.session, year, division or None)
        key = (str(store.session.get_bind().url), "daily", year, division or None)
        answer, _ = cache.get(key, board.version(store.session),
                              lambda: board.daily(store.session, year, division or None))
        return answer


def export(store, tz, params, now):
    catch_up_batches(store, tz)
    with store.reading():
        return board.export(store.session, tz, params or {}, now.astimezone(tz).date())


set_target = targets.set_target
targets_template = targets.template
import_targets = targets.import_targets
