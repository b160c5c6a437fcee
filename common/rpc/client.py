"""The caller's side of the platform's RPC: `RpcClient`, one AMQP connection
and channel for one thread (the gateway keeps one per thread,
gateway/rpc.py), speaking Nameko's RPC protocol (common/rpc/protocol.py;
the one of `nameko.standalone.rpc.ClusterRpcProxy`, which it replaced) with
less work per call, for the caller and for the broker (which shares the
machine):

- one AMQP connection and channel for both the requests and the replies,
  instead of a kombu Connection, a pooled producer and a Publisher made
  for every call plus a second connection for the replies;
- replies consumed without acks (the reply queue is the client's own);
- requests transient and without publisher confirms (Nameko's are
  persistent and confirmed: the broker's fsync and ack cost it ~0.3 ms of
  CPU per call). A request is only worth running while its HTTP caller
  waits; a persistent one would run after a broker restart, long after the
  gateway answered 503. A request lost with its connection ends as a lost
  reply does: RpcTimeout, 503.

What a call does is otherwise Nameko's: the request is published mandatory,
so that an unknown service comes back (basic.return, before any reply could)
and is refused at once (UnknownService); the `nameko.*` context headers
carry the request id; the reply's error is deserialised into the class
registered by common/errors.py; the call gives up after the timeout
(RpcTimeout); a connection closed meanwhile (a broker restart) is noticed
before publishing and re-established.

`call_all` sends several calls at once and waits for all their replies
under one deadline (what the gateway's readiness check does with `ping`).
"""
import logging
import select
import sys
import time
import uuid

import amqp
from kombu import Connection
from kombu.exceptions import OperationalError

from common import tracing
from common.rpc import protocol
from common.rpc.protocol import RpcTimeout, UnknownService

log = logging.getLogger(__name__)

# kombu asks `import librabbitmq` each time a Connection is made: a failed
# import searches sys.path again every time. The C client is not used here;
# mark it absent once so that the import fails at once.
sys.modules.setdefault("librabbitmq", None)  # type: ignore[arg-type]  # None marks it absent


