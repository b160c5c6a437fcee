"""The example consumer (examples/consumer) and the log's identity: messages
of another log or epoch dropped and counted, the log's identity adopted from
the API, the tables emptied and rebuilt when the new log does not share
them; /metrics and /readyz say so."""
import requests

from examples.consumer.consumer import Follower, Store, serve_status


def event(position, cert_no, unit=1):
    return {"position": position, "event_id": f"e-{cert_no}-{position}", "type": "resident_enrolled",
            "occurred_at": "2026-12-01T08:00:00+00:00", "unit": {"id": unit, "name": "东海社区"},
            "person": {"cert_type": "01", "cert_no": cert_no, "name": "张三"}, "data": {}}


class Api:
    """GET /api/events over a list of events and a log identity."""

    def __init__(self, log_id, epoch, events, forks=None):
        self.set(log_id, epoch, events, forks)

    def set(self, log_id, epoch, events, forks=None):
        self.events = events
        self.log = {"log_id": log_id, "epoch": epoch, "forks": forks or [[epoch, 0]],
                    "head": events[-1]["position"] if events else 0}

    def feed(self, after, limit=500):
        items = [e for e in self.events if e["position"] > after][:limit]
        return {"items": items, "next_after": items[-1]["position"] if items else after, "log": self.log}


def insured(store):
    return dict(store.db.execute("SELECT cert_no, unit_id FROM insured").fetchall())


def test_messages_of_another_log_are_dropped_and_a_new_log_rebuilds_the_tables(tmp_path):
    api = Api("log-a", 1, [event(i, f"A{i}") for i in range(1, 6)])
    follower = Follower(Store(str(tmp_path / "c.db")), api)
    assert follower.judge({"log_id": "log-a", "log_epoch": 1}) == "unverified"
    assert follower.catch_up() == 5
    assert follower.store.followed() == ("log-a", 1) and follower.ready()
    assert follower.judge({"log_id": "log-a", "log_epoch": 1}) is None
    assert follower.judge({"log_id": "log-b", "log_epoch": 1}) == "other_log"
    assert follower.judge({}) == "unmarked"

    # A new log (databases created anew): other persons at the same positions.
    api.set("log-b", 1, [event(i, f"B{i}", unit=2) for i in range(1, 4)])
    for reason in ("other_log", "other_log", "unverified"):
        follower.drop(reason)
    assert follower.catch_up() == 3
    assert insured(follower.store) == {"B1": 2, "B2": 2, "B3": 2}
    assert follower.store.followed() == ("log-b", 1) and follower.resets == 1 and follower.ready()
    assert 'example_consumer_messages_dropped_total{reason="other_log"} 2' in follower.metrics()


def test_a_new_epoch_keeps_what_it_shares_and_rebuilds_what_it_does_not(tmp_path):
    api = Api("log-a", 1, [event(i, f"A{i}") for i in range(1, 6)])
    follower = Follower(Store(str(tmp_path / "c.db")), api)
    follower.catch_up()
    # restored at 5 (nothing lost for this consumer): kept, the new events applied
    api.set("log-a", 2, [event(i, f"A{i}") for i in range(1, 6)] + [event(6, "C6")], forks=[[1, 0], [2, 5]])
    assert follower.judge({"log_id": "log-a", "log_epoch": 1}) is None  # until the API says otherwise
    assert follower.catch_up() == 1 and follower.resets == 0
    assert follower.judge({"log_id": "log-a", "log_epoch": 1}) == "old_epoch"
    # restored at 3: positions 4..6 are not shared: emptied, rebuilt
    api.set("log-a", 3, [event(i, f"A{i}") for i in range(1, 4)] + [event(4, "D4")],
            forks=[[1, 0], [2, 5], [3, 3]])
    assert follower.catch_up() == 4 and follower.resets == 1
    assert set(insured(follower.store)) == {"A1", "A2", "A3", "D4"}


def test_status_endpoints(tmp_path):
    api = Api("log-a", 1, [event(1, "A1")])
    follower = Follower(Store(str(tmp_path / "c.db")), api)
    server = serve_status(follower, 0)
    port = server.server_address[1]
    try:
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 503
        follower.catch_up()
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["log"] == ["log-a", 1]
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert "example_consumer_following_log 1" in text and "example_consumer_checkpoint 1" in text
    finally:
        server.shutdown()
