"""The roster queue's consumer and the apply lock (services/residents/
subscription.py): a message whose event this process committed already is
acknowledged without taking a worker; a long apply gives the lock up between
its transactions."""
from types import SimpleNamespace

import eventlet

from services.residents import subscription


def consumer_with(serial, acked, spawned, monkeypatch):
    consumer = subscription.RosterConsumer.__new__(subscription.RosterConsumer)
    consumer.serial = serial
    consumer.queue_consumer = SimpleNamespace(ack_message=acked.append)
    monkeypatch.setattr(subscription.Consumer, "handle_message",
                        lambda self, body, message: spawned.append(body.get("position")))
    return consumer


def test_a_message_already_applied_is_acknowledged_without_a_worker(monkeypatch):
    serial = subscription.Serial()
    acked, spawned = [], []
    consumer = consumer_with(serial, acked, spawned, monkeypatch)
    serial.intake.applied = 5  # a catch-up committed up to 5
    old = SimpleNamespace(headers={"log_head": 9})
    new = SimpleNamespace(headers={"log_head": 9})
    consumer.handle_message({"position": 4}, old)
    consumer.handle_message({"position": 6}, new)
    consumer.handle_message({"hello": "world"}, new)  # not an event: its worker says so
    assert acked == [old]
    assert spawned == [6, None]
    assert set(serial.intake.pending) == {6} and serial.intake.head == 9


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