class RpcClient:
    """One thread's RPC client: `client.cluster.declarations.unit_summary(1)`.
    Not thread-safe."""

    def __init__(self, amqp_uri, timeout, serializer=protocol.SERIALIZER):
        self.amqp_uri, self.timeout, self.serializer = amqp_uri, timeout, serializer
        self.accept = protocol.accept(serializer)
        reply_id = str(uuid.uuid4())
        self.routing_key = reply_id
        self.queue = protocol.reply_queue(reply_id)
        # Nameko's standalone proxy sends its call id stack in the headers too
        self.call_id_stack = [protocol.new_call_id()]
        self.request_id = None
        self.replies = {}
        self.returned = set()
        self.connection = self.channel = None
        self.cluster = ClusterView(self)

    # connection
    def connect(self):
        connection = Connection(self.amqp_uri)
        try:
            connection.connect()
            channel = connection.channel()
            channel.events["basic_return"].add(self._on_return)
            channel.exchange_declare(protocol.EXCHANGE, "topic", durable=True, auto_delete=False)
            channel.queue_declare(self.queue, durable=False, auto_delete=False,
                                  arguments={"x-expires": protocol.REPLY_QUEUE_TTL})
            channel.queue_bind(self.queue, protocol.EXCHANGE, self.routing_key)
            channel.basic_consume(self.queue, no_ack=True, callback=self._on_reply)
        except BaseException:
            _close(connection)
            raise
        self.connection, self.channel = connection, channel

    def close(self):
        connection, self.connection, self.channel = self.connection, None, None
        self.replies.clear()
        self.returned.clear()
        if connection is not None:
            _close(connection)

    def _on_reply(self, message):
        self.replies[message.properties.get("correlation_id")] = message

    def _on_return(self, exc, exchange, routing_key, message):
        self.returned.add(message.properties.get("correlation_id"))

    # calls
    def call(self, service, method, args, kwargs):
        if tracing.enabled():  # a client span, whose context the request carries
            with tracing.span(f"{service}.{method}", scope="common.rpc.client", kind="client",
                              attributes={"rpc.system": "nameko", "rpc.service": service, "rpc.method": method}):
                return self._call(service, method, args, kwargs)
        return self._call(service, method, args, kwargs)

    def _call(self, service, method, args, kwargs):
        correlation_id = self.send(service, method, args, kwargs)
        self._wait([correlation_id], self._deadline(self.timeout), self.timeout)
        return self._outcome(service, correlation_id)

    def call_all(self, calls, timeout=None):
        """Send every call of `calls` ((service, method, args, kwargs) each)
        at once, then wait for their replies under one deadline (`timeout`,
        or the client's). Returns, in order, each call's result or the
        exception it ended with (UnknownService, RpcTimeout, the service's
        error, a transport error)."""
        timeout = self.timeout if timeout is None else timeout
        sent = []
        for i, (service, method, args, kwargs) in enumerate(calls):
            try:
                # the connection is checked before the first request only:
                # after it, replies may be due
                sent.append((service, self.send(service, method, args, kwargs, check=not i)))
            except Exception as exc:
                sent.append((service, exc))
        pending = [cid for _, cid in sent if isinstance(cid, str)]
        failure = None
        try:
            self._wait(pending, self._deadline(timeout), timeout, keep_replies=True)
        except Exception as exc:
            failure = exc
        outcomes = []
        for service, cid in sent:
            if not isinstance(cid, str):
                outcomes.append(cid)
                continue
            try:
                outcomes.append(self._outcome(service, cid, failure))
            except Exception as exc:
                outcomes.append(exc)
        if failure is not None:
            # as a single call does after a timeout or a lost connection:
            # start afresh next time
            self.close()
        return outcomes

    def send(self, service, method, args, kwargs, check=True):
        """Publish a request; returns its correlation id. The reply is
        waited for by `call` (or `call_all`). `check`: look at the
        connection first (see `_check_connection`), when no reply is due."""
        correlation_id = str(uuid.uuid4())
        content_type, content_encoding, body = protocol.encode_request(args, kwargs, self.serializer)
        message = amqp.Message(
            body, content_type=content_type, content_encoding=content_encoding,
            delivery_mode=protocol.NON_PERSISTENT, priority=protocol.PRIORITY,
            application_headers=tracing.inject(protocol.request_headers(self.call_id_stack, self.request_id),
                                               protocol.TRACEPARENT_HEADER),
            correlation_id=correlation_id, reply_to=self.routing_key)
        for attempt in range(2):
            try:
                if self.connection is None:
                    self.connect()
                elif check:
                    self._check_connection()
                self.channel.basic_publish(message, exchange=protocol.EXCHANGE,
                                           routing_key=protocol.routing_key(service, method),
                                           mandatory=True)
                return correlation_id
            except Exception as exc:
                # a closed connection (the broker restarted meanwhile): once
                # more on a new one, as Nameko's publisher retries
                self.close()
                if attempt or not _transport_error(exc):
                    raise _unavailable(exc) from exc
                log.info("RPC connection lost (%s); reconnecting", type(exc).__name__)
        raise AssertionError("unreachable")

    def _check_connection(self):
        """Between calls nothing is due from the broker: anything readable is
        the connection closing (a broker restart) or a stray frame. Read it
        so that a closed connection is replaced before the request is
        published rather than noticed as a missing reply."""
        if _readable(self.connection.connection.sock):
            try:
                self.connection.drain_events(timeout=0)
            except TimeoutError:
                pass
            self.replies.clear()

    @staticmethod
    def _deadline(timeout):
        return None if timeout is None else time.monotonic() + timeout

    def _wait(self, correlation_ids, deadline, timeout, keep_replies=False):
        """Read from the broker until each of `correlation_ids` has a reply
        or came back unroutable. Raises RpcTimeout at the deadline (having
        closed the connection, unless `keep_replies`: a read may have
        stopped inside a frame) and transport errors that one reconnection
        did not cure."""
        reconnected = False
        while not all(c in self.replies or c in self.returned for c in correlation_ids):
            remaining = None if deadline is None else deadline - time.monotonic()
            try:
                if remaining is not None and remaining <= 0:
                    raise TimeoutError()
                self.connection.drain_events(timeout=remaining)
            except TimeoutError:
                if not keep_replies:
                    self.close()
                raise RpcTimeout(timeout) from None
            except Exception as exc:
                # the reply queue outlives the connection (x-expires): consume
                # it again once on a new connection, as Nameko's proxy does
                kept = {c: self.replies[c] for c in correlation_ids if c in self.replies}
                returned = self.returned & set(correlation_ids)
                self.close()
                if reconnected or not _transport_error(exc):
                    raise _unavailable(exc) from exc
                reconnected = True
                try:
                    self.connect()
                except Exception as again:
                    raise _unavailable(again) from again
                self.replies.update(kept)
                self.returned |= returned

    def _outcome(self, service, correlation_id, failure=None):
        """The result of a call whose wait is over, or raise why not."""
        message = self.replies.pop(correlation_id, None)
        if message is None:
            if correlation_id in self.returned:
                # the mandatory request came back: nobody consumes that
                # service's requests
                self.returned.discard(correlation_id)
                raise UnknownService(service)
            raise failure
        props = message.properties
        return protocol.decode_reply(
            message.body, props.get("content_type"), props.get("content_encoding"), self.accept)


def _readable(sock):
    """Whether the socket has something to read, without waiting. poll, not
    select, where there is one: a busy gateway may hold descriptors above
    1024 (eventlet's green `select`, under the tests, has no poll)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])


def _transport_error(exc):
    return isinstance(exc, (OSError, amqp.exceptions.ConnectionError,
                            amqp.exceptions.RecoverableConnectionError, OperationalError))


def _unavailable(exc):
    """Transport failures as the gateway's error table knows them (503)."""
    if isinstance(exc, (OSError, OperationalError)):
        return exc
    return OperationalError(f"{type(exc).__name__}: {exc}")


def _close(connection):
    try:
        connection.close()
    except Exception:  # already broken
        log.debug("closing a broken RPC connection failed", exc_info=True)


class ClusterView:
    """`view.service.method(*args)` and `view["service"].method(*args)`."""

    def __init__(self, client):
        self._client = client
        self._services = {}

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        service = self._services.get(name)
        if service is None:
            service = self._services[name] = ServiceView(self._client, name)
        return service

    def __getitem__(self, name):
        return getattr(self, name)


class ServiceView:
    def __init__(self, client, name):
        self._client, self._name = client, name
        self._methods = {}

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        method = self._methods.get(name)
        if method is None:
            method = self._methods[name] = MethodCall(self._client, self._name, name)
        return method


class MethodCall:
    __slots__ = ("client", "service", "method")

    def __init__(self, client, service, method):
        self.client, self.service, self.method = client, service, method

    def __call__(self, *args, **kwargs):
        return self.client.call(self.service, self.method, args, kwargs)

    def __repr__(self):
        return f"<rpc method: {self.service}.{self.method}>"
