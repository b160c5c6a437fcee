"""Names shared by the publisher of the declaration log and its consumers:
the events exchange, the platform's own durable queues, and the message
headers the relay sets. Both the declarations relay and the residents
service import them from here, so neither service imports the other.

The exchange is the topic exchange Nameko's `@event_handler("declarations",
type)` binds to; every event is published with its type as routing key.
"""
from kombu import Exchange, Queue, binding
from nameko.constants import PERSISTENT

from common.events import EXCHANGE

EXCHANGE_NAME = EXCHANGE  # common/events.py: the contract's one spelling
# Every event type: a queue bound with "#" sees every position of the log,
# so its checkpoint moves on without gaps whatever types are added later.
ALL_TYPES = "#"

# The durable queues of the platform's own consumers, declared by the relay
# with every publish (once per connection), so nothing is published before
# they exist. They are single-active-consumer queues: of several instances
# of a consumer, one receives (in order) while the others stand by.
PLATFORM_QUEUES = {"residents": "evt-declarations--residents.roster"}
SINGLE_ACTIVE_CONSUMER = {"x-single-active-consumer": True}

# Headers of every published event message.
POSITION_HEADER = "position"  # the event's log position
EVENT_TYPE_HEADER = "event_type"
LOG_HEAD_HEADER = "log_head"  # the log's last position as the relay knew it
PUBLISHER_HEADER = "publisher"  # the relay instance (its lease holder id)
# The log's identity (common/log_identity.py): consumers drop a message of
# another log, or of an older epoch of theirs, and catch up from the log.
LOG_ID_HEADER = "log_id"
LOG_EPOCH_HEADER = "log_epoch"
# The trace context of the publish (W3C traceparent), when tracing is on.
TRACEPARENT_HEADER = "traceparent"


def event_exchange():
    """The exchange as Nameko declares it for the `declarations` service."""
    return Exchange(EXCHANGE_NAME, type="topic", durable=True, delivery_mode=PERSISTENT)


def subscriber_queue(name, routing_keys=(ALL_TYPES,), arguments=None):
    """A durable queue bound to `declarations.events` with `routing_keys`."""
    exchange = event_exchange()
    return Queue(
        name, durable=True, auto_delete=False, queue_arguments=arguments,
        bindings=[binding(exchange, routing_key=key) for key in routing_keys],
    )


def platform_queue(consumer):
    """The queue of one of the platform's own consumers, e.g. "residents"."""
    return subscriber_queue(PLATFORM_QUEUES[consumer], arguments=SINGLE_ACTIVE_CONSUMER)


# The audit trail (common/audit.py publishes, services/audit consumes):
# persistent messages on a durable direct exchange, routed to one durable
# queue, single-active-consumer because records are chained in the order
# the audit service takes them. Each message body is {"records": [...]};
# each record carries its own id, which the audit service stores once.
AUDIT_EXCHANGE_NAME = "audit"
AUDIT_QUEUE_NAME = "audit.records"
AUDIT_ROUTING_KEY = "record"


def audit_exchange():
    return Exchange(AUDIT_EXCHANGE_NAME, type="direct", durable=True, delivery_mode=PERSISTENT)


def audit_queue():
    return Queue(AUDIT_QUEUE_NAME, exchange=audit_exchange(), routing_key=AUDIT_ROUTING_KEY,
                 durable=True, auto_delete=False, queue_arguments=SINGLE_ACTIVE_CONSUMER)
