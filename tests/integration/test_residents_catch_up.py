"""The residents service keeps answering its RPCs while it catches up a
large backlog of the log (issue 14 point 4): the apply runs in the same
process as the RPC workers, in short transactions with a pause between them.
On the real broker, on SQLite and PostgreSQL; declarations is stood in for by
a service that answers `events_after` from a log built in memory."""
import time

from nameko.rpc import rpc
from nameko.standalone.rpc import ServiceRpcProxy

from services.residents.models import Base as ResidentsBase
from services.residents.service import ResidentsService
from tests.unit.test_residents_projection import LogBuilder, id_number

BACKLOG = 12_000
LOG = []  # the stand-in's log: events at positions 1..len(LOG)


class StandInDeclarations:
    """`declarations.events_after` over LOG, as declarations answers it."""
    name = "declarations"

    @rpc
    def events_after(self, after=0, limit=500):
        items = LOG[after:after + min(limit, 1000)]
        return {"items": items, "next_after": items[-1]["position"] if items else after}


def backlog():
    log = LogBuilder()
    for i in range(BACKLOG):
        log.enrol(1 if i % 3 else 2, id_number(100_000 + i), "陈" + "一二三四五六七八九十"[i % 10])
    for i in range(0, 600, 3):
        log.suspend(2, id_number(100_000 + i))
    return log


def test_roster_person_and_lookup_answer_while_a_large_catch_up_runs(
        container_factory, rabbit_config, db_url, tables):
    log = backlog()
    LOG[:] = log.events
    last = LOG[-1]["position"]
    config = {**rabbit_config, "serializer": "json", "DATABASE_URL": db_url,
              "CATCHUP_INTERVAL": 0.5, "LOG_RPC_TIMEOUT": 60}
    tables(ResidentsBase, db_url)
    container_factory(StandInDeclarations, config).start()
    container_factory(ResidentsService, config).start()

    someone = id_number(100_001)
    during, latencies = [], []
    with ServiceRpcProxy("residents", config) as residents:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            before = residents.checkpoint()
            started = time.monotonic()
            page = residents.roster(1, {}, 1, 20)
            residents.lookup(1, "01", someone, None)
            latencies.append(time.monotonic() - started)
            after = residents.checkpoint()
            if 0 < before and after < last:
                during.append((before, after, page["total"]))
            if after == last:
                break
            time.sleep(0.05)
        assert residents.checkpoint() == last
        # It answered while the catch-up was under way, not only before or after it.
        assert len(during) >= 3, (during, latencies)
        assert any(b < a for b, a, _ in during), during  # the catch-up moved between answers
        # The totals it gave meanwhile were those of a roster in between.
        assert all(0 < total <= BACKLOG for _, _, total in during)
        # A generous cap, not a sub-second deadline (the machine is shared):
        # the old code held the process for whole pages of the log at a time.
        assert max(latencies) < 10, latencies
        assert residents.roster(1, {}, 1, 20)["total"] == sum(1 for i in range(BACKLOG) if i % 3)
        assert residents.person(2, "01", id_number(100_000))["status"] == "suspended"
        assert residents.lookup(1, "01", someone, None)["status"] == "active_here"
