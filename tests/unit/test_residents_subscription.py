"""The roster queue's consumer and the apply lock (services/residents/
subscription.py): a message whose event this process committed already is
acknowledged without taking a worker; a long apply gives the lock up between
its transactions."""
from types import SimpleNamespace

import eventlet

from common.log_identity import Identity
from common.metrics import CONSUMER_DROPPED
from services.residents import subscription


def consumer_with(serial, acked, spawned, monkeypatch):
    consumer = subscription.RosterConsumer.__new__(subscription.RosterConsumer)
    consumer.serial = serial
    consumer.queue_consumer = SimpleNamespace(ack_message=acked.append)
    monkeypatch.setattr(subscription.Consumer, "handle_message",
                        lambda self, body, message: spawned.append(body.get("position")))
    return consumer


LOG = {"log_id": "log-a", "log_epoch": 3}


def test_a_message_already_applied_is_acknowledged_without_a_worker(monkeypatch):
    serial = subscription.Serial()
    serial.intake.identity = Identity("log-a", 3)
    acked, spawned = [], []
    consumer = consumer_with(serial, acked, spawned, monkeypatch)
    serial.intake.applied = 5  # a catch-up committed up to 5
    old = SimpleNamespace(headers={"log_head": 9, **LOG})
    new = SimpleNamespace(headers={"log_head": 9, **LOG})
    consumer.handle_message({"position": 4}, old)
    consumer.handle_message({"position": 6}, new)
    consumer.handle_message({"hello": "world"}, new)  # not an event: its worker says so
    assert acked == [old]
    assert spawned == [6, None]
    assert set(serial.intake.pending) == {6} and serial.intake.head == 9


def dropped(reason):
    return CONSUMER_DROPPED.labels("residents", reason)._value.get()


def test_messages_of_another_log_or_epoch_are_dropped_counted_and_never_applied(monkeypatch):
    serial = subscription.Serial()
    serial.intake.identity = Identity("log-a", 3)
    acked, spawned = [], []
    consumer = consumer_with(serial, acked, spawned, monkeypatch)
    before = {r: dropped(r) for r in ("other_log", "old_epoch", "new_epoch", "unmarked")}
    messages = {
        "other_log": SimpleNamespace(headers={"log_head": 900, "log_id": "log-b", "log_epoch": 3}),
        "old_epoch": SimpleNamespace(headers={"log_head": 900, "log_id": "log-a", "log_epoch": 2}),
        "new_epoch": SimpleNamespace(headers={"log_head": 900, "log_id": "log-a", "log_epoch": 4}),
        "unmarked": SimpleNamespace(headers={"log_head": 900}),
    }
    for message in messages.values():
        consumer.handle_message({"position": 1}, message)
    assert acked == list(messages.values()) and spawned == []
    assert serial.intake.pending == {} and serial.intake.head == 0  # their log heads were not believed
    assert {r: dropped(r) - before[r] for r in before} == dict.fromkeys(before, 1)


def test_before_it_knows_its_log_residents_asks_its_database_once(monkeypatch):
    serial = subscription.Serial()
    acked, spawned = [], []
    consumer = consumer_with(serial, acked, spawned, monkeypatch)
    asked = []
    monkeypatch.setattr(subscription.RosterConsumer, "_followed", lambda self: asked.append(1) or ("log-a", 3))
    consumer.handle_message({"position": 1}, SimpleNamespace(headers={"log_head": 1, **LOG}))
    consumer.handle_message({"position": 2}, SimpleNamespace(headers={"log_head": 2, **LOG}))
    assert spawned == [1, 2] and asked == [1] and serial.intake.identity == Identity("log-a", 3)


def test_a_message_it_cannot_judge_yet_goes_to_a_worker_that_learns_the_log(monkeypatch):
    serial = subscription.Serial()
    acked, spawned = [], []
    consumer = consumer_with(serial, acked, spawned, monkeypatch)
    monkeypatch.setattr(subscription.RosterConsumer, "_followed", lambda self: None)  # a fresh roster
    body = {"position": 1}
    consumer.handle_message(body, SimpleNamespace(headers={"log_head": 7, **LOG}))
    assert spawned == [1] and acked == []
    assert body[subscription.UNVERIFIED_KEY] == ("log-a", 3, 7)
    serial.intake.offer(body)  # what the worker does first: not offered before it is judged
    assert serial.intake.pending == {}


def test_a_pause_lets_the_waiting_appliers_through_and_returns_with_the_lock():
    serial = subscription.Serial()
    order = []

    def waiting():
        with serial.lock:
            order.append("other applier")

    with serial.lock:
        eventlet.spawn(waiting)
        eventlet.sleep(0)  # it waits for the lock now
        order.append("before pause")
        serial.pause()
        order.append("after pause")
        assert serial.lock.locked()
    assert order == ["before pause", "other applier", "after pause"]
    assert not serial.lock.locked()
